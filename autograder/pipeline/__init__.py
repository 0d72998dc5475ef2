"""The instructor pipeline: plain functions over nbgrader's API, one module per stage.

release -> (students submit) -> collect / zip_collect -> grade_class -> generate_feedback ->
export_grades. The CLI and the tests call these same functions. They are imported on first use
(``__getattr__``), so a module of this package (``gradescope_run``, in a cold process per
submission) does not load nbgrader and the grader with it.
"""
import importlib

_HOMES = {
    "CourseRoot": "course", "release": "exchange", "collect": "exchange", "zip_collect": "exchange",
    "submit_as": "exchange", "import_students": "gradebook", "add_students": "gradebook",
    "export_grades": "gradebook", "generate_feedback": "gradebook", "grade_class": "grading",
    "summary_table": "grading", "ClassSummary": "grading", "Outcome": "grading",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
