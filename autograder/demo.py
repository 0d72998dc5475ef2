"""``python -m autograder demo``: a whole class, end to end, through nbgrader's own steps.

Release -> every student of ``demo_class.CLASS`` submits through the filesystem exchange under
their own id -> collect -> autograde into ``gradebook.db`` -> feedback -> ``grades.csv`` ->
staff report -> a score table. Re-running starts over, but only on state the demo made itself
(marked by ``demo-output/DEMO``): it never deletes an instructor's real gradebook.
"""
from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import nbformat
from tqdm import tqdm

from autograder.demo_class import CLASS, DemoStudent
from autograder.errors import AuthoringError
from autograder.pipeline import (
    CourseRoot, collect, export_grades, generate_feedback, grade_class, import_students, release,
    submit_as, summary_table)
from autograder.pipeline.records_io import load_class, write_class_report

ASSIGNMENT = "loss_functions"
MARKER = "demo-output/DEMO"
# Shorter than the course defaults so the whole class grades in a few minutes on a laptop.
DEMO_LIMITS = {"max_examples": 25, "cell_timeout": 20.0, "call_timeout": 5.0}
STATE = ("submitted", "autograded", "feedback", "grading", "reports", "demo-output")


def run_demo(course: CourseRoot, sandbox: bool = True, progress: bool = True,
             students: tuple[DemoStudent, ...] = CLASS, limits: dict | None = None,
             jobs: int | None = None) -> dict:
    """Run the demo in ``course``; returns the paths it wrote and the class summary.

    ``limits`` replaces ``DEMO_LIMITS`` (``SandboxedGrading`` traits), e.g. for a quicker test.
    """
    started = time.monotonic()
    reset(course)
    release(course, ASSIGNMENT)
    roster = write_roster(course.root / "demo-output" / "roster.csv", students)
    import_students(course, roster)
    notebook = nbformat.read(next(course.release(ASSIGNMENT).glob("*.ipynb")), as_version=4)
    for student in tqdm(students, desc="students submit", unit="student", disable=not progress):
        submit_demo_student(course, student, notebook)
    collect(course, ASSIGNMENT)
    summary = grade_class(course, ASSIGNMENT, sandbox=sandbox, progress=progress,
                          limits=DEMO_LIMITS if limits is None else limits, jobs=jobs)
    feedback = generate_feedback(course, ASSIGNMENT)
    grades = export_grades(course, ASSIGNMENT, course.root / "grades.csv")
    report = write_class_report(course, ASSIGNMENT) if load_class(course, ASSIGNMENT) else None
    stories = {s.id: s.story for s in students}
    print(summary_table(summary))
    print("\nwhat each student did:")
    print("\n".join(f"  {s.id:<6} {stories[s.id]}" for s in students))
    print(f"\ngradebook {course.root / 'gradebook.db'}\ngrades    {grades}\n"
          f"feedback  {len(feedback)} files under {course.root / 'feedback'}"
          + (f"\nreport    {report}" if report else "")
          + f"\ndone in {time.monotonic() - started:.0f} s")
    return {"summary": summary, "grades": grades, "feedback": feedback, "report": report}


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
