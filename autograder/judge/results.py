"""One result model that every writer (gradebook, results.json, CSV, HTML, feedback) reads.

Failure is a value: a submission that could not be graded is a ``SubmissionResult`` with a
status and a reason, never a missing row.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Counterexample:
    """A failing input rendered for a student to read: the smallest one Hypothesis found, or a
    hand-written teaching input (then ``by_hand`` is the reference's arithmetic on it, one line)."""

    inputs: tuple[tuple[str, str], ...]  # (argument name, repr)
    expected: str
    got: str
    by_hand: str = ""


@dataclass(frozen=True)
class CheckResult:
    """One property (or one public check) of one part."""

    name: str  # what was checked, in a student's words
    passed: bool
    weight: float = 1.0
    message: str = ""  # why it failed, plainly
    counterexample: Counterexample | None = None
    example: Counterexample | None = None  # the simplest teaching input that fails too, if any
    diagnosis: str | None = None  # the named likely mistake, if one matched
    image_png: bytes | None = None  # student vs reference curve, for the sweeps


@dataclass(frozen=True)
class PartResult:
    """One grade cell of the notebook."""

    grade_id: str
    title: str
    functions: tuple[str, ...]
    max_score: float
    score: float
    checks: tuple[CheckResult, ...] = ()
    error: str | None = None  # the whole part failed for one reason (timeout, crash, missing)
    visibility: str = "visible"
    all_or_nothing: bool = False  # the points need every check (the lesson's examples), not a share each
    notebook: str = ""  # its notebook's file name, in an assignment of several (test-cell assignments)


PER_PROCESS_LIMITS = "per-process-limits"  # the kind of Flag of a sandbox without a cgroup (``grader``)


@dataclass(frozen=True)
class Flag:
    """Something a TA should look at; never an automatic zero."""

    kind: str  # "forbidden-call", "sandbox-escape", "tamper", "missing-cell", "duplicate-cell", ...
    detail: str


@dataclass(frozen=True)
class SubmissionResult:
    student: str
    assignment: str
    status: str  # "graded" or "ungradable"
    parts: tuple[PartResult, ...] = ()
    reason: str | None = None  # why it could not be graded
    flags: tuple[Flag, ...] = ()
    sandboxed: bool = True
    manual_parts: tuple[str, ...] = field(default_factory=tuple)  # grade ids TAs still grade
    cell_errors: tuple[str, ...] = ()  # cells of the notebook that raised, hung or died, for the student

    @property
    def score(self) -> float:
        return round(sum(p.score for p in self.parts), 6)

    @property
    def max_score(self) -> float:
        return round(sum(p.max_score for p in self.parts), 6)
