"""A student function as the properties see it: call it with tensors, get a ``Reply`` back.

A sandbox fault (timeout, crash, broken protocol) is turned into a failed ``Reply`` and kept:
once a function has timed out, every later call answers with the same reason at once, so
Hypothesis shrinking a failure does not wait out the same timeout hundreds of times. A spent
time budget (``autograder.judge.student_process``) is such a fault too, and marks the subject
``out_of_time``, so the checks still to run stop at once.

With ``remember`` (the batched fast path, ``autograder.judge.batched``) a subject answers a
call it has seen from memory and can fetch many calls in one round trip (``prefetch``). That
equals a fresh call because the server reseeds every call from its inputs; a function whose
answers depend on its own call history is the limit (see ``batched``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

import torch

from autograder.judge.student_process import OutOfTime
from autograder.judge.memo import digest
from autograder.sandbox.base import Call, Figure, Reply, Sandbox, SandboxFault

if TYPE_CHECKING:
    from autograder.judge.input_cache import InputCache

PREFETCH_CHUNK = 64  # calls per round trip: one batch shares one call timeout


class Subject:
    """One named student function behind a sandbox; nothing here imports student code."""

    def __init__(self, name: str, sandbox: Sandbox, timeout: float | None = None, *, remember: bool = False) -> None:
        self.name = name
        self._sandbox = sandbox
        self._timeout = timeout
        self.fault: str | None = None  # set once the sandbox failed; sticky
        self.out_of_time = False  # the fault is a spent budget
        self._replies: dict[tuple[bool, bytes], Reply] | None = {} if remember else None
        self.batches = remember  # off after a prefetch fault: one lost timeout per function at most

    def __call__(self, *tensors: torch.Tensor, grad: bool = False) -> Reply:
        if self.fault is not None:
            return Reply(error=self.fault)
        key = None if self._replies is None else (grad, digest(tensors))
        if key is not None and key in self._replies:
            return self._replies[key]
        try:
            reply = self._sandbox.call(self.name, tensors, grad=grad, timeout=self._timeout)
        except SandboxFault as fault:
            self._failed(fault)
            return Reply(error=fault.reason)
        if key is not None:
            self._replies[key] = reply
        return reply

    def known(self, tensors: Sequence[torch.Tensor], grad: bool) -> Reply | None:
        """The remembered reply to this call, if any (never after a fault: then every call fails)."""
        if self._replies is None or self.fault is not None:
            return None
        return self._replies.get((grad, digest(tensors)))

    def prefetch(self, calls: Sequence[tuple[tuple[torch.Tensor, ...], bool]]) -> bool:
        """Fetch ``(tensors, grad)`` calls in batches and remember the replies. A fault here is
        NOT sticky (a one-by-one run might never make that call), a spent budget is: returns False
        and batches no more."""
        if not self.batches or self.fault is not None:
            return False
        wanted = {(grad, digest(tensors)): Call(self.name, tuple(tensors), grad) for tensors, grad in calls}
        missing = [(key, call) for key, call in wanted.items() if key not in self._replies]
        for start in range(0, len(missing), PREFETCH_CHUNK):
            chunk = missing[start:start + PREFETCH_CHUNK]
            try:
                replies = self._sandbox.call_batch([call for _, call in chunk], timeout=self._timeout)
            except SandboxFault as fault:
                if isinstance(fault, OutOfTime):
                    self._failed(fault)
                self.batches = False
                return False
            self._replies.update((key, reply) for (key, _), reply in zip(chunk, replies))
        return True

    def _failed(self, fault: SandboxFault) -> None:
        self.fault, self.out_of_time = fault.reason, isinstance(fault, OutOfTime)

    def __repr__(self) -> str:
        return f"Subject({self.name!r})"


class FunctionSource(Protocol):
    """Where parts find a submission's functions and figures (one sandbox, or one with restarts),
    and the input cache of its class, if any (``autograder.judge.input_cache``)."""

    inputs: "InputCache | None"

    def subject(self, name: str) -> Subject: ...

    def figure(self, name: str) -> tuple[Figure | None, str | None]: ...


class SandboxFunctions:
    """A ``FunctionSource`` over one sandbox; a function keeps one ``Subject`` so faults stay sticky.
    With ``inputs`` the subjects remember their replies, for the batched fast path."""

    def __init__(self, sandbox: Sandbox, timeout: float | None = None, inputs: "InputCache | None" = None) -> None:
        self._sandbox = sandbox
        self._timeout = timeout
        self.inputs = inputs
        self._subjects: dict[str, Subject] = {}

    def subject(self, name: str) -> Subject:
        if name not in self._subjects:
            self._subjects[name] = Subject(name, self._sandbox, self._timeout, remember=self.inputs is not None)
        return self._subjects[name]

    def figure(self, name: str) -> tuple[Figure | None, str | None]:
        try:
            return self._sandbox.figure(name, timeout=self._timeout)
        except SandboxFault as fault:
            return None, fault.reason

