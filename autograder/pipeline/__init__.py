"""The instructor pipeline: plain functions over nbgrader's API, one module per stage.

release -> (students submit) -> collect / zip_collect -> grade_class -> generate_feedback ->
export_grades. The CLI and the tests call these same functions.
"""
from autograder.pipeline.course import CourseRoot
from autograder.pipeline.exchange import collect, release, submit_as, zip_collect
from autograder.pipeline.gradebook import (
    add_students, export_grades, generate_feedback, import_students)
from autograder.pipeline.grading import ClassSummary, Outcome, grade_class, summary_table

__all__ = [
    "CourseRoot", "release", "collect", "zip_collect", "submit_as", "import_students",
    "add_students", "grade_class", "generate_feedback", "export_grades", "summary_table",
    "ClassSummary", "Outcome",
]
