"""Benchmark: an ordinary nbgrader assignment graded by ``python -m autograder grade --jobs J`` vs stock nbgrader.

The assignment is nbgrader's own user-guide ``ps1`` (notebooks ``problem1`` and ``problem2``,
released with its header), shipped inside the installed ``nbgrader`` package, added to a copy
of this course as an instructor would (no ``parts.py``: ``autograder/judge/test_cells.py``
grades it). The class is ``--students`` submissions ``s000``, ``s001``, ... cycling the user
guide's two submitted folders (``bitdiddle``, 1.5/3, and ``hacker``, 3/3). Stock nbgrader
(``AUTOGRADER_GRADER=plain nbgrader autograde ps1``: its own ``Execute`` step, one kernel per
notebook) grades the first ``--baseline`` of them; our grader grades the whole class. Both are
timed cold, as one command each with all start-up included, in the same run on the same
machine. Every submission's score must equal stock nbgrader's for the same submitted notebooks,
or the script fails. Peak memory is the summed PSS of the command's whole process tree
(``bench/grading.py``'s sampler, 10 Hz). The machines are shared and noisy: read the ratios.

    .venv/bin/python bench/ordinary.py [--students 40] [--baseline 10] [--jobs 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbgrader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.grading import scores, timed  # noqa: E402
from tests.course_copy import copy_course  # noqa: E402

ASSIGNMENT = "ps1"
USER_GUIDE = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"
SUBMITTED = ("bitdiddle", "hacker")
MIB = 1 << 20


def make_course(where: Path, students: int) -> dict[str, str]:
    """A course copy with ps1 released and ``students`` submissions; returns id -> user-guide student."""
    course = copy_course(where)
    shutil.copytree(USER_GUIDE / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    shutil.copy(USER_GUIDE / "source" / "header.ipynb", course / "source" / "header.ipynb")
    copies = {}
    for i in range(students):
        original = SUBMITTED[i % len(SUBMITTED)]
        sid = f"s{i:03d}"
        shutil.copytree(USER_GUIDE / "submitted" / original / ASSIGNMENT, course / "submitted" / sid / ASSIGNMENT)
        copies[sid] = original
    return copies


def environment(cache: Path) -> dict[str, str]:
    env = {**os.environ, "AUTOGRADER_CACHE_DIR": str(cache), "AUTOGRADER_GRADER": "sandboxed",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # nbgrader runs alembic
    env.pop("AUTOGRADER_SCHEDULER", None)  # grade on this machine
    return env


def release(course: Path, env: dict[str, str]) -> None:
    """``generate_assignment`` as the yardstick test does; the gradebook learns ps1, as at release."""
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT,
                    "--IncludeHeaderFooter.header=source/header.ipynb"],
                   cwd=course, env=env, check=True, capture_output=True)


def row(name: str, count: int, seconds: float, memory: list[int], stock_per: float) -> str:
    per = seconds / count
    return (f"{name:<26} {count:5d} {seconds:9.1f} {per:10.2f} {60 / per:9.1f} "
            f"{stock_per / per:7.2f}x {max(memory, default=0) / MIB:9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40, help="class size for our grader")
    parser.add_argument("--baseline", type=int, default=10, help="first students of the class stock nbgrader grades")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.students < 1 or args.baseline < min(2, args.students):
        parser.error("need a class and a baseline that holds both user-guide students (--baseline >= 2)")
    python = [sys.executable]
    with tempfile.TemporaryDirectory() as tmp:
        stock_dir, ours_dir, cache = Path(tmp, "stock"), Path(tmp, "ours"), Path(tmp, "cache")
        copies = make_course(ours_dir, args.students)
        baseline = make_course(stock_dir, min(args.baseline, args.students))
        env = environment(cache)
        for course in (stock_dir, ours_dir):
            release(course, env)
        stock_s, stock_mem = timed([*python, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                                   stock_dir, {**env, "AUTOGRADER_GRADER": "plain"})
        ours_s, ours_mem = timed([*python, "-m", "autograder", "-q", "grade", ASSIGNMENT, "--jobs", str(args.jobs)],
                                 ours_dir, env)
        stock = scores(stock_dir, list(baseline), ASSIGNMENT)
        ours = scores(ours_dir, list(copies), ASSIGNMENT)

    n, b = len(copies), len(baseline)
    stock_per = stock_s / b
    print(f"nbgrader {nbgrader.__version__}, ps1 (problem1 + problem2), {os.cpu_count()} cores; "
          f"cold: every start-up included")
    print(f"{'':<26} {'subs':>5} {'s total':>9} {'s/sub':>10} {'subs/min':>9} {'vs stock':>8} {'peak MiB':>9}")
    print(row("stock nbgrader autograde", b, stock_s, stock_mem, stock_per))
    print(row(f"autograder grade -j {args.jobs}", n, ours_s, ours_mem, stock_per))
    half = len(ours_mem) // 2
    print(f"ours, peak summed PSS over the first / second half of the run: "
          f"{max(ours_mem[:half], default=0) / MIB:.0f} / {max(ours_mem[half:], default=0) / MIB:.0f} MiB")

    expected = {original: stock[sid] for sid, original in reversed(baseline.items())}  # first of each
    want = {s: stock.get(s, expected[copies[s]]) for s in copies}  # the same student, else the same notebooks
    wrong = [s for s in copies if ours[s] != want[s]]
    if wrong:
        for s in wrong:
            print(f"  {s} ({copies[s]}): stock {want[s]}  ours {ours[s]}", file=sys.stderr)
        raise SystemExit(f"FAIL: {len(wrong)} submission(s) scored differently from stock nbgrader")
    print(f"same scores as stock     : yes, all {n} "
          f"({', '.join(f'{o} {expected[o]:g}' for o in SUBMITTED if o in expected)})")


if __name__ == "__main__":
    main()
