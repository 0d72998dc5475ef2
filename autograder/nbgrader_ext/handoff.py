"""Results a worker pool already computed, handed to nbgrader's autograde step in this process.

``python -m autograder grade --jobs N`` grades submissions in parallel workers but keeps one
writer: this process runs nbgrader's ``autograde`` for each finished submission, so the SQLite
gradebook, ``autograded/`` and formgrader stay nbgrader's own. The grading preprocessor takes the
offered result instead of grading again, but only for the very job it would have run (same
paths, limits and examples) and only while the notebook on disk is the one that was graded.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from autograder.judge.results import SubmissionResult
from autograder.judge.worker import GradingJob

_offered: dict[GradingJob, tuple[str, SubmissionResult]] = {}


def notebook_digest(job: GradingJob) -> str:
    """Taken before the job is dispatched, so a notebook replaced meanwhile is graded afresh
    (every notebook of the folder, for a job that grades them all)."""
    folder = Path(job.submission)
    paths = [folder / job.notebook] if job.notebook else sorted(folder.glob("*.ipynb"))
    digest = hashlib.sha256()
    try:
        for path in paths:
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        return ""
    return digest.hexdigest()


@contextmanager
def offering(job: GradingJob, result: SubmissionResult, digest: str) -> Iterator[None]:
    """Offer ``result`` for ``job`` while nbgrader autogrades it; ``digest`` is of the graded notebook."""
    _offered[job] = (digest, result)
    try:
        yield
    finally:
        _offered.pop(job, None)


def take(job: GradingJob) -> SubmissionResult | None:
    """The offered result of exactly this job, if the notebook is unchanged since it was graded
    (kept while offered: nbgrader asks once per notebook of a test-cell assignment)."""
    digest, result = _offered.get(job, ("", None))
    return result if result is not None and digest == notebook_digest(job) else None

