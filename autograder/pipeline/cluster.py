"""Grade on a Dask cluster: the same job per submission as the local pool, on machines that share no disk.

Why Dask: research-computing groups already run it (``dask scheduler`` / ``dask worker``, or
dask-jobqueue on SLURM), and it does what a home-made queue would have to: a dead worker's
tasks go to another worker, a task that keeps killing workers is given up on (``KilledWorker``
after the scheduler's ``allowed-failures``), and futures report as they complete.

What crosses is plain data: out goes a ``PackedJob`` (the student's files as bytes, names,
limits, max_examples), back comes the record's JSON text, made by the trusted grader on the
worker. This process stays the only writer of the gradebook (``grading.grade_class``).

A worker needs the course's checkout and virtualenv (with bubblewrap), started in the course
root or with ``AUTOGRADER_COURSE_ROOT`` set; nothing else. The ``Prepare`` plugin this module
registers is sent by value, so a plain ``dask worker`` unpickles it without importing the
grader; it puts the course root on ``sys.path`` and starts what a worker keeps for every job
(``worker.prepare``), once per worker process.
"""
from __future__ import annotations

import logging
import os
import pickle
import sys
import threading
import uuid
from dataclasses import dataclass
from typing import Iterator

import cloudpickle
from distributed import Client, Future, KilledWorker, WorkerPlugin, as_completed, get_worker

from autograder.errors import AutograderError, SubmissionError
from autograder.judge import worker
from autograder.judge.worker import GradingJob, PackedJob
from autograder.pipeline import pool
from autograder.sandbox.bwrap import BwrapSandbox

CONNECT_SECONDS = 10
IN_FLIGHT_PER_THREAD = 4  # enough queued that no worker idles, without the scheduler holding a whole class of notebooks
MIN_IN_FLIGHT = 16
WORKER_KILLED = ("this submission killed every Dask worker that graded it (out of memory, or a grader bug), "
                 "so the scheduler gave up on it: please tell the course staff")

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Prepare reaches workers that cannot import us yet


def course_root() -> str:
    """A worker's course root: ``AUTOGRADER_COURSE_ROOT``, else the folder ``dask worker`` started in."""
    return os.path.abspath(os.environ.get("AUTOGRADER_COURSE_ROOT") or os.getcwd())


class Prepare(WorkerPlugin):
    """Per-worker set-up, run once by each worker process, also one that joins or restarts later."""

    def __init__(self, assignment: str, max_examples: int, sandboxed: bool) -> None:
        self.assignment, self.max_examples, self.sandboxed = assignment, max_examples, sandboxed
        self.root = ""

    def setup(self, worker=None) -> None:
        self.root = course_root()
        self.lock = threading.Lock()  # one submission at a time, however many threads the worker has
        if self.root not in sys.path:
            sys.path.insert(0, self.root)
        from autograder.judge import worker as grading  # importable only once the line above ran
        from autograder.sandbox.bwrap import BwrapSandbox as Bwrap

        if self.sandboxed:
            Bwrap.check_available()
        grading.prepare(self.root, self.assignment, self.max_examples, self.sandboxed)


def plugin_name(job: GradingJob) -> str:
    return f"autograder-{job.assignment}-{job.max_examples}-{'sandbox' if job.sandboxed else 'no-sandbox'}"


def grade_packed(packed: PackedJob, plugin: str, run: pool.Run = worker.run) -> str:
    """The task a Dask worker runs: ``run`` on a private copy of the files, as the local pool does.

    A worker that cannot grade (no bubblewrap, another checkout) raises, and the command stops
    rather than recording good submissions as ungradable.
    """
    prepared = get_worker().plugins[plugin]
    if packed.job.sandboxed:
        BwrapSandbox.check_available()
    with prepared.lock, worker.unpacked(packed, prepared.root) as job:
        return pool.run_safely(run, job)


