"""Name the likely mistake behind a failed property, by evidence rather than by guesswork.

A diagnosis is established, never guessed from source text: the student's function is called
again (through the same ``Subject`` channel) on the failing input and on a few fixed probe
inputs chosen so that the catalogued mistakes disagree with each other and with the reference,
and a mistake is named only if its variant reproduces the student's outputs on ALL of them.
Behavioural mistakes (autograd broken, inputs changed in place, wrong return type) are
recognised from the replies themselves. Everything is deterministic: fixed probes, and the
catalogue's order breaks ties.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from autograder.sandbox.base import Reply

Variant = Callable[..., Any]  # the mistaken computation, from the same input tensors
Detector = Callable[[Reply, tuple[torch.Tensor, ...]], bool]
Caller = Callable[..., Reply]  # a ``Subject``: ``subject(*tensors, grad=False) -> Reply``


@dataclass(frozen=True)
class Mistake:
    """One typical mistake: what it is called, how to fix it, and how to recognise it."""

    key: str  # unique across the assignment, e.g. "mse.sum_instead_of_mean"
    function: str  # the student function it is a mistake in
    title: str  # short name a student recognises, e.g. "sum instead of mean"
    explanation: str  # one or two sentences with the fix
    variant: Variant | None = None  # the mistaken output, for value mistakes
    detect: Detector | None = None  # for behavioural mistakes
    alternatives: tuple[Variant, ...] = ()  # other ways students write the same mistake
    grad: bool = False  # ``detect`` needs a reply from a call with autograd on

    def __post_init__(self) -> None:
        if (self.variant is None) == (self.detect is None):
            raise ValueError(f"mistake {self.key!r} needs exactly one of `variant` and `detect`")
        if self.alternatives and self.variant is None:
            raise ValueError(f"mistake {self.key!r} has alternatives but no variant")

    @property
    def forms(self) -> tuple[Variant, ...]:
        return () if self.variant is None else (self.variant, *self.alternatives)

    @property
    def text(self) -> str:
        return f"{self.title}: {self.explanation}"


class Diagnoser:
    """The ``diagnose`` hook of ``run_property`` for one student function.

    ``probes`` are extra argument tuples tried after the failing one. A student's output matches
    a variant's within ``rtol`` plus ``atol`` times the variant's magnitude (inputs range from
    1e-6 to 1e4), compared in float64, shapes exactly, NaN equal to NaN and infinities equal.
    """

    def __init__(self, mistakes: Sequence[Mistake], probes: Sequence[tuple[torch.Tensor, ...]] = (),
                 *, rtol: float = 1e-4, atol: float = 1e-5) -> None:
        functions = {m.function for m in mistakes}
        if len(functions) > 1:
            raise ValueError(f"one Diagnoser per student function, got mistakes for {sorted(functions)}")
        self.mistakes = tuple(mistakes)
        self.probes = tuple(tuple(p) for p in probes)
        self.rtol, self.atol = rtol, atol

    def __call__(self, subject: Caller, args: Sequence[torch.Tensor], reply: Reply | None) -> str | None:
        mistake = self.find(subject, args, reply)
        return None if mistake is None else mistake.text

    def find(self, subject: Caller, args: Sequence[torch.Tensor], reply: Reply | None) -> Mistake | None:
        """The first catalogued mistake the evidence establishes, or None."""
        args = tuple(args)
        plain = subject(*args)  # afresh: the failing reply may come from a call with autograd on
        return self._behaviour(subject, args, (reply, plain)) or self._values(subject, args, plain)

    def _behaviour(self, subject: Caller, args: tuple[torch.Tensor, ...],
                   seen: tuple[Reply | None, ...]) -> Mistake | None:
        detectors = [m for m in self.mistakes if m.detect is not None]
        if not detectors:
            return None
        can_grad = all(a.is_floating_point() for a in args)
        graded = subject(*args, grad=True) if can_grad and any(m.grad for m in detectors) else None
        for mistake in detectors:
            replies = (graded,) if mistake.grad else seen
            if any(r is not None and mistake.detect(r, args) for r in replies):
                return mistake
        return None

    def _values(self, subject: Caller, args: tuple[torch.Tensor, ...], plain: Reply) -> Mistake | None:
        candidates = [m for m in self.mistakes if m.variant is not None]
        if not candidates:
            return None
        inputs = (args, *self.probes)
        replies = [plain, *(subject(*x) for x in self.probes)]
        for mistake in candidates:
            if any(self._reproduces(form, inputs, replies) for form in mistake.forms):
                return mistake
        return None

    def _reproduces(self, form: Variant, inputs: Sequence[tuple[torch.Tensor, ...]], replies: Sequence[Reply]) -> bool:
        """True if the variant gives the student's output on every input (raising where they raised)."""
        matched_a_value = False
        for x, reply in zip(inputs, replies):
            try:
                expected = form(*(t.detach().clone() for t in x))
            except Exception:  # the mistaken code would fail here too: consistent only if the student's did
                if reply.error is None:
                    return False
                continue
            if reply.error is not None or not close(reply.value, expected, self.rtol, self.atol):
                return False
            matched_a_value = True
        return matched_a_value


