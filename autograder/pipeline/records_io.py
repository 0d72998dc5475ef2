"""Where the pipeline meets the trusted grader's per-submission record (``results.json``).

The record format belongs to ``autograder.reports.records``; this module only knows where the
file lives in the course. If that module is absent, nothing is written and ``load`` answers
``None``, so plain nbgrader grading still works and is summarised from the gradebook.
"""
from __future__ import annotations

try:
    from autograder.reports import records
except ModuleNotFoundError as exc:  # only "not written yet", never an error inside it
    if exc.name not in ("autograder.reports", "autograder.reports.records"):
        raise
    records = None

from autograder.judge.results import SubmissionResult
from autograder.pipeline.course import CourseRoot


def available() -> bool:
    return records is not None


def save(course: CourseRoot, result: SubmissionResult) -> bool:
    """Write ``result`` to ``autograded/<student>/<assignment>/results.json``."""
    if records is None:
        return False
    path = course.results_json(result.student, result.assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    records.save_result(result, path)
    return True


def load(course: CourseRoot, student: str, assignment: str) -> SubmissionResult | None:
    path = course.results_json(student, assignment)
    if records is None or not path.is_file():
        return None
    return records.load_result(path)
