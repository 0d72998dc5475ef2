"""Benchmark: a class graded by ``python -m autograder grade --jobs J`` vs stock ``nbgrader autograde``.

One invocation, one machine, the same honest notebooks (correct ones, correct ones written
differently, typical mistakes: the demo class without its crashes, loops, cheats and broken
files). Stock nbgrader (its own ``Execute`` step, hidden tests in the student's kernel,
``AUTOGRADER_GRADER=plain``) grades the first ``--baseline`` students, since it needs ~15 s
each; our grader grades the whole class of ``--students`` with a cold input cache (built in
this run, so its cost is included). Every submission's score must equal stock nbgrader's for
the same notebook. Peak memory is the summed PSS of every process of the run (grader, workers,
templates, sandboxes), sampled ten times a second; its two halves show whether it grows with
the class. The machines are shared and noisy: read the ratios.

    .venv/bin/python bench/grading.py [--students 60] [--baseline 8] [--jobs 2] [--max-examples 50]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.demo import student_notebook  # noqa: E402
from autograder.demo_class import CLASS  # noqa: E402

HONEST = [s for s in CLASS if s.raw is None and "loop" not in s.story and "cheat" not in s.story]
COURSE = ("source", "release", "assignments", "autograder", "nbgrader_config.py")


def make_course(where: Path, students: int) -> dict[str, str]:
    """A course copy with ``students`` submissions; returns student id -> demo student it copies."""
    for name in COURSE:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, where / name)
    released = nbformat.read(ROOT / "release/loss_functions/loss_functions.ipynb", as_version=4)
    copies = {}
    for i in range(students):
        student = HONEST[i % len(HONEST)]
        sid = f"{student.id}{i:03d}"
        folder = where / "submitted" / sid / "loss_functions"
        folder.mkdir(parents=True)
        (folder / "loss_functions.ipynb").write_text(student_notebook(student, released))
        copies[sid] = student.id
    return copies


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def sampled(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, list[int], bytes]:
    """Run ``command``; its wall seconds, the summed PSS of its process tree sampled at 10 Hz, and its stdout."""
    samples: list[int] = []
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            samples.append(sum(_pss(pid) for pid in _tree(process.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode(errors='replace')[-3000:]}")
    return elapsed, samples, out


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, list[int]]:
    """Run ``command``; its wall seconds and the summed PSS of its process tree, sampled at 10 Hz."""
    elapsed, samples, _ = sampled(command, cwd, env)
    return elapsed, samples


def scores(course: Path, students: list[str], assignment: str = "loss_functions") -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: gb.find_submission(assignment, s).score for s in students}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60, help="class size for our grader")
    parser.add_argument("--baseline", type=int, default=8, help="students stock nbgrader grades")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max-examples", type=int, default=50)
    args = parser.parse_args()
    python = [sys.executable]
    with tempfile.TemporaryDirectory() as tmp:
        ours_dir, stock_dir, cache = Path(tmp, "ours"), Path(tmp, "stock"), Path(tmp, "cache")
        for d in (ours_dir, stock_dir):
            d.mkdir()
        copies = make_course(ours_dir, args.students)
        with (ours_dir / "nbgrader_config.py").open("a") as config:
            config.write(f"\nc.SandboxedGrading.max_examples = {args.max_examples}\n")
        baseline = list(make_course(stock_dir, min(args.baseline, args.students)))
        env = {**os.environ, "AUTOGRADER_CACHE_DIR": str(cache), "AUTOGRADER_MAX_EXAMPLES": str(args.max_examples),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        for course in (stock_dir, ours_dir):  # the gradebook learns the assignment, as at release
            subprocess.run([*python, "-m", "nbgrader", "generate_assignment", "loss_functions", "--force"],
                           cwd=course, env=env, check=True, capture_output=True)
        stock_s, stock_mem = timed([*python, "-m", "nbgrader", "autograde", "loss_functions", "--force"],
                                   stock_dir, {**env, "AUTOGRADER_GRADER": "plain"})
        ours_s, ours_mem = timed([*python, "-m", "autograder", "-q", "grade", "loss_functions", "--jobs",
                                  str(args.jobs)], ours_dir,
                                 env)
        stock, ours = scores(stock_dir, baseline), scores(ours_dir, list(copies))
    n, b = len(copies), len(baseline)
    per_stock, per_ours = stock_s / b, ours_s / n
    half = len(ours_mem) // 2
    mib = 1 << 20
    print(f"{args.max_examples} Hypothesis examples per property, {os.cpu_count()} cores")
    print(f"stock nbgrader autograde : {b:4d} students {stock_s:7.1f} s  {per_stock:6.2f} s/submission  "
          f"peak {max(stock_mem, default=0) / mib:6.0f} MiB")
    print(f"autograder grade -j {args.jobs}   : {n:4d} students {ours_s:7.1f} s  {per_ours:6.2f} s/submission  "
          f"peak {max(ours_mem, default=0) / mib:6.0f} MiB (first half {max(ours_mem[:half], default=0) / mib:.0f}, "
          f"second half {max(ours_mem[half:], default=0) / mib:.0f}); cold input cache included")
    print(f"throughput vs stock      : {per_stock / per_ours:7.1f}x")
    if n >= 300:
        print(f"300 submissions          : {per_ours * 300:7.1f} s")
    wrong = [s for s in baseline if stock[s] != ours[s]]
    wrong += [s for s in copies if ours[s] != ours[next(t for t in copies if copies[t] == copies[s])]]
    print(f"same scores              : {'yes' if not wrong else 'NO'}")
    for s in wrong:
        print(f"  {s:<10} stock {stock.get(s, '-')}  ours {ours[s]}")


if __name__ == "__main__":
    main()
