"""A ``Property`` is one rule a student function must obey; ``run_property`` searches for a break.

Hypothesis draws the inputs, calls the student's function through its ``Subject`` and, on a
failure, shrinks it; its final replay is the minimal example, which becomes the student's
counterexample. Hypothesis must stay silent: under plain nbgrader any stderr output zeroes the
test cell, so its reporter and warnings are muted here and everything goes into the result.
Once the subject is out of time (a spent budget, see ``autograder.judge.student_process``) the
search stops at once, without shrinking: the check fails with the budget's reason.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.internal.escalation import InterestingOrigin
from hypothesis.reporting import with_reporter

from autograder.judge import draws  # noqa: F401  (before any search: draws independent of the entry point)
from autograder.judge.checks import Mismatch, show
from autograder.judge.results import CheckResult, Counterexample
from autograder.judge.subject import Subject
from autograder.sandbox.base import Reply

Diagnose = Callable[[Subject, tuple, "Reply | None"], "str | None"]
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)  # no explain: it re-runs a lot


class _StopSearch(BaseException):
    """Stops a search: not an Exception, so Hypothesis neither shrinks nor reports it."""


@dataclass(frozen=True)
class Property:
    """``check(subject, args)`` raises ``Mismatch`` when ``function`` breaks the rule called ``name``."""

    name: str  # in a student's words
    function: str  # the student function it calls
    strategy: st.SearchStrategy[tuple]
    arg_names: tuple[str, ...]
    check: Callable[[Subject, tuple], None]
    weight: float = 1.0


def search_settings(max_examples: int) -> settings:
    return settings(
        derandomize=True, database=None, deadline=None, max_examples=max_examples,
        suppress_health_check=list(HealthCheck), print_blob=False, phases=_PHASES,
        report_multiple_bugs=False, verbosity=Verbosity.quiet,
    )


def _mismatch_in(error: BaseException) -> Mismatch | None:
    """The Mismatch Hypothesis re-raised, even when wrapped (e.g. a flaky student function)."""
    if isinstance(error, Mismatch):
        return error
    if isinstance(error, BaseExceptionGroup):
        found = [_mismatch_in(inner) for inner in error.exceptions]
        return next((m for m in reversed(found) if m is not None), None)
    return None


def outcome_of(mismatch: Mismatch | None) -> Hashable:
    """What a search's next step depends on: a pass, or where the failure was raised (as
    Hypothesis itself tells failures apart)."""
    return None if mismatch is None else InterestingOrigin.from_exception(mismatch)


def run_property(prop: Property, subject: Subject, *, max_examples: int,
                 diagnose: Diagnose | None = None, steps: list | None = None) -> CheckResult:
    """Search for inputs that break ``prop``; errors other than a Mismatch are grader bugs and propagate.

    ``steps``, if given, receives every ``(args, outcome_of(...))`` the search's body saw, in order.
    """
    if _spent(subject):
        return _cut_short(prop, subject)

    @search_settings(max_examples)
    @given(prop.strategy)
    def search(args: tuple) -> None:
        try:
            prop.check(subject, args)
        except Mismatch as mismatch:
            if not _spent(subject):
                mismatch.inputs = args
                if steps is not None:
                    steps.append((args, outcome_of(mismatch)))
                raise
        if _spent(subject):
            raise _StopSearch
        if steps is not None:
            steps.append((args, None))

    with warnings.catch_warnings(), with_reporter(_silent):
        warnings.simplefilter("ignore")
        try:
            search()
        except _StopSearch:
            return _cut_short(prop, subject)
        except BaseException as error:  # Hypothesis re-raises the minimal failure (or a group of them)
            mismatch = _mismatch_in(error)
            if mismatch is None:
                raise
            return failed_check(prop, subject, mismatch, diagnose)
    return CheckResult(name=prop.name, passed=True, weight=prop.weight)


def failed_check(prop: Property, subject: Subject, mismatch: Mismatch, diagnose: Diagnose | None) -> CheckResult:
    counterexample = Counterexample(
        inputs=tuple((name, show(value)) for name, value in zip(prop.arg_names, mismatch.inputs)),
        expected=mismatch.expected,
        got=mismatch.got,
    )
    diagnosis = diagnose(subject, mismatch.inputs, mismatch.reply) if diagnose else None
    message = f"{mismatch.message}: {mismatch.advice}" if mismatch.advice and not diagnosis else mismatch.message
    return CheckResult(name=prop.name, passed=False, weight=prop.weight, message=message,
                       counterexample=counterexample, diagnosis=diagnosis)


def _spent(subject: Subject | None) -> bool:
    return isinstance(subject, Subject) and subject.out_of_time


def _cut_short(prop: Property, subject: Subject) -> CheckResult:
    return CheckResult(name=prop.name, passed=False, weight=prop.weight,
                       message=f"`{subject.name}` {subject.fault} before this check could finish")


def _silent(_: Any) -> None:
    return None