@dataclass(frozen=True)
class _Call:
    """A ``grade_packed`` call as pickle bytes, submitted as ``pickle.loads(bytes)``: the scheduler
    unpickles task graphs, and so sees only the standard library and bytes and needs no copy of
    the grader; the worker's unpickling makes the call (after ``Prepare`` let it import us)."""

    packed: PackedJob
    plugin: str
    run: pool.Run

    def __reduce__(self):
        return grade_packed, (self.packed, self.plugin, self.run)


def connect(scheduler: str) -> Client:
    """A client of the scheduler at ``scheduler``, or an ``AutograderError`` that says what to do."""
    try:
        return Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise AutograderError(
            f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_SECONDS} s ({exc}): start one "
            f"with `dask scheduler` and workers with `dask worker {scheduler}` in the course root, or "
            f"drop --scheduler to grade on this machine") from None


def results(jobs: list[GradingJob], scheduler: str,
            run: pool.Run = worker.run) -> Iterator[tuple[GradingJob, str]]:
    """Yield ``(job, record JSON)`` for every job, in the order they finish on the cluster.

    The surface of ``pool.results``. A lost connection to the scheduler raises an
    ``AutograderError`` after the records already yielded; ``run`` must be importable by name.
    """
    if not jobs:
        return
    first = jobs[0]
    grader = worker.grader_key(first.course_root, first.assignment, first.max_examples)
    client = connect(scheduler)
    try:
        plugin = plugin_name(first)
        try:
            client.register_plugin(Prepare(first.assignment, first.max_examples, first.sandboxed), name=plugin)
        except Exception as exc:  # the worker's own error, raised here: no bubblewrap, no course root
            if client.status != "running":
                raise lost(scheduler, 0, len(jobs)) from None
            raise AutograderError(f"a Dask worker of {scheduler} cannot grade: {exc}") from None
        window = max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * sum(client.nthreads().values()))
        yield from _dispatch(client, scheduler, iter(jobs), len(jobs), grader, plugin, run, window)
    finally:
        logging.disable(logging.CRITICAL)  # a lost scheduler's reconnect traceback: our error says it
        try:
            client.close(timeout=CONNECT_SECONDS)
        finally:
            logging.disable(logging.NOTSET)


def _dispatch(client: Client, scheduler: str, todo: Iterator[GradingJob], total: int, grader: str,
              plugin: str, run: pool.Run, window: int) -> Iterator[tuple[GradingJob, str]]:
    """Keep ``window`` submissions on the cluster, topping up as each one comes back."""
    running: dict[Future, GradingJob] = {}
    finished = as_completed(loop=client.loop)
    done = 0
    while True:
        for job in todo:
            try:
                packed = worker.pack(job, grader)
            except SubmissionError as exc:
                done += 1
                yield job, pool.ungradable_record(job, str(exc))
                continue
            future = client.submit(pickle.loads, pickle.dumps(_Call(packed, plugin, run)),
                                   key=f"grade-{job.assignment}-{job.student}-{uuid.uuid4().hex[:8]}")
            running[future] = job
            finished.add(future)
            if len(running) >= window:
                break
        if not running:
            return
        future = next(finished)
        job = running.pop(future)
        yield job, _record(future, job, scheduler, done, total)
        done += 1


def _record(future: Future, job: GradingJob, scheduler: str, done: int, total: int) -> str:
    """The record a finished future carries, or the reason it has none."""
    if future.cancelled():
        raise lost(scheduler, done, total)
    try:
        return future.result()
    except KilledWorker:
        return pool.ungradable_record(job, WORKER_KILLED)
    except Exception as exc:
        raise AutograderError(
            f"a Dask worker could not grade {job.student}'s submission ({type(exc).__name__}: {exc}): fix "
            f"that worker and run the same command again; what is graded is kept") from None


def lost(scheduler: str, done: int, total: int) -> AutograderError:
    return AutograderError(
        f"lost the connection to the Dask scheduler at {scheduler} after {done} of {total} submissions: "
        f"check the scheduler, then run the same command again to grade the {total - done} left "
        f"(--force regrades everything)")
