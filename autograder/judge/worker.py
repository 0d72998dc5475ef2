"""Grade one submission from plain data to a plain record: the unit every executor runs.

A ``GradingJob`` says everything grading needs (paths, limits, examples) and nothing else, so
the same ``run`` works in this process (``--jobs 1``, nbgrader's own ``autograde``), in a
local worker pool or on a cluster worker. What a worker sets up once and keeps for every job
(the assignment's instructor side, the per-class input cache, the sandbox template) lives
here, in ``prepare``, and nowhere else.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from autograder.judge.grader import Assignment, Settings, grade_submission, ungradable
from autograder.judge.input_cache import load_or_build
from autograder.judge.notebook import read_notebook
from autograder.judge.results import SubmissionResult
from autograder.reports.records import dumps, result_to_json
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.limits import Limits
from autograder.sandbox.template import shared_template


@dataclass(frozen=True)
class GradingJob:
    """One submission to grade; plain, hashable data that can cross a process boundary."""

    course_root: str
    assignment: str
    student: str
    submission: str  # the student's folder (submitted/<student>/<assignment>), copied into the sandbox
    notebook: str  # the graded notebook's file name inside that folder
    limits: Limits = Limits()
    max_examples: int = 50
    sandboxed: bool = True

    @property
    def settings(self) -> Settings:
        return Settings(max_examples=self.max_examples, sandboxed=self.sandboxed, limits=self.limits)


@functools.lru_cache(maxsize=8)
def _assignment(course_root: str, name: str) -> Assignment:
    return Assignment.load(name, Path(course_root))


def prepare(course_root: str, assignment: str, max_examples: int, sandboxed: bool = False) -> None:
    """Per-worker set-up, once: the instructor's side and the class's input cache (built here if
    no valid one is on disk, so a caller that prepares before starting workers builds it once),
    and with ``sandboxed`` this process's sandbox template, so the first job pays nothing extra."""
    load_or_build(_assignment(course_root, assignment), max_examples)
    if sandboxed:
        shared_template()


def grade(job: GradingJob) -> SubmissionResult:
    """Grade ``job``; a notebook that cannot be read is an ungradable result, never an exception."""
    assignment = _assignment(job.course_root, job.assignment)
    files = Path(job.submission)
    try:
        notebook = read_notebook(files / job.notebook)
    except ValueError as exc:
        return ungradable(job.student, job.assignment, str(exc), sandboxed=job.sandboxed)
    factory = sandbox_factory(job.limits, files, isolate=job.sandboxed)
    return grade_submission(job.student, assignment, notebook, factory, job.settings,
                            load_or_build(assignment, job.max_examples))


def run(job: GradingJob) -> str:
    """What an executor calls: the record as JSON text, the only thing that crosses back."""
    return dumps(result_to_json(grade(job)))
