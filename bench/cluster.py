"""Benchmark: class throughput on a Dask cluster (1 and 2 local workers) vs the local pool.

One machine, one course copy with ``--students`` honest submissions (bench/grading.py's class),
a warm input cache (built once first, so every run below pays only grading). Each configuration
regrades the whole class through ``python -m autograder grade`` (``--force`` on the cluster), so
the single writer (nbgrader's autograde per submission, in the command's process) is included.
Workers are plain ``dask worker ADDRESS --nthreads 1`` started in the course root; their
start-up (the plugin: torch, the input cache, the sandbox template) is inside the timing, as is
the local pool's. The machines are shared and noisy: read the ratios.

    .venv/bin/python bench/cluster.py [--students 24] [--max-examples 50]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grading import make_course, scores, timed  # bench/grading.py, next to this script

DASK = Path(sys.executable).with_name("dask")
# Every server listens on the loopback interface only, never on the machine's own network address
# (the HTTP server of --dashboard-address too, which starts even with --no-dashboard).
LOOPBACK = ("--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0")


def start_cluster(course: Path, workers: int, env: dict[str, str]) -> tuple[str, list[subprocess.Popen]]:
    """``dask scheduler`` and ``workers`` plain ``dask worker``s in the course root, all connected."""
    from distributed import Client

    info = course / "scheduler.json"
    info.unlink(missing_ok=True)
    quiet = {"cwd": course, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    started = [subprocess.Popen([DASK, "scheduler", *LOOPBACK, "--port", "0", "--no-dashboard", "--scheduler-file", info], **quiet)]
    while not info.exists():
        time.sleep(0.2)
    address = json.loads(info.read_text())["address"]
    started += [subprocess.Popen([DASK, "worker", address, *LOOPBACK, "--nthreads", "1", "--no-dashboard"], **quiet)
                for _ in range(workers)]
    with Client(address, timeout=30) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, started


def stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        process.terminate()
    for process in reversed(processes):
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=24)
    parser.add_argument("--max-examples", type=int, default=50)
    args = parser.parse_args()
    python = [sys.executable, "-m", "autograder", "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp, "course")
        course.mkdir()
        copies = make_course(course, args.students)
        with (course / "nbgrader_config.py").open("a") as config:
            config.write(f"\nc.SandboxedGrading.max_examples = {args.max_examples}\n")
        env = {**os.environ, "AUTOGRADER_CACHE_DIR": str(Path(tmp, "cache")),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "loss_functions", "--force"],
                       cwd=course, env=env, check=True, capture_output=True)
        first = next(iter(copies))
        subprocess.run([*python, "grade", "loss_functions", "--student", first, "--jobs", "1"],
                       cwd=course, env=env, check=True, capture_output=True)  # warms the input cache
        runs: dict[str, float] = {}
        for jobs in (1, 2):
            runs[f"local pool, --jobs {jobs}"] = timed([*python, "grade", "loss_functions", "--jobs", str(jobs)],
                                                       course, env)[0]
        reference = scores(course, list(copies))
        same = True
        for workers in (1, 2):
            address, processes = start_cluster(course, workers, env)
            try:
                runs[f"Dask, {workers} worker{'s' * (workers > 1)}"] = timed(
                    [*python, "grade", "loss_functions", "--scheduler", address, "--force"], course, env)[0]
            finally:
                stop(processes)
            same &= scores(course, list(copies)) == reference
    n = len(copies)
    print(f"{n} students, {args.max_examples} Hypothesis examples per property, {os.cpu_count()} cores, warm input cache")
    for name, seconds in runs.items():
        print(f"{name:<22}: {seconds:6.1f} s  {seconds / n:5.2f} s/submission  {60 * n / seconds:5.1f} submissions/min")
    print(f"same scores on the cluster as locally: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
