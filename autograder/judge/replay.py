"""Hypothesis's search for a failing property, replayed from earlier submissions' searches.

A derandomized search is a function of what its test body answers: whether each input it tries
passes and, if not, where the failure was raised (Hypothesis's ``InterestingOrigin``, which is
how its engine and shrinker tell failures apart). So one property's searches form a tree: at
each node Hypothesis tries one input, the body's answer picks the branch, and a path ends after
the final replay of the minimal example. Every full search this process runs is learnt
(``learn``); a later submission walks the tree (``walk``), asking the student only the inputs on
its own path and judging them with the property's check, and runs no Hypothesis while its
answers stay on known branches; off them, the caller runs the full search and learns its path.

The result is the full search's: every choice Hypothesis makes between two body calls depends
only on the answers so far (generation is seeded by the search function's digest, shrinking by
the same seed and the answers; there is no deadline, database or search for further bugs). The
limit is the batched path's: a function whose answers depend on its call history can leave the
known path where a full run would not have, and is then searched in full. The trees live in
this process and are bounded (``MAX_NODES``), so memory does not grow with the class.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Sequence

from autograder.judge.checks import Mismatch
from autograder.judge.memo import digest
from autograder.judge.properties import Property, outcome_of
from autograder.judge.subject import Subject

MAX_NODES = 100_000  # a few hundred bytes each: tens of MB at most, whatever the class size
Outcome = Hashable  # None for a pass, else the failure's InterestingOrigin
Step = tuple[tuple, Outcome]


@dataclass
class _Node:
    args: tuple
    key: bytes
    after: dict[Outcome, "_Node | None"] = field(default_factory=dict)  # None: the search ended here


@dataclass(frozen=True)
class Replayed:
    """A known search's result: ``mismatch`` at its minimal example, or None if it passed."""

    mismatch: Mismatch | None


_roots: dict[tuple[Property, int], _Node] = {}  # by property and max_examples: both shape the search
_nodes = 0


def learn(prop: Property, max_examples: int, steps: Sequence[Step]) -> None:
    """Add one full search's body calls, in order, to the tree of ``prop`` at ``max_examples``."""
    global _nodes
    if not steps or _nodes + len(steps) > MAX_NODES:
        return
    node = _roots.get((prop, max_examples))
    if node is None:
        node = _roots[(prop, max_examples)] = _Node(steps[0][0], digest(steps[0][0]))
        _nodes += 1
    for index, (args, outcome) in enumerate(steps):
        if node.key != digest(args):
            return  # only a history-dependent function can get here; keep what is known
        if index + 1 == len(steps):
            node.after.setdefault(outcome, None)
            return
        following = node.after.get(outcome)
        if following is None:
            following = _Node(steps[index + 1][0], digest(steps[index + 1][0]))
            node.after[outcome] = following
            _nodes += 1
        node = following


def walk(prop: Property, max_examples: int, subject: Subject) -> Replayed | None:
    """The search's result if ``subject``'s answers stay on known paths, else None."""
    node = _roots.get((prop, max_examples))
    while node is not None:
        try:
            prop.check(subject, node.args)
            mismatch = None
        except Mismatch as caught:
            caught.inputs = node.args
            mismatch = caught
        except Exception:  # a grader error: the full search reports it as it always does
            return None
        outcome = outcome_of(mismatch)
        if outcome not in node.after:
            return None
        following = node.after[outcome]
        if following is None:
            return Replayed(mismatch)
        node = following
    return None


def forget() -> None:
    """Drop every tree (tests; a long-lived process that changes assignments)."""
    global _nodes
    _roots.clear()
    _nodes = 0
