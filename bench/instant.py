"""Benchmark: a deadline rush on the grading service (``python -m autograder serve``).

A course copy, the service as a real process (``--jobs`` workers, the real sandbox), and a class
submitting through nbgrader's own ``ExchangeSubmit`` (``submit_as``: one account submits under many
student ids, so ``c.InstantFeedback.check_owner`` is off in the copy): ``--submissions`` honest and
typical-mistake notebooks of the demo class arriving over ``--minutes``, more and more of them
towards the deadline (arrival times ~ sqrt(uniform)), among them ``--resubmitters`` students who
submit ``--resubmits`` times each, evenly over the rush. The staff policy is the default one
(5 feedbacks an hour: a resubmitter's sixth submission gets a notice, then later its latest is
graded).

Reported: p50 and p95 seconds from submission to its graded feedback (the service's time of
record to the file in the exchange), the longest wait of any student's first submission, the
summed PSS of the service's process tree (workers and sandboxes included) sampled ten times a
second, and that every submission was answered (feedback or a notice in the exchange under its
secret) and no feedback released twice. Targets: p50 <= 3 s, p95 <= 15 s, nothing lost or
duplicated.

    .venv/bin/python bench/instant.py [--submissions 300] [--minutes 5] [--jobs 2] [--resubmitters 3]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

from autograder.demo import student_notebook  # noqa: E402
from autograder.demo_class import CLASS  # noqa: E402
from autograder.pipeline import CourseRoot, release, submit_as  # noqa: E402
from course_copy import copy_course  # noqa: E402
from grading import _pss, _tree  # noqa: E402

HONEST = [s for s in CLASS if s.raw is None and "loop" not in s.story and "cheat" not in s.story]


def plan(submissions: int, seconds: float, resubmitters: int, resubmits: int, seed: int = 0) -> list[tuple[float, str, int]]:
    """``(seconds after start, student id, demo student index)``, sorted by time."""
    rng = random.Random(seed)
    plan = []
    for r in range(resubmitters):
        for k in range(resubmits):
            plan.append((seconds * (k + rng.random()) / resubmits, f"eager{r}", rng.randrange(len(HONEST))))
    singles = submissions - len(plan)
    plan += [(seconds * rng.random() ** 0.5, f"s{i:03d}", rng.randrange(len(HONEST))) for i in range(singles)]
    return sorted(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--resubmitters", type=int, default=3)
    parser.add_argument("--resubmits", type=int, default=20)
    args = parser.parse_args()

    where = Path(tempfile.mkdtemp(prefix="bench-instant-"))
    service = None
    try:
        root = copy_course(where / "course")
        with open(root / "nbgrader_config.py", "a") as config:
            config.write("\nc.InstantFeedback.check_owner = False  # one account submits for the whole class\n")
        env = dict(os.environ, AUTOGRADER_EXCHANGE=str(where / "exchange"))
        os.environ["AUTOGRADER_EXCHANGE"] = env["AUTOGRADER_EXCHANGE"]
        course = CourseRoot(root)
        release(course, "loss_functions")
        released = nbformat.read(course.release("loss_functions") / "loss_functions.ipynb", as_version=4)
        texts = [student_notebook(s, released) for s in HONEST]
        log = where / "service.log"
        out = open(log, "w")
        service = subprocess.Popen([sys.executable, "-m", "autograder", "serve", "--jobs", str(args.jobs),
                                    "--metrics-port", "-1"], cwd=root, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        while " serving " not in log.read_text():
            if service.poll() is not None:
                raise SystemExit(f"the service stopped:\n{log.read_text()}")
            time.sleep(0.2)
        peak, stop = [0], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], sum(_pss(pid) for pid in _tree(service.pid)))
                time.sleep(0.1)

        threading.Thread(target=sample, daemon=True).start()
        schedule = plan(args.submissions, args.minutes * 60, args.resubmitters, args.resubmits)
        start = time.monotonic()
        for at, student, which in schedule:
            time.sleep(max(0.0, at - (time.monotonic() - start)))
            work = where / "work" / student / "loss_functions"
            work.mkdir(parents=True, exist_ok=True)
            (work / "loss_functions.ipynb").write_text(texts[which])
            submit_as(course, "loss_functions", student, work.parent, where / "cache" / student)
        rush = time.monotonic() - start
        db_path = root / "instant_feedback.sqlite"

        def pending() -> int:
            with sqlite3.connect(db_path) as db:
                return db.execute("SELECT COUNT(*) FROM submissions WHERE state IN ('waiting', 'grading', "
                                  "'graded') OR (state = 'queued' AND noticed_at IS NULL)").fetchone()[0]

        def seen() -> int:
            with sqlite3.connect(db_path) as db:
                return db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]

        settle = time.monotonic() + 30  # the last submission may not be noticed yet (a second at most)
        while seen() < len(schedule) and time.monotonic() < settle:
            time.sleep(0.2)
        while pending():  # over-limit submissions have their notice; their token comes minutes later
            time.sleep(0.5)
        stop.set()
        report(db_path, where / "exchange", schedule, rush, peak[0], args)
    finally:
        if service is not None:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=120)
        shutil.rmtree(where, ignore_errors=True)


def report(db_path: Path, exchange: Path, schedule, rush: float, peak: int, args) -> None:
    from nbgrader.utils import notebook_hash

    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT id, student, seen_at, state, secret, released_at, noticed_at, releases, outcome "
                      "FROM submissions").fetchall()
    db.close()
    graded = sorted(r[5] - r[2] for r in rows if r[5] is not None)
    firsts: dict[str, tuple] = {}
    for r in sorted(rows, key=lambda r: r[2]):
        firsts.setdefault(r[1], r)
    first_waits = [min(t for t in (r[5], r[6]) if t is not None) - r[2] for r in firsts.values()
                   if r[5] is not None or r[6] is not None]
    folder = exchange / "dl-losses" / "feedback"
    unanswered = [r[0] for r in rows if r[4] is None or not (
        folder / f"{notebook_hash(secret=r[4], notebook_id='loss_functions')}.html").is_file()]
    twice = [r[0] for r in rows if r[7] > 1]
    states = {}
    for r in rows:
        states[r[3]] = states.get(r[3], 0) + 1
    q = statistics.quantiles(graded, n=100, method="inclusive") if len(graded) > 1 else graded * 99
    print(f"{len(schedule)} submissions over {rush:.0f} s ({args.resubmitters} students x {args.resubmits}), "
          f"--jobs {args.jobs}, {os.cpu_count()} cores")
    print(f"seen by the service: {len(rows)}; states: {states}")
    print(f"graded feedbacks: {len(graded)}; submit to feedback p50 {q[49]:.2f} s, p95 {q[94]:.2f} s, "
          f"max {max(graded):.2f} s")
    print(f"longest wait of a student's first submission: {max(first_waits):.2f} s")
    print(f"peak memory (PSS of the service's process tree): {peak / 2**20:.0f} MiB")
    print(f"unanswered: {len(unanswered)}; released twice: {len(twice)}")
    ok = len(rows) == len(schedule) and not unanswered and not twice and q[49] <= 3 and q[94] <= 15
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
