"""Autograde a class on N workers; one bad submission never stops the class.

Workers grade (``pool`` on this machine, or ``cluster`` on a Dask cluster) and also run
nbgrader's autograde steps on what they graded (``nbgrader_ext/offline.py``); this process only
writes what comes back, in batches (``writer.py``), so the gradebook, ``autograded/`` and
formgrader are exactly nbgrader's own and the writer keeps up with many workers. A submission
with nothing built (ungradable, or a course whose autograde steps this project does not know)
goes through ``NbGraderAPI.autograde`` here, whose grading preprocessor takes the worker's
result. What nbgrader could not grade at all (a notebook that is not JSON, a kernel that would
not start) becomes an "ungradable" record with the reason, written where the trusted grader
writes its records, so reports have no holes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import Callable

from tqdm import tqdm
from traitlets.config import Config

from autograder.errors import AuthoringError
from autograder.judge.results import SubmissionResult
from autograder.nbgrader_ext import handoff, offline
from autograder.nbgrader_ext.preprocessor import SandboxedGrading
from autograder.judge import worker
from autograder.judge.worker import GradingJob
from autograder.pipeline import deadlines, exchange, pool, records_io, regrade as regrades
from autograder.pipeline.course import CourseRoot, failure_reason
from autograder.pipeline.writer import Batches, Built, Writer, handed
from autograder.sandbox.bwrap import BwrapSandbox


@dataclass(frozen=True)
class Outcome:
    """One row of the class summary."""

    student: str
    status: str  # "graded" or "ungradable"
    score: float | None = None
    max_score: float | None = None
    flags: tuple[str, ...] = ()  # each kind once: a record may hold two flags of one kind (two details)
    reason: str | None = None
    late: str = ""  # "late 3 h 20 min: −2 → 34/36" (deadlines.late_notes); "" when on time


@dataclass(frozen=True)
class ClassSummary:
    assignment: str
    outcomes: tuple[Outcome, ...]
    skipped: tuple[str, ...] = ()  # already graded on the cluster, unchanged since (resume)
    regrade: regrades.Regrade | None = None  # what changed, when graded with ``regrade=True``

    @property
    def ungradable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "graded"]


def grade_class(course: CourseRoot, assignment: str, students: list[str] | None = None,
                sandbox: bool = True, progress: bool = True, limits: dict | None = None,
                jobs: int | None = None, scheduler: str | None = None, force: bool = False,
                regrade: bool = False, dry_run: bool = False,
                on_written: Callable[[str], None] | None = None) -> ClassSummary:
    """Autograde ``students`` (default: everyone in ``submitted/``) on ``jobs`` workers and summarise.

    ``limits`` overrides ``SandboxedGrading`` traits for this run (e.g. ``{"call_timeout": 5}``).
    Workers grade in parallel, here or (``scheduler``, a Dask address) on a cluster; this process
    alone writes the gradebook, in batched transactions of what the workers built, so SQLite
    never sees two writers. On a cluster a whole-class run resumes: it skips the submissions
    whose record is newer than the notebook, unless ``force``; the local pool grades them all.

    ``regrade`` (implies ``force``) compares every new record with the one it replaces and writes
    the changes to ``grading/<assignment>/regrade-<UTC time>.csv`` (see ``regrade.py``);
    ``dry_run`` (only with ``regrade``) grades and compares without writing anything: no
    gradebook, no ``autograded/``, no records, no CSV.

    ``on_written(student)`` runs in this process after each submission's gradebook entry is
    written (not with ``dry_run``), while the workers grade the rest: the demo writes that
    student's feedback there.
    """
    if dry_run and not regrade:
        raise AuthoringError("--dry-run shows what a regrade would change: use it with --regrade")
    force = force or regrade
    submitted = course.submitted_students(assignment)
    missing = sorted(set(students or ()) - set(submitted))
    if missing:
        raise AuthoringError(
            f"no submission of {assignment} for {', '.join(missing)} in "
            f"{course.root / 'submitted'}: run `python -m autograder collect {assignment}` first")
    todo = list(dict.fromkeys(students)) if students else submitted
    skipped = () if students or force or not scheduler else tuple(
        s for s in todo if _graded_since_submitted(course, assignment, s))
    todo = [s for s in todo if s not in skipped]
    if not todo and skipped:
        return ClassSummary(assignment, (), skipped)
    if not todo:
        raise AuthoringError(
            f"no submissions of {assignment} in {course.root / 'submitted'}: "
            f"run `python -m autograder collect {assignment}` (or zip-collect) first")
    stale = [] if dry_run else exchange.unreleased_points(course, assignment)
    if stale:  # nbgrader would score against the old points: a full score above them is refused
        raise AuthoringError("; ".join(stale) + f": run `python -m autograder release {assignment}` "
                             "first, so the gradebook takes the new points (--dry-run shows the change now)")
    api = course.api(_grading_config(sandbox, limits or {}))
    plain = os.environ.get("AUTOGRADER_GRADER", "sandboxed") == "plain"
    if regrade and plain:
        raise AuthoringError("--regrade compares the trusted grading records, which plain nbgrader "
                             "grading (AUTOGRADER_GRADER=plain) does not write")
    diff = regrades.Regrade(assignment, regrades.now(), dry_run) if regrade else None
    before = regrades.old_records(course.root, assignment, todo) if regrade else {}
    bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="student", disable=not progress)
    if plain:  # nbgrader's own Execute: the baseline
        outcomes = {}
        for student in todo:
            outcomes[student] = write_one(course, api, assignment, student, sandbox)
            if on_written is not None:
                on_written(student)
            bar.update()
        bar.close()
        outcomes = _with_late_notes(course, assignment, outcomes)
        return ClassSummary(assignment, tuple(outcomes[s] for s in todo))
    if sandbox:
        BwrapSandbox.check_available()  # refuse the class up front, with the install hint
    step = SandboxedGrading(config=api.config)
    planned = [step.job(student, assignment, assignment) for student in todo]
    digests = {job: handoff.notebook_digest(job) for job in planned}
    pooled = scheduler is None and pool.in_processes(len(planned), jobs or pool.default_jobs())
    if pooled:
        pool.start_forkserver()  # the workers' imports overlap this process's own
    # The assignment is checked here, with a clear error; a pool's workers build the input cache
    # themselves (once, while their templates start), other executors find it built.
    worker.prepare(str(course.root), assignment, step.max_examples, inputs=not pooled)
    outcomes = {}

    def finished(job: GradingJob, result: SubmissionResult, written: bool = True) -> None:
        if written and on_written is not None:
            on_written(job.student)
        if diff is not None:
            saved = result if dry_run else records_io.load(course, job.student, assignment)
            diff.add(before[job.student], saved or result)
        bar.set_postfix_str(job.student)
        bar.update()

    def settle(ready: list[tuple[Built, bool]]) -> None:
        for built, alone in ready:
            outcomes[built.student] = _write_alone(course, api, assignment, sandbox, built, digests[built.job]) \
                if alone else _outcome(built.result)
            finished(built.job, built.result)

    writer = contextlib.nullcontext() if dry_run else Writer(course, api, assignment)
    try:  # a lost cluster stops here, with every record so far written
        with writer:
            plan = None if dry_run else writer.plan()
            run = worker.run if plan is None else functools.partial(offline.run, plan=plan)
            batches = Batches(writer)
            try:
                for job, text in _executor(planned, jobs, scheduler, run):
                    result, built = handed(job, text)
                    if dry_run:  # the worker's record is what autograde would save: compare, write nothing
                        outcomes[job.student] = _outcome(result)
                        finished(job, result, written=False)
                    elif built is not None and handoff.notebook_digest(job) == digests[job]:
                        settle(batches.add(built))
                    else:  # not graded, nothing built, or the notebook changed since it was graded
                        settle([(Built(job, result), True)])
            finally:  # also when the cluster is lost: what came back is written
                settle(batches.flush())
    finally:
        bar.close()
        if diff is not None and diff.changes and not dry_run:  # kept even if the run stops: old scores are gone
            regrades.write_csv(course.root, diff)
    if not dry_run:
        outcomes = _with_late_notes(course, assignment, outcomes)
    return ClassSummary(assignment, tuple(outcomes[s] for s in todo), skipped, diff)


def _write_alone(course: CourseRoot, api, assignment: str, sandbox: bool, built: Built, digest: str) -> Outcome:
    """nbgrader's own autograde of one submission, taking the worker's result (an ungradable one,
    one the writer could not write, or one whose notebook changed since: graded afresh)."""
    with handoff.offering(built.job, built.result, digest):
        return write_one(course, api, assignment, built.student, sandbox, built.result)


def _executor(planned: list[GradingJob], jobs: int | None, scheduler: str | None, run: pool.Run):
    """Where the jobs run: the local pool, or a Dask cluster; the same jobs and records either way."""
    if scheduler is None:
        return pool.results(planned, jobs or pool.default_jobs(), run)
    from autograder.pipeline import cluster  # imports distributed: only a cluster run needs it installed

    return cluster.results(planned, scheduler, run)


def _graded_since_submitted(course: CourseRoot, assignment: str, student: str) -> bool:
    """A record written after the notebook last changed (ctime: a re-collected copy is newer,
    whatever modification time it kept), so a resumed run need not grade it again."""
    record = course.record(student, assignment)
    notebooks = list(course.submitted(student, assignment).glob("*.ipynb"))  # several, in a test-cell assignment
    try:
        return bool(notebooks) and record.stat().st_mtime >= max(nb.stat().st_ctime for nb in notebooks)
    except OSError:
        return False


def write_one(course: CourseRoot, api, assignment: str, student: str, sandbox: bool = True,
              graded: SubmissionResult | None = None) -> Outcome:
    """Run nbgrader's autograde of one submission (gradebook, ``autograded/``); a failure comes
    back as an ungradable ``Outcome``, with the grader's own reason when it had one."""
    records_io.forget(course, student, assignment)
    result = api.autograde(assignment, student, force=True, create=True)
    if not result.get("success"):
        reason = graded.reason if graded is not None and graded.reason else failure_reason(result)
        records_io.save(course, SubmissionResult(
            student=student, assignment=assignment, status="ungradable", reason=reason,
            sandboxed=sandbox))
        return Outcome(student, "ungradable", reason=reason)
    record = records_io.load(course, student, assignment)
    return _outcome(record) if record is not None else _outcome_from_gradebook(course, assignment, student)


