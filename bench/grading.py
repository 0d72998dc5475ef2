"""Benchmark: grading a class with the sandboxed grader vs plain ``nbgrader autograde``.

Both run in the same invocation, on the same honest students of the demo class, in a temporary
copy of the course, through the same ``nbgrader autograde`` command — once with nbgrader's own
``Execute`` step (``AUTOGRADER_GRADER=plain``: hidden cells run in the student's kernel) and
once with ``SandboxedGrading``. The machines are shared and noisy, so the runs alternate and
the figures that matter are the ratios. Also checks that both give the same scores.

    .venv/bin/python bench/grading.py [--students 6] [--rounds 2] [--max-examples 50]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.demo import student_notebook  # noqa: E402
from autograder.demo_class import CLASS  # noqa: E402

HONEST = [s for s in CLASS if s.raw is None and "loop" not in s.story and "cheat" not in s.story]


def make_course(where: Path, students: int) -> list[str]:
    for name in ("source", "release", "assignments", "autograder", "nbgrader_config.py"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, where / name)
    released = nbformat.read(ROOT / "release/loss_functions/loss_functions.ipynb", as_version=4)
    ids = []
    for student in HONEST[:students]:
        folder = where / "submitted" / student.id / "loss_functions"
        folder.mkdir(parents=True)
        (folder / "loss_functions.ipynb").write_text(student_notebook(student, released))
        ids.append(student.id)
    return ids


def autograde(course: Path, mode: str, max_examples: int) -> float:
    """Seconds for one ``nbgrader autograde`` of the whole class in ``mode``."""
    shutil.rmtree(course / "autograded", ignore_errors=True)
    (course / "gradebook.db").unlink(missing_ok=True)
    env = {**os.environ, "AUTOGRADER_GRADER": mode, "AUTOGRADER_MAX_EXAMPLES": str(max_examples),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", "loss_functions", "--force"], cwd=course, env=env,
                   check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([*nbgrader, "autograde", "loss_functions", "--force",
                    f"--SandboxedGrading.max_examples={max_examples}"],
                   cwd=course, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def scores(course: Path, students: list[str]) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: gb.find_submission("loss_functions", s).score for s in students}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-examples", type=int, default=50)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"plain": [], "sandboxed": []}
    found: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        students = make_course(course, args.students)
        for _ in range(args.rounds):
            for mode in times:  # alternate, so drift in machine load hits both
                times[mode].append(autograde(course, mode, args.max_examples))
                found[mode] = scores(course, students)
    n = len(students)
    plain, sandboxed = (statistics.median(times[m]) for m in ("plain", "sandboxed"))
    print(f"{n} students, {args.max_examples} examples per property, {args.rounds} rounds (median)")
    print(f"plain nbgrader autograde : {plain:7.1f} s  ({plain / n:5.2f} s per student)")
    print(f"sandboxed grader         : {sandboxed:7.1f} s  ({sandboxed / n:5.2f} s per student)")
    print(f"ratio sandboxed / plain  : {sandboxed / plain:7.2f}")
    same = found["plain"] == found["sandboxed"]
    print(f"same scores              : {'yes' if same else 'NO'}")
    if not same:
        for s in students:
            print(f"  {s:<8} plain {found['plain'][s]:5g}  sandboxed {found['sandboxed'][s]:5g}")


if __name__ == "__main__":
    main()
