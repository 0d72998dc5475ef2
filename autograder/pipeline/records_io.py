"""The pipeline's side of the trusted per-submission records (``grading/<assignment>/*.json``).

The grading preprocessor writes a record for every notebook nbgrader could read; the pipeline
writes the rest (notebooks nbgrader itself failed on) in the same format, so that feedback and
the class report have a row for every submission. Under plain nbgrader (no preprocessor) there
are no records and the summary comes from the gradebook.
"""
from __future__ import annotations

from pathlib import Path

from nbgrader.api import MissingEntry

from autograder.errors import AuthoringError
from autograder.judge.results import SubmissionResult
from autograder.judge.test_cells import has_properties
from autograder.pipeline import deadlines, regrade
from autograder.pipeline.course import CourseRoot
from autograder.reports import html_report, records


def save(course: CourseRoot, result: SubmissionResult) -> Path:
    return records.save_result(result, course.record(result.student, result.assignment))


def forget(course: CourseRoot, student: str, assignment: str) -> None:
    """Drop an old record before regrading, so a stale score can never be reported."""
    course.record(student, assignment).unlink(missing_ok=True)


def load(course: CourseRoot, student: str, assignment: str) -> SubmissionResult | None:
    path = course.record(student, assignment)
    if not path.is_file():
        return None
    return records.load_result(path)


def load_class(course: CourseRoot, assignment: str) -> list[SubmissionResult]:
    """Every recorded submission of ``assignment``, by student id."""
    results = [load(course, s, assignment) for s in course.recorded_students(assignment)]
    return [r for r in results if r is not None]


def write_class_report(course: CourseRoot, assignment: str, out: Path | None = None) -> Path:
    """The staff HTML report over every record (scores, parts, mistakes, flags, ungradable)."""
    results = load_class(course, assignment)
    if not results:
        raise AuthoringError(
            f"no grading records for {assignment} in {records.records_dir(course.root, assignment)}: "
            f"run `python -m autograder grade {assignment}` first")
    out = Path(out) if out else course.root / "reports" / f"{assignment}.html"
    return html_report.write_report(results, out, assignment=assignment,
                                    sandboxed=all(r.sandboxed for r in results),
                                    test_cells=not has_properties(course.root, assignment),
                                    manual_pending=manual_pending(course, assignment),
                                    last_regrade=regrade.last_regrade(course.root, assignment),
                                    deadline=deadlines.deadline_summary(course.db_url(), assignment,
                                                                        deadlines.course_timezone(course)),
                                    timestamp_flags=timestamp_flags(course, assignment))


def timestamp_flags(course: CourseRoot, assignment: str) -> list[tuple[str, str, str]] | None:
    """(student, submission, why) of each timestamp.txt the grading service flagged; None when the
    service never ran for this course (no state file)."""
    from autograder.service import config
    from autograder.service.store import Store

    state = config.state_path(course, config.load(course))
    if not state.is_file():
        return None
    store = Store(state, readonly=True)
    try:
        return store.flags(assignment)
    finally:
        store.close()


def manual_pending(course: CourseRoot, assignment: str) -> dict[str, list[str]]:
    """Grade ids a TA still has to score, by student, as the gradebook has them now.

    The records cannot know: they always list the manual parts, and TAs score those later in
    formgrader. A grade is pending while nbgrader says it needs a manual grade and nobody has
    set one (an untouched answer is auto-scored 0 by nbgrader and is not pending).
    """
    with course.gradebook() as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return {}
        pending = {sub.student_id: sorted(g.name for nb in sub.notebooks for g in nb.grades
                                          if g.needs_manual_grade and g.manual_score is None)
                   for sub in submissions}
    return {student: ids for student, ids in sorted(pending.items()) if ids}
