"""Benchmark: the single gradebook writer, fed ready results, alone and at a simulated cluster's pace.

One course copy with ``--students`` honest submissions (bench/grading.py's class). The distinct
demo notebooks among them are graded and built once, in this process, by the same code a worker
runs (``nbgrader_ext/offline.run``); every student's ready result is then a copy of its demo
student's. Three measurements, in one run:

1. **The writer alone**: every ready result through ``pipeline/writer.Batches``, as fast as it
   takes them (gradebook rows, autograded files, records): submissions a minute.
2. **Stock writing**: nbgrader's own ``autograde`` per submission with the result handed over
   (the path before the writer, still taken for ungradable submissions), on ``--baseline`` of them.
3. **A simulated cluster**: results arrive as N workers would produce them (one every
   ``worker-seconds / N``; worker-seconds is this machine's measured grade+build time of a
   submission in a warm worker), N = 1 .. 64, into a fresh gradebook each; throughput, and
   where it stops growing (where the writer, not the workers, sets the pace).

Peak memory is this process's max RSS. The machines are shared and noisy: read the ratios.

    .venv/bin/python bench/writer.py [--students 2000] [--baseline 40] [--simulate 1000] [--seconds 30]
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grading import make_course  # noqa: E402  (bench/grading.py, next to this script)

from autograder.judge import worker  # noqa: E402
from autograder.nbgrader_ext import handoff, offline  # noqa: E402
from autograder.nbgrader_ext.preprocessor import SandboxedGrading  # noqa: E402
from autograder.pipeline import CourseRoot, release  # noqa: E402
from autograder.pipeline.grading import write_one  # noqa: E402
from autograder.pipeline.writer import Batches, Built, Writer, handed  # noqa: E402
from autograder.reports.records import dumps, result_to_json  # noqa: E402

ASSIGNMENT = "loss_functions"


def ready_results(course: CourseRoot, copies: dict[str, str]) -> tuple[list[Built], float]:
    """Every student's ready result, and the median seconds a warm worker took per distinct notebook."""
    api = course.api()
    step = SandboxedGrading(config=api.config)
    worker.prepare(str(course.root), ASSIGNMENT, step.max_examples, sandboxed=True)
    with Writer(course, api, ASSIGNMENT) as writer:
        plan = writer.plan()
    built, seconds = {}, []
    for student in sorted(set(copies.values())):
        sid = next(s for s, demo in copies.items() if demo == student)
        job = step.job(sid, ASSIGNMENT, ASSIGNMENT)
        offline.run(job, plan)  # warm: the first run of a worker pays for imports
        started = time.perf_counter()
        _, built[student] = handed(job, offline.run(job, plan))
        seconds.append(time.perf_counter() - started)
    ready = []
    for sid, demo in copies.items():
        template = built[demo]
        job = step.job(sid, ASSIGNMENT, ASSIGNMENT)
        result = dataclasses.replace(template.result, student=sid)
        ready.append(dataclasses.replace(template, job=job, result=result, record=dumps(result_to_json(result))))
    return ready, statistics.median(seconds)


def fresh_course(where: Path, students: int) -> tuple[CourseRoot, dict[str, str]]:
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    copies = make_course(where, students)
    course = CourseRoot(where)
    release(course, ASSIGNMENT)
    return course, copies


def moved(ready: list[Built], course: CourseRoot) -> list[Built]:
    """The same results for the same students of another course copy (same ids: make_course)."""
    return [dataclasses.replace(b, job=dataclasses.replace(
        b.job, course_root=str(course.root), submission=str(course.submitted(b.student, ASSIGNMENT))))
        for b in ready]


def write_all(course: CourseRoot, ready: list[Built], interval: float = 0.0) -> float:
    """Seconds to write ``ready``, each arriving ``interval`` after the one before."""
    with Writer(course, course.api(), ASSIGNMENT) as writer:
        batches = Batches(writer)
        started = time.perf_counter()
        for i, built in enumerate(ready):
            wait = started + i * interval - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            assert not any(alone for _, alone in batches.add(built)), "the writer refused a ready result"
        assert not any(alone for _, alone in batches.flush())
        return time.perf_counter() - started


def stock(course: CourseRoot, ready: list[Built]) -> float:
    """Seconds for nbgrader's own autograde of each, the worker's result handed over."""
    api = course.api()
    started = time.perf_counter()
    for built in ready:
        with handoff.offering(built.job, built.result, handoff.notebook_digest(built.job)):
            write_one(course, api, ASSIGNMENT, built.student)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2000, help="results the writer alone takes")
    parser.add_argument("--baseline", type=int, default=40, help="of them, written by nbgrader's autograde")
    parser.add_argument("--simulate", type=int, default=1000, help="at most this many results per simulated cluster size")
    parser.add_argument("--seconds", type=float, default=30.0, help="about this long of arrivals per simulated cluster size")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-writer-"))
    try:
        course, copies = fresh_course(tmp / "course", args.students)
        ready, worker_s = ready_results(course, copies)
        alone = write_all(course, ready)
        base_course, _ = fresh_course(tmp / "stock", args.baseline)
        stock_s = stock(base_course, moved(ready[:args.baseline], base_course))
        n = len(ready)
        print(f"warm worker, grade + build  : {worker_s:6.3f} s a submission (median of {len(set(copies.values()))})")
        print(f"writer alone                : {n:5d} submissions {alone:7.1f} s  {alone / n * 1000:6.1f} ms each  "
              f"{n / alone * 60:7.0f} a minute")
        print(f"nbgrader autograde, handed  : {args.baseline:5d} submissions {stock_s:7.1f} s  "
              f"{stock_s / args.baseline * 1000:6.1f} ms each  {args.baseline / stock_s * 60:7.0f} a minute")
        print(f"writer vs nbgrader's        : {(stock_s / args.baseline) / (alone / n):7.1f}x")
        print(f"simulated cluster (a worker takes {worker_s:.2f} s a submission; "
              f"about {args.seconds:.0f} s of arrivals, at most {args.simulate} submissions, per size):")
        print("  workers  submissions  offered/min  written/min")
        for workers in (1, 2, 4, 8, 16, 32, 64):
            count = min(args.simulate, n, max(30, round(args.seconds * workers / worker_s)))
            sim_course, _ = fresh_course(tmp / "sim", count)
            interval = worker_s / workers
            took = write_all(sim_course, moved(ready[:count], sim_course), interval)
            print(f"  {workers:7d}  {count:11d}  {60 / interval:11.0f}  {count / took * 60:11.0f}")
        print(f"peak memory (this process)  : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
