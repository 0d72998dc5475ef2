"""The worker pool: every job comes back once, a dying worker costs only its own job, and a class
graded on two workers is byte-identical to the same class graded on one (real pool, real
sandboxes, real gradebook)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from autograder.pipeline import CourseRoot, grade_class, pool
from autograder.judge.worker import GradingJob
from autograder.reports.records import dumps, load_result, record_path, result_to_json
from autograder.judge.grader import ungradable
from course_copy import REPO, course_with_students

pytestmark = pytest.mark.slow


def _job(student: str) -> GradingJob:
    return GradingJob(course_root=str(REPO), assignment="loss_functions", student=student,
                      submission="/nonexistent", notebook="loss_functions.ipynb")


def fake_run(job: GradingJob) -> str:
    """Stands in for grading: a record whose reason names the process that made it."""
    return dumps(result_to_json(ungradable(job.student, job.assignment, "fake")))


def die_for_victim(job: GradingJob) -> str:
    if job.student == "victim":
        os._exit(3)  # what the OOM killer or a crash in the grader looks like to the pool
    return fake_run(job)


def raise_for_victim(job: GradingJob) -> str:
    if job.student == "victim":
        raise RuntimeError("a grader bug")
    return fake_run(job)


def _collected(jobs: list[GradingJob], workers: int, run) -> dict[str, dict]:
    found = {}
    for job, record in pool.results(jobs, workers, run):
        assert job.student not in found, "a job came back twice"
        found[job.student] = json.loads(record)
    return found


def test_every_job_comes_back_once_serial_or_pooled():
    jobs = [_job(f"s{i}") for i in range(7)]
    assert _collected(jobs, 1, fake_run) == _collected(jobs, 2, fake_run)
    assert sorted(_collected(jobs, 3, fake_run)) == sorted(j.student for j in jobs)


def test_a_job_that_kills_its_worker_costs_only_itself():
    jobs = [_job(s) for s in ("a", "b", "victim", "c", "d", "e")]
    found = _collected(jobs, 2, die_for_victim)
    assert sorted(found) == sorted(j.student for j in jobs)
    assert found["victim"]["status"] == "ungradable"
    assert found["victim"]["reason"] == pool.WORKER_DIED
    assert all(found[s]["reason"] == "fake" for s in found if s != "victim")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_that_raises_is_ungradable_with_the_error(workers):
    found = _collected([_job("a"), _job("victim"), _job("b")], workers, raise_for_victim)
    assert found["victim"]["reason"] == (
        "internal grader error (RuntimeError: a grader bug); please tell the course staff")
    assert found["a"]["reason"] == found["b"]["reason"] == "fake"


CLASS_SUBSET = ("ada", "dev", "ola", "ravi", "sam")  # correct, mistakes, a crash, a broken file, a deleted cell
LIMITS = {"max_examples": 10, "call_timeout": 10.0}


def _graded(course: CourseRoot, jobs: int) -> tuple[dict[str, str], dict[str, float], list[str]]:
    for name in ("grading", "autograded"):  # the gradebook stays: release made the assignment there
        shutil.rmtree(course.root / name, ignore_errors=True)
    summary = grade_class(course, "loss_functions", progress=False, limits=LIMITS, jobs=jobs)
    records = {s: record_path(course.root, "loss_functions", s).read_text() for s in CLASS_SUBSET}
    with course.gradebook() as gb:
        scores = {s: gb.find_submission("loss_functions", s).score for s in CLASS_SUBSET
                  if s != "ravi"}
    return records, scores, [o.student for o in summary.outcomes]


def test_two_workers_give_the_records_and_gradebook_of_one(tmp_path: Path):
    course = course_with_students(tmp_path / "course", CLASS_SUBSET)
    one = _graded(course, 1)
    two = _graded(course, 2)
    assert one == two  # byte-identical records, same gradebook scores, same summary order
    assert load_result(record_path(course.root, "loss_functions", "ada")).score == 36
    assert load_result(record_path(course.root, "loss_functions", "ravi")).status == "ungradable"
    assert not (course.root / ".hypothesis").exists()
