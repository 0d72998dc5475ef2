"""``python -m autograder demo``: a whole class, end to end, through nbgrader's own steps.

Release -> every student of ``demo_class.CLASS`` submits through the filesystem exchange under
their own id -> collect -> autograde into ``gradebook.db`` -> feedback -> ``grades.csv`` ->
staff report -> a score table. Re-running starts over, but only on state the demo made itself
(marked by ``demo-output/DEMO``): it never deletes an instructor's real gradebook.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import shutil
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nbformat

from autograder.demo_class import CLASS, DemoStudent
from autograder.errors import AuthoringError
from autograder.pipeline import (
    CourseRoot, collect, export_grades, generate_feedback, grade_class, import_students, release,
    submit_as, summary_table)
from autograder.pipeline.grading import ClassSummary
from autograder.pipeline.pool import default_jobs, start_forkserver
from autograder.pipeline.records_io import load_class, write_class_report

ASSIGNMENT = "loss_functions"
MARKER = "demo-output/DEMO"
# Shorter than the course defaults so the whole class grades in a few minutes on a laptop.
DEMO_LIMITS = {"max_examples": 25, "cell_timeout": 20.0, "call_timeout": 5.0}
SHOWCASE = "dev"  # whose feedback page the closing lines point to: a typical mistake, diagnosed
STATE = ("submitted", "autograded", "feedback", "grading", "reports", "demo-output")


def run_demo(course: CourseRoot, sandbox: bool = True, progress: bool = True,
             students: tuple[DemoStudent, ...] = CLASS, limits: dict | None = None,
             jobs: int | None = None, verbose: bool = False) -> dict:
    """Run the demo in ``course``; returns the paths it wrote and the class summary.

    ``limits`` replaces ``DEMO_LIMITS`` (``SandboxedGrading`` traits), e.g. for a quicker test.
    Prints one line per stage (the grading stage as a progress bar) and, unless ``verbose``, none
    of the libraries' log lines and warnings.
    """
    started = time.monotonic()
    with _library_output(verbose):
        out = _stages(course, sandbox, progress, students, limits, jobs)
    stories = {s.id: s.story for s in students}
    print()
    print(summary_table(out["summary"]))
    print("\nwhat each student did:")
    print("\n".join(f"  {s.id:<6} {stories[s.id]}" for s in students))
    print(f"\ndone in {time.monotonic() - started:.0f} s. Open first:")
    print(open_first(course, out))
    return out


def _stages(course: CourseRoot, sandbox: bool, progress: bool, students: tuple[DemoStudent, ...],
            limits: dict | None, jobs: int | None) -> dict:
    stage = _Stage()
    reset(course)
    if (jobs or default_jobs()) > 1:
        start_forkserver()  # the grading workers' imports overlap the steps before grading
    release(course, ASSIGNMENT)
    stage.done("release", f"{ASSIGNMENT}: student version in release/, published to the exchange")
    roster = write_roster(course.root / "demo-output" / "roster.csv", students)
    imported = import_students(course, roster)
    stage.done("roster", f"{len(imported)} students imported from {_rel(course, roster)}")
    notebook = nbformat.read(next(course.release(ASSIGNMENT).glob("*.ipynb")), as_version=4)
    for student in students:
        submit_demo_student(course, student, notebook)
    stage.done("submit", f"{len(students)} students submitted through the exchange, each as themselves")
    collected = collect(course, ASSIGNMENT)
    stage.done("collect", f"{len(collected)} submissions into submitted/")
    feedback: list[Path] = []
    summary = grade_class(course, ASSIGNMENT, students=grading_order(students), sandbox=sandbox,
                          progress=progress, limits=DEMO_LIMITS if limits is None else limits, jobs=jobs,
                          on_written=lambda s: feedback.extend(generate_feedback(course, ASSIGNMENT, [s])))
    summary = in_class_order(summary, students)
    stage.done("grade", f"{len(summary.outcomes)} submissions into gradebook.db, records in grading/",
               quiet=progress)
    stage.done("feedback", f"{len(feedback)} files under feedback/, written as each student was graded")
    grades = export_grades(course, ASSIGNMENT, course.root / "grades.csv")
    stage.done("export", _rel(course, grades))
    report = write_class_report(course, ASSIGNMENT) if load_class(course, ASSIGNMENT) else None
    stage.done("report", _rel(course, report) if report else "no records: no report")
    return {"summary": summary, "grades": grades, "feedback": feedback, "report": report}


class _Stage:
    """One line per finished stage: its name, what it made, how long it took."""

    def __init__(self) -> None:
        self._since = time.monotonic()

    def done(self, name: str, what: str, quiet: bool = False) -> None:
        now = time.monotonic()
        if not quiet:  # a stage that showed a progress bar has said it already
            print(f"{name:<9} {what} ({now - self._since:.1f} s)")
        self._since = now


@contextmanager
def _library_output(verbose: bool) -> Iterator[None]:
    """Without ``verbose``: no log record below WARNING (nbgrader's INFO lines, one per student
    imported) and no Python warnings (nbformat's, SQLAlchemy's) from this process."""
    if verbose:
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def grading_order(students: tuple[DemoStudent, ...]) -> list[str]:
    """Slow students first: their waits on time limits overlap the rest of the class."""
    return [s.id for s in sorted(students, key=lambda s: not s.slow)]


def in_class_order(summary: ClassSummary, students: tuple[DemoStudent, ...]) -> ClassSummary:
    place = {s.id: i for i, s in enumerate(students)}
    return dataclasses.replace(summary, outcomes=tuple(sorted(summary.outcomes, key=lambda o: place[o.student])))


def open_first(course: CourseRoot, out: dict) -> str:
    """The closing lines: which files to open first, and why."""
    outcomes = {o.student: o for o in out["summary"].outcomes}
    worked = SHOWCASE if SHOWCASE in outcomes else next(
        (o.student for o in outcomes.values() if o.status == "graded"), None)
    rows = []
    if out["report"]:
        rows.append((_rel(course, out["report"]), "the staff report: scores, pass rate per part, "
                                                   "frequent mistakes, integrity flags"))
    if worked:
        page = course.feedback(worked, ASSIGNMENT) / "feedback.html"
        rows.append((_rel(course, page), f"what a student reads: {worked}'s likely mistakes, "
                                         "examples to check by hand"))
    rows.append((_rel(course, out["grades"]), "one row per student, for the LMS"))
    rows.append(("autograder/demo_class.py", "what each made-up student wrote"))
    width = max(len(path) for path, _ in rows)
    return "\n".join(f"  {path:<{width}}  {why}" for path, why in rows)


def _rel(course: CourseRoot, path: Path) -> str:
    try:
        return str(Path(path).relative_to(course.root))
    except ValueError:
        return str(path)


def reset(course: CourseRoot) -> None:
    """Remove what a previous demo run made; refuse if the gradebook is not the demo's."""
    gradebook = course.root / "gradebook.db"
    if gradebook.exists() and not (course.root / MARKER).exists():
        raise AuthoringError(
            f"{gradebook} exists and was not made by the demo; the demo starts from an empty "
            "gradebook, so run it in a fresh checkout (or move that gradebook away)")
    gradebook.unlink(missing_ok=True)
    for name in STATE:
        shutil.rmtree(course.root / name, ignore_errors=True)
    shutil.rmtree(course.exchange_root() / course.course_id(), ignore_errors=True)
    (course.root / MARKER).parent.mkdir(parents=True)
    (course.root / MARKER).write_text("state under this course root was made by the demo\n")


def write_roster(path: Path, students: tuple[DemoStudent, ...]) -> Path:
    """The CSV an instructor would export from the LMS (``id`` plus names)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email"])
        for s in students:
            writer.writerow([s.id, s.first_name, s.last_name, f"{s.id}@example.edu"])
    return path


def student_notebook(student: DemoStudent, released: nbformat.NotebookNode) -> str:
    """The student's notebook file as text: the released one with their cells in it."""
    if student.raw is not None:
        return student.raw
    nb = nbformat.from_dict(released)  # a deep copy
    kept = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in student.delete:
            continue
        if grade_id in student.cells:
            cell.source = student.cells[grade_id]
        kept.append(cell)
    nb.cells = kept
    return nbformat.writes(nb)


def submit_demo_student(course: CourseRoot, student: DemoStudent,
                        released: nbformat.NotebookNode) -> None:
    """Write the student's copy of the assignment and submit it as them."""
    home = course.root / "demo-output" / "students" / student.id
    folder = home / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_text(student_notebook(student, released))
    submit_as(course, ASSIGNMENT, student.id, home, cache=home / ".nbgrader_cache")