def _with_late_notes(course: CourseRoot, assignment: str, outcomes: dict[str, Outcome]) -> dict[str, Outcome]:
    """Graded outcomes with their lateness and penalty from the gradebook (``deadlines``): one
    query for the class, after grading, not one gradebook session per submission in the writer."""
    notes = deadlines.late_notes(course.db_url(), assignment)
    return {student: dataclasses.replace(o, late=notes[student]) if o.status == "graded" and student in notes else o
            for student, o in outcomes.items()}


def _outcome(record: SubmissionResult) -> Outcome:
    return Outcome(record.student, record.status, record.score, record.max_score,
                   tuple(dict.fromkeys(f.kind for f in record.flags)), record.reason)


def _outcome_from_gradebook(course: CourseRoot, assignment: str, student: str) -> Outcome:
    """Plain nbgrader (no trusted record): the score is what nbgrader saved."""
    with course.gradebook() as gb:
        sub = gb.find_submission(assignment, student)
        flags = ("needs-manual-grade",) if sub.needs_manual_grade else ()
        return Outcome(student, "graded", sub.score, sub.max_score, flags)


def _grading_config(sandbox: bool, limits: dict) -> Config:
    """This run's overrides of the grading preprocessor's traits (see nbgrader_ext/preprocessor.py)."""
    cfg = Config()
    cfg.SandboxedGrading = Config({**limits, **({} if sandbox else {"sandbox": False})})
    return cfg


def summary_table(summary: ClassSummary) -> str:
    """A fixed-width table: student, score/max, status, flags or reason."""
    rows = [("student", "score", "status", "flags / reason")]
    for o in summary.outcomes:
        score = "-" if o.score is None else f"{round(o.score, 2):g}/{o.max_score:g}"
        note = o.reason if o.status != "graded" else ", ".join(o.flags + ((o.late,) if o.late else ()))
        rows.append((o.student, score, o.status, note or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * max(len(ln) for ln in lines))
    graded = len(summary.outcomes) - len(summary.ungradable)
    lines.append(f"{graded} graded, {len(summary.ungradable)} ungradable")
    if summary.skipped:
        lines.append(f"{len(summary.skipped)} skipped: graded before and unchanged since (--force regrades them)")
    return "\n".join(ln.rstrip() for ln in lines)
