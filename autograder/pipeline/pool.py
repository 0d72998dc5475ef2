"""Run grading jobs on N workers and hand back each record as soon as it is done.

``--jobs 1`` grades in this process, one job after another. More jobs use a process pool whose
workers each keep their own sandbox template and input cache (``worker.prepare``); the work per
job is the same ``worker.run`` either way, so the records are byte-identical whatever N is.

Nothing is lost when a worker process dies (the OOM killer, a crash in the grader itself): the
jobs it left unfinished are retried in a fresh pool, then each alone, and only a job that kills
a worker of its own is reported ungradable, with that reason. A job that raises is ungradable
with the error, never a hole in the class.
"""
from __future__ import annotations

import multiprocessing
import os
from multiprocessing import forkserver
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator

from autograder.judge.grader import ungradable
from autograder.judge import worker
from autograder.judge.worker import GradingJob
from autograder.reports.records import dumps, result_to_json

WORKER_DIED = ("the grading worker process died while grading this submission (out of memory, or a grader "
               "bug); it was retried alone and died again: please tell the course staff")


def default_jobs() -> int:
    """Every core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


Run = Callable[[GradingJob], str]


def in_processes(jobs: int, workers: int) -> bool:
    """Whether ``results`` grades in worker processes; else in this one, one job after another."""
    return workers > 1 and jobs > 1


def results(jobs: list[GradingJob], workers: int, run: Run = worker.run) -> Iterator[tuple[GradingJob, str]]:
    """Yield ``(job, record JSON)`` for every job, in the order they finish.

    ``run`` grades one job; it must be importable by name, since pool workers look it up.
    """
    if not jobs:
        return
    if not in_processes(len(jobs), workers):
        for job in jobs:
            yield job, run_safely(run, job)
        return
    unfinished = yield from _pooled(jobs, min(workers, len(jobs)), run)
    for job in unfinished:  # the pool broke twice: each remaining job gets a worker of its own
        lone = yield from _pooled([job], 1, run, retried=True)
        if lone:
            yield job, ungradable_record(job, WORKER_DIED)


def _pooled(jobs: list[GradingJob], workers: int, run: Run,
            retried: bool = False) -> Iterator[tuple[GradingJob, str]]:
    """Run ``jobs`` in one pool; return those left unfinished because a worker died (after one retry)."""
    first = jobs[0]
    context = _context()
    broken: list[GradingJob] = []
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=worker.prepare,
                               initargs=(first.course_root, first.assignment, first.max_examples, first.sandboxed))
    try:
        pending: dict[Future, GradingJob] = {pool.submit(run_safely, run, job): job for job in jobs}
        for future in as_completed(pending):
            job = pending.pop(future)  # drop each finished record: memory stays flat with the class size
            try:
                record = future.result()
            except BrokenProcessPool:
                broken.append(job)
                continue
            yield job, record
    finally:  # also when the consumer stops early (Ctrl-C): do not wait for the rest of the class
        pool.shutdown(wait=False, cancel_futures=True)
    if broken and not retried:
        return (yield from _pooled(broken, min(workers, len(broken)), run, retried=True))
    return broken


def _context() -> multiprocessing.context.ForkServerContext:
    """Workers fork from a server that has imported the grader once (torch, Hypothesis, ...)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["autograder.judge.worker"])
    return context


def start_forkserver() -> None:
    """Start the workers' fork server now, without waiting for it: its imports (a few seconds)
    then overlap whatever the caller does before grading (the demo's release and submissions)."""
    _context()
    forkserver.ensure_running()


def run_safely(run: Run, job: GradingJob) -> str:
    """``run(job)``, or an ungradable record naming the error: what every executor runs per job."""
    try:
        return run(job)
    except Exception as exc:  # a grader bug on one submission must not cost the class
        return ungradable_record(job, f"internal grader error ({type(exc).__name__}: {exc}); please tell the course staff")


def ungradable_record(job: GradingJob, reason: str) -> str:
    """The record of a submission the grader never finished, as JSON text like any other."""
    return dumps(result_to_json(ungradable(job.student, job.assignment, reason, sandboxed=job.sandboxed)))
