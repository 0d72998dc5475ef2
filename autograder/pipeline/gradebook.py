"""The gradebook's ends: the roster in (``db student import``), feedback and grades out."""
from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.apps.dbapp import DbStudentImportApp
from nbgrader.plugins.export import CsvExportPlugin
from nbgrader.utils import capture_log

from autograder.errors import AuthoringError
from autograder.pipeline import deadlines, records_io
from autograder.pipeline.course import CourseRoot, check
from autograder.reports import feedback_html, feedback_text
from autograder.staff_pages import csp

FEEDBACK_TEXT = "feedback.txt"
FEEDBACK_PAGE = "feedback.html"  # ours; nbgrader's page is named after the notebook


def import_students(course: CourseRoot, roster: Path) -> list[str]:
    """Add or update students from a CSV with an ``id`` column (nbgrader's own importer).

    Optional columns: ``first_name``, ``last_name``, ``email``, ``lms_user_id``.
    """
    roster = Path(roster)
    if not roster.is_file():
        raise AuthoringError(f"roster {roster} does not exist")
    with roster.open(newline="") as fh:
        header = [h.strip() for h in next(csv.reader(fh), [])]
    if "id" not in header:
        raise AuthoringError(
            f"roster {roster} has columns {header or 'none'}; it needs an 'id' column "
            "(optional: first_name, last_name, email, lms_user_id)")
    api = course.api()
    app = DbStudentImportApp(coursedir=api.coursedir, parent=api)
    app.extra_args = [str(roster)]
    check(capture_log(app), f"student import from {roster}")
    return deadlines.roster(course.db_url())


def add_students(course: CourseRoot, students: list[dict]) -> None:
    """Add students given as dicts (``id`` plus optional names), as the importer would."""
    with course.gradebook() as gb:
        for row in students:
            row = dict(row)
            gb.update_or_create_student(row.pop("id"), **row)


def generate_feedback(course: CourseRoot, assignment: str, students: list[str] | None = None) -> list[Path]:
    """Write three files per student in ``feedback/<student>/<assignment>/``.

    nbgrader's HTML (``<notebook>.html``, for ``release_feedback`` and formgrader), then, for
    every student with a trusted record (including those whose notebook could not be graded,
    who get the reason): ``feedback.txt`` and our self-contained ``feedback.html``, which puts
    the TA's comments and manual scores from the gradebook beside the autograded parts.
    ``students`` limits it to those (each one's files are the same either way).
    """
    autograded = _autograded_students(course, assignment)
    if students is None and autograded:
        check(course.api().generate_feedback(assignment), f"generate_feedback {assignment}")
    elif students:
        api = course.api()
        for student in sorted(set(students) & set(autograded)):
            check(api.generate_feedback(assignment, student), f"generate_feedback {assignment} for {student}")
    db_url = course.db_url()
    written = []
    everyone = set(autograded) | set(course.recorded_students(assignment))
    for student in sorted(everyone if students is None else everyone & set(students)):
        folder = course.feedback(student, assignment)
        written.extend(_police_nbgrader_pages(course, student, assignment))
        record = records_io.load(course, student, assignment)
        if record is not None:
            folder.mkdir(parents=True, exist_ok=True)
            late = deadlines.late_line(db_url, assignment, student)
            ta = feedback_html.ta_grades_from_gradebook(db_url, assignment, student)
            (folder / FEEDBACK_TEXT).write_text(feedback_text.render_submission(record, late, ta))
            written.append(folder / FEEDBACK_TEXT)
            written.append(feedback_html.write_feedback_page(
                record, folder / FEEDBACK_PAGE, ta_comments=ta.comments, manual_scores=ta.scores,
                late=late, unanswered=ta.unanswered))
    return written


def export_grades(course: CourseRoot, assignment: str | None = None,
                  to: Path | None = None) -> Path:
    """Write nbgrader's CSV export (one row per student per assignment); Canvas's is ``lms_export``."""
    dest = Path(to) if to else course.root / "grades.csv"
    cfg = course.config()
    plugin = CsvExportPlugin(config=cfg, to=str(dest),
                             assignment=[assignment] if assignment else [])
    with course.gradebook(cfg) as gb:
        if assignment:
            require_assignment(gb, assignment)
        plugin.export(gb)
    return dest


def require_assignment(gb, assignment: str):
    """The gradebook's record of ``assignment``, or an error saying what to do first (every export)."""
    if assignment not in {a.name for a in gb.assignments}:
        raise AuthoringError(f"assignment {assignment!r} is not in the gradebook: release and grade it first")
    return gb.find_assignment(assignment)


def _police_nbgrader_pages(course: CourseRoot, student: str, assignment: str) -> list[Path]:
    """nbgrader's page of each graded notebook, with a Content-Security-Policy of its own.

    Only those: other ``.html`` files in the folder are the student's own, copied back by nbgrader.
    """
    graded = course.root / "autograded" / student / assignment
    pages = [course.feedback(student, assignment) / f"{nb.stem}.html" for nb in sorted(graded.glob("*.ipynb"))]
    for page in (p for p in pages if p.is_file()):
        text = page.read_text(encoding="utf-8")
        if 'http-equiv="Content-Security-Policy"' not in text:
            page.write_text(csp.with_meta_policy(text), encoding="utf-8")
    return [p for p in pages if p.is_file()]


def _autograded_students(course: CourseRoot, assignment: str) -> list[str]:
    base = course.root / "autograded"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())
