"""Grade one submission from plain data to a plain record: the unit every executor runs.

A ``GradingJob`` says everything grading needs (paths, limits, examples) and nothing else, so
the same ``run`` works in this process (``--jobs 1``, nbgrader's own ``autograde``), in a
local worker pool or on a cluster worker. A cluster worker shares no disk with the course, so
there the job travels as a ``PackedJob`` (the student's files as bytes) that ``unpacked`` turns
back into a ``GradingJob`` on a private folder. What a worker sets up once and keeps for every
job (the assignment's instructor side, the per-class input cache, the sandbox template) lives
here, in ``prepare``, and nowhere else.
"""
from __future__ import annotations

import functools
import hashlib
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Iterator

from autograder.errors import AuthoringError, SubmissionError
from autograder.judge import integrity, test_cells
from autograder.judge.grader import Assignment, Settings, grade_submission, ungradable
from autograder.judge.input_cache import cache_key, load_or_build
from autograder.judge.notebook import read_notebook
from autograder.judge.results import SubmissionResult
from autograder.judge.test_cells import OrdinaryAssignment, has_properties
from autograder.reports.records import dumps, result_to_json
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.limits import Limits
from autograder.sandbox.template import shared_template, start_shared


@dataclass(frozen=True)
class GradingJob:
    """One submission to grade; plain, hashable data that can cross a process boundary."""

    course_root: str
    assignment: str
    student: str
    submission: str  # the student's folder (submitted/<student>/<assignment>), copied into the sandbox
    notebook: str  # the graded notebook's file name inside that folder; "" for all (a test-cell assignment)
    limits: Limits = Limits()
    max_examples: int = 50
    sandboxed: bool = True
    origin: str = ""  # where ``submission`` was copied from (a cluster worker's private copy), for messages

    @property
    def settings(self) -> Settings:
        return Settings(max_examples=self.max_examples, sandboxed=self.sandboxed, limits=self.limits)


@functools.lru_cache(maxsize=8)
def _assignment(course_root: str, name: str) -> Assignment | OrdinaryAssignment:
    if has_properties(course_root, name):
        return Assignment.load(name, Path(course_root))
    return OrdinaryAssignment.load(name, Path(course_root))


def prepare(course_root: str, assignment: str, max_examples: int, sandboxed: bool = False,
            inputs: bool = True) -> None:
    """Per-worker set-up, once: the instructor's side and, with ``inputs``, the class's input cache
    (built here if no valid one is on disk; processes building it at once build it once), and
    with ``sandboxed`` this process's sandbox template, started first so its imports overlap the
    cache's build; the first job then pays nothing extra."""
    if sandboxed:
        start_shared()
    loaded = _assignment(course_root, assignment)
    if inputs and isinstance(loaded, Assignment):
        load_or_build(loaded, max_examples)
    if sandboxed:
        shared_template()


def grade(job: GradingJob) -> SubmissionResult:
    """Grade ``job``; a notebook that cannot be read is an ungradable result, never an exception.
    Content that staff pages neutralise (HTML, scripts, active files) is flagged for a person."""
    result = _graded(job)
    active = integrity.active_content(Path(job.submission), read_notebook)
    return replace(result, flags=result.flags + tuple(active)) if active else result


def _graded(job: GradingJob) -> SubmissionResult:
    assignment = _assignment(job.course_root, job.assignment)
    files = Path(job.submission)
    if isinstance(assignment, OrdinaryAssignment):
        result = test_cells.grade(job.student, assignment, files, functools.partial(
            sandbox_factory, job.limits, isolate=job.sandboxed), job.settings)
        if result.reason and job.origin:
            result = replace(result, reason=result.reason.replace(job.submission, job.origin))
        return result
    try:
        notebook = read_notebook(files / job.notebook)
    except ValueError as exc:  # the reason names the file as the course has it, also from a private copy
        reason = str(exc).replace(job.submission, job.origin) if job.origin else str(exc)
        return ungradable(job.student, job.assignment, reason, sandboxed=job.sandboxed)
    factory = sandbox_factory(job.limits, files, isolate=job.sandboxed)
    return grade_submission(job.student, assignment, notebook, factory, job.settings,
                            load_or_build(assignment, job.max_examples))


def run(job: GradingJob) -> str:
    """What an executor calls: the record as JSON text, the only thing that crosses back."""
    return dumps(result_to_json(grade(job)))


@dataclass(frozen=True)
class PackedJob:
    """A ``GradingJob`` with the student's files inside, for a worker that shares no disk with the
    course. Plain data only (names, limits, bytes read by the trusted side), so nothing in it was
    built by student code; ``grader`` is the dispatching machine's ``grader_key``."""

    job: GradingJob
    files: tuple[tuple[str, bytes | None], ...]  # POSIX path inside the folder; None for a folder
    grader: str


@functools.lru_cache(maxsize=8)
def grader_key(course_root: str, assignment: str, max_examples: int) -> str:
    """What makes two machines grade alike: the input cache's key (versions, the assignment's and
    the judge's sources, ``max_examples``) and the instructor notebook the parts come from."""
    loaded = _assignment(course_root, assignment)
    if isinstance(loaded, OrdinaryAssignment):
        return hashlib.sha256(loaded.key() + Path(test_cells.__file__).read_bytes()).hexdigest()[:32]
    source = Path(course_root) / "source" / assignment / f"{assignment}.ipynb"
    return hashlib.sha256(cache_key(loaded, max_examples).encode() + source.read_bytes()).hexdigest()[:32]


def pack(job: GradingJob, grader: str) -> PackedJob:
    """Read the student's folder as ``file_frames`` sends it to a sandbox (no symlink); a folder
    the sandbox could not hold anyway is a ``SubmissionError`` naming its size."""
    root = Path(job.submission)
    entries, size = [], 0
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            continue
        data = path.read_bytes() if path.is_file() else None
        size += len(data or b"")
        if size > job.limits.scratch_bytes:
            raise SubmissionError(
                f"{root} holds over {job.limits.scratch_bytes // 2**20} MiB of files, more than a "
                f"student's sandbox holds: remove what is not the student's work and grade again")
        entries.append((path.relative_to(root).as_posix(), data))
    return PackedJob(job, tuple(entries), grader)


@contextmanager
def unpacked(packed: PackedJob, course_root: str) -> Iterator[GradingJob]:
    """``packed`` as a ``GradingJob`` on a private temporary copy of its files, graded against this
    machine's ``course_root``; refused (``AuthoringError``) if this machine would grade differently."""
    job = packed.job
    here = grader_key(course_root, job.assignment, job.max_examples)
    if here != packed.grader:
        raise AuthoringError(
            f"the grader at {course_root} differs from the one that sent {job.student}'s submission "
            f"(grader key {here}, sent {packed.grader}): run every Dask worker in a checkout of the "
            f"same commit, with the same virtualenv, started in its course root")
    with tempfile.TemporaryDirectory(prefix="autograder-job-") as folder:
        for relative, data in packed.files:
            parts = PurePosixPath(relative).parts
            if not parts or relative.startswith("/") or ".." in parts:
                raise ValueError(f"refusing to unpack {relative!r} outside {folder}")
            target = Path(folder, *parts)
            if data is None:
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        yield replace(job, course_root=course_root, submission=folder, origin=job.submission)
