"""The batched fast path: a property a submission passes is judged without running Hypothesis.

A passing derandomized search asks exactly the inputs the class's ``InputCache`` recorded,
whatever the function under test answers (``input_cache`` says why). So each cached input is
judged directly, on the trusted side, by the property's own check against a remembering
``Subject``; the calls the checks still need go to the sandbox together, one batch per round
(a check may need a second round, e.g. for a call with autograd on). If every input passes, the
property passes, as the search would have. Any failure, grader error or sandbox fault while
prefetching falls back to ``run_property`` with the same subject, so the search, its shrinking
and the diagnosis are Hypothesis's own, reusing every reply already fetched. A prefetch fault is
not sticky: the one-by-one run may never make the call that broke the batch. Before a full run,
the searches of earlier submissions are replayed (``replay``): a student whose answers follow a
known search gets its result without Hypothesis, and each full run teaches the next.

A remembered reply equals a fresh call because the server reseeds ``random``, NumPy and torch
from the function name and its inputs before every call. Limits: a function whose answers
depend on its own call history (a global counter, a cache it fills, state it mutates) can
answer differently in a batch than one by one, so its result may differ from a full run's; and
a function that calls a forbidden loss only on some inputs may be flagged for a call a full run
would not have made (it was still made by the student's code).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from autograder.judge import replay
from autograder.judge.properties import Diagnose, Property, failed_check, run_property
from autograder.judge.results import CheckResult
from autograder.judge.subject import Subject
from autograder.sandbox.base import Reply

if TYPE_CHECKING:
    from autograder.judge.input_cache import InputCache

MAX_ROUNDS = 4  # the checks here need at most two; more means something unexpected: full run


class _Unfetched(BaseException):
    """A check reached a call not fetched yet. A BaseException, so no ``except Exception`` in a
    check can take it for the student's failure."""


class _Probe:
    """Stands in for the subject during a round: answers from memory, notes the first missing call."""

    def __init__(self, subject: Subject) -> None:
        self.name = subject.name
        self._subject = subject
        self.missing: list[tuple[tuple[torch.Tensor, ...], bool]] = []

    def __call__(self, *tensors: torch.Tensor, grad: bool = False) -> Reply:
        reply = self._subject.known(tensors, grad)
        if reply is None:
            self.missing.append((tensors, grad))
            raise _Unfetched
        return reply


def judge_property(prop: Property, subject: Subject, *, max_examples: int, diagnose: Diagnose | None = None,
                   inputs: "InputCache | None" = None) -> CheckResult:
    """What ``run_property`` would return, without a search when every cached input passes."""
    cached = None if inputs is None else inputs.of(prop)
    if cached is None:
        return run_property(prop, subject, max_examples=max_examples, diagnose=diagnose)
    if _every_input_passes(prop, subject, cached):
        return CheckResult(name=prop.name, passed=True, weight=prop.weight)
    known = replay.walk(prop, max_examples, subject)
    if known is not None and not subject.out_of_time:
        if known.mismatch is None:
            return CheckResult(name=prop.name, passed=True, weight=prop.weight)
        return failed_check(prop, subject, known.mismatch, diagnose)
    steps: list = []
    result = run_property(prop, subject, max_examples=max_examples, diagnose=diagnose, steps=steps)
    if not subject.out_of_time:  # a search cut short by a budget is no path of the search
        replay.learn(prop, max_examples, steps)
    return result


def _every_input_passes(prop: Property, subject: Subject, cached: Sequence[tuple]) -> bool:
    pending = list(cached)
    for _ in range(MAX_ROUNDS):
        probe, unfetched = _Probe(subject), []
        for args in pending:
            try:
                prop.check(probe, args)
            except _Unfetched:
                unfetched.append(args)
            except Exception:  # a mismatch (or a grader bug): the full run finds, shrinks and reports it
                return False
        if not unfetched:
            return True
        if not subject.prefetch(probe.missing):
            return False
        pending = unfetched
    return False
