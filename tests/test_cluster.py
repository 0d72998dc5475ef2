"""Grading on a real Dask cluster (a scheduler and two plain ``dask worker`` processes started in a
course copy): the same records and gradebook as local grading, a resumed run grades only what is
missing, a worker that dies mid-submission loses nothing, a submission that kills every worker
is ungradable, and a scheduler that is not there is a one-line error."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.judge.worker import GradingJob
from autograder.pipeline import CourseRoot, grade_class
from autograder.reports.records import record_path
from course_copy import REPO, course_with_students
from test_pool import LIMITS, die_for_victim, fake_run

pytestmark = pytest.mark.slow

STUDENTS = ("ada", "dev", "ravi", "sam")  # correct, mistakes, a broken file, a deleted cell
DASK = Path(sys.executable).with_name("dask")
# Every server listens on the loopback interface only, never on the machine's own network address
# (the HTTP server of --dashboard-address too, which starts even with --no-dashboard).
LOOPBACK = ("--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0")


def die_once_for_victim(job: GradingJob) -> str:
    """Kills the worker the first time it grades "victim", as the OOM killer would; fine after."""
    marker = Path(job.course_root, "victim-died-once")
    if job.student == "victim" and not marker.exists():
        marker.touch()
        os._exit(3)
    return fake_run(job)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> CourseRoot:
    return course_with_students(tmp_path_factory.mktemp("cluster") / "course", STUDENTS)


@pytest.fixture(scope="module")
def scheduler(course: CourseRoot):
    """``dask scheduler`` and two ``dask worker``s, as a course would start them: in the course root,
    listening (also their HTTP servers) on the loopback interface only.

    The tests folder is on the workers' path only for the fake grading functions above.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"),
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
           "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
    info = course.root / "scheduler.json"
    started = [subprocess.Popen([DASK, "scheduler", *LOOPBACK, "--port", "0", "--no-dashboard", "--scheduler-file", info],
                                cwd=course.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:"), address  # never on the machine's own interface
        for _ in range(2):
            started.append(subprocess.Popen(
                [DASK, "worker", address, *LOOPBACK, "--nthreads", "1", "--no-dashboard"],
                cwd=course.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield address
    finally:
        for process in reversed(started):
            process.send_signal(signal.SIGTERM)
        for process in reversed(started):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _graded(course: CourseRoot, **grading) -> tuple[dict[str, str], dict[str, float]]:
    summary = grade_class(course, "loss_functions", progress=False, limits=LIMITS, **grading)
    assert sorted(o.student for o in summary.outcomes) == sorted(STUDENTS)
    records = {s: record_path(course.root, "loss_functions", s).read_text() for s in STUDENTS}
    with course.gradebook() as gb:
        scores = {s: gb.find_submission("loss_functions", s).score for s in STUDENTS if s != "ravi"}
    return records, scores


def test_the_cluster_grades_as_this_machine_does_and_resumes(course: CourseRoot, scheduler: str):
    local = _graded(course, jobs=1)
    for name in ("grading", "autograded"):
        shutil.rmtree(course.root / name)
    assert _graded(course, scheduler=scheduler) == local  # byte-identical records, same scores
    resumed = grade_class(course, "loss_functions", progress=False, limits=LIMITS, scheduler=scheduler)
    assert resumed.outcomes == () and sorted(resumed.skipped) == sorted(STUDENTS)
    record_path(course.root, "loss_functions", "dev").unlink()  # as if the run had stopped before dev
    resumed = grade_class(course, "loss_functions", progress=False, limits=LIMITS, scheduler=scheduler)
    assert [o.student for o in resumed.outcomes] == ["dev"] and len(resumed.skipped) == 3
    assert record_path(course.root, "loss_functions", "dev").read_text() == local[0]["dev"]


def _jobs(course: CourseRoot, students: list[str]) -> list[GradingJob]:
    return [GradingJob(course_root=str(course.root), assignment="loss_functions", student=s,
                       submission=str(course.root / "nothing"), notebook="loss_functions.ipynb",
                       max_examples=LIMITS["max_examples"], sandboxed=False) for s in students]


def test_a_worker_that_dies_mid_submission_loses_nothing(course: CourseRoot, scheduler: str):
    from autograder.pipeline import cluster

    jobs = _jobs(course, ["a", "b", "victim", "c", "d"])
    found = _collected_on(cluster, jobs, scheduler, die_once_for_victim)
    assert (course.root / "victim-died-once").exists()
    assert sorted(found) == sorted(j.student for j in jobs)  # each once: _collected_on checks
    assert all(record["reason"] == "fake" for record in found.values())


def test_a_submission_that_kills_every_worker_is_ungradable(course: CourseRoot, scheduler: str):
    from autograder.pipeline import cluster

    found = _collected_on(cluster, _jobs(course, ["a", "victim", "b"]), scheduler, die_for_victim)
    assert found["victim"]["status"] == "ungradable" and found["victim"]["reason"] == cluster.WORKER_KILLED
    assert found["a"]["reason"] == found["b"]["reason"] == "fake"


def _collected_on(cluster, jobs: list[GradingJob], scheduler: str, run) -> dict[str, dict]:
    found = {}
    for job, record in cluster.results(jobs, scheduler, run):
        assert job.student not in found, "a job came back twice"
        found[job.student] = json.loads(record)
    return found


def test_a_scheduler_that_is_not_there_is_a_one_line_error(course: CourseRoot, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["-q", "--course-root", str(course.root), "grade", "loss_functions",
                 "--scheduler", f"tcp://127.0.0.1:{port}", "--force"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")
