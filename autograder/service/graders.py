"""Warm grading workers kept for the life of the service: the same jobs ``grade`` runs.

A process pool whose workers each load the course's assignments, the class's input cache and a
sandbox template once (``worker.prepare``, as the ``grade`` pool does), then grade one submission
after another with ``worker.run`` through ``pool.run_safely`` (a grader error is an ungradable
record, never a lost submission). Student code runs only in each job's sandbox; a worker process
that dies anyway breaks the pool: the service then starts a fresh one (``restart``) and grades
what was in hand again, each suspect alone, so a hostile submission costs only its own grading.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import signal
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from traitlets.config import Config

from autograder.judge import worker
from autograder.judge.worker import GradingJob
from autograder.nbgrader_ext.preprocessor import SandboxedGrading
from autograder.pipeline import pool
from autograder.pipeline.course import CourseRoot


def prepare_all(course_root: str, assignments: tuple[str, ...], max_examples: int, sandboxed: bool) -> None:
    """A worker's set-up, once: every released assignment and the sandbox template. Ctrl-C in
    the service's terminal reaches the workers too: they leave stopping to the service."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in assignments:
        try:
            worker.prepare(course_root, name, max_examples, sandboxed)
        except Exception:  # a broken assignment fails its own jobs (ungradable, with the reason)
            pass


def _ready(seconds: float) -> bool:
    time.sleep(seconds)  # long enough that each warm-up call lands on its own worker
    return True


class Graders:
    def __init__(self, course: CourseRoot, assignments: list[str], jobs: int, sandboxed: bool) -> None:
        cfg = Config()
        if not sandboxed:
            cfg.SandboxedGrading.sandbox = False
        self.step = SandboxedGrading(config=course.config(cfg))
        self.course, self.jobs, self.sandboxed = course, jobs, self.step.sandbox
        self.assignments = tuple(assignments)
        self._pool: ProcessPoolExecutor | None = None

    def job(self, student: str, assignment: str, folder: Path, origin: str) -> GradingJob:
        """The job ``grade`` would make for this student, on the service's private copy."""
        planned = self.step.job(student, assignment, assignment)
        return dataclasses.replace(planned, submission=str(folder), origin=origin)

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["autograder.judge.worker"])
        return ProcessPoolExecutor(self.jobs, mp_context=context, initializer=prepare_all,
                                   initargs=(str(self.course.root), self.assignments,
                                             self.step.max_examples, self.sandboxed))

    def warm(self) -> None:
        """Build the input caches here once, then start every worker and wait until it is ready."""
        for name in self.assignments:
            try:
                worker.prepare(str(self.course.root), name, self.step.max_examples, False)
            except Exception:
                pass
        self._pool = self._pool or self._new_pool()
        for future in [self._pool.submit(_ready, 0.3) for _ in range(self.jobs)]:
            future.result()

    def submit(self, job: GradingJob) -> Future:
        self._pool = self._pool or self._new_pool()
        return self._pool.submit(pool.run_safely, worker.run, job)

    def restart(self) -> None:
        """After a worker died: drop the broken pool, start a fresh one."""
        self.shutdown(kill=True)
        self._pool = self._new_pool()

    def shutdown(self, kill: bool = False) -> None:
        if self._pool is None:
            return
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=not kill, cancel_futures=True)
        if kill:
            for process in processes:
                if process.is_alive():
                    process.kill()
        self._pool = None