def close(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    """Same structure (tuples), same shapes, values within tolerance (``atol`` relative to the
    largest finite expected value); NaN matches NaN."""
    if isinstance(expected, (tuple, list)):
        return (isinstance(got, tuple) and len(got) == len(expected)
                and all(close(g, e, rtol, atol) for g, e in zip(got, expected)))
    if not isinstance(got, (torch.Tensor, float)) or not isinstance(expected, (torch.Tensor, float, int)):
        return False
    got_t = torch.as_tensor(got).detach().to(torch.float64)
    expected_t = torch.as_tensor(expected).detach().to(torch.float64)
    if got_t.shape != expected_t.shape:
        return False
    finite = expected_t[torch.isfinite(expected_t)]
    scale = float(finite.abs().max()) if finite.numel() else 0.0
    return torch.allclose(got_t, expected_t, rtol=rtol, atol=atol * scale + 1e-300, equal_nan=True)


# Behavioural detectors shared by catalogues -------------------------------------------------

def autograd_broken(reply: Reply, args: tuple[torch.Tensor, ...]) -> bool:
    """Called with autograd on: a tensor came back with no gradient path, or NumPy refused."""
    if reply.error is not None:
        return "requires grad" in reply.error and "numpy" in reply.error.lower()
    if not isinstance(reply.value, torch.Tensor):
        return False
    return reply.grads is None or all(g is None for g in reply.grads)


def inputs_modified(reply: Reply, args: tuple[torch.Tensor, ...]) -> bool:
    """The arguments differ after the call from what was passed in."""
    after = reply.inputs_after
    if len(after) != len(args):
        return False
    return any(a.shape != b.shape or not torch.equal(a.isnan(), b.isnan())
               or not torch.equal(torch.nan_to_num(a), torch.nan_to_num(b.to(a.dtype)))
               for a, b in zip(args, after))


def returned_python_number(reply: Reply, args: tuple[torch.Tensor, ...]) -> bool:
    return reply.error is None and isinstance(reply.value, float)


def failed_with(error: str) -> Detector:
    """The call failed with exactly this error line, e.g. the notebook stub's bare "NotImplementedError"
    (library errors of the same class carry a message, so they are not mistaken for it)."""
    def detect(reply: Reply, args: tuple[torch.Tensor, ...]) -> bool:
        return reply.error == error

    return detect


def returned_type(module: str) -> Detector:
    """The call failed because the value was of a type from ``module`` (e.g. "numpy", "builtins.list")."""
    marker = f"returned a {module}"

    def detect(reply: Reply, args: tuple[torch.Tensor, ...]) -> bool:
        return reply.error is not None and marker in reply.error

    return detect
