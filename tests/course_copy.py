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
