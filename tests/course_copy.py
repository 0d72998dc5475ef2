"""A throwaway copy of the course root, so tests never touch the repository's own gradebook."""
from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COURSE_PARTS = ("source", "release", "nbgrader_config.py", "assignments", "autograder")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")


def copy_course(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in COURSE_PARTS:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORE)
        else:
            shutil.copy2(src, dest / name)
    return dest


def course_with_students(dest: Path, students: tuple[str, ...]):
    """A released course copy in which the named demo students have submitted."""
    import nbformat

    from autograder.demo import student_notebook
    from autograder.demo_class import CLASS
    from autograder.pipeline import CourseRoot, release

    course = CourseRoot(copy_course(dest))
    release(course, "loss_functions")
    released = nbformat.read(course.release("loss_functions") / "loss_functions.ipynb", as_version=4)
    for student in CLASS:
        if student.id in students:
            folder = course.submitted(student.id, "loss_functions")
            folder.mkdir(parents=True)
            (folder / "loss_functions.ipynb").write_text(student_notebook(student, released))
    return course
