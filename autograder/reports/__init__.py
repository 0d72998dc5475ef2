"""Writers over the one result model: JSON records, student feedback (text, HTML, Gradescope)
and the course-staff report. Each writer reads ``autograder.judge.results`` and nothing else,
so a format can change without touching grading.
"""
