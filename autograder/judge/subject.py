"""A student function as the properties see it: call it with tensors, get a ``Reply`` back.

A sandbox fault (timeout, crash, broken protocol) is turned into a failed ``Reply`` and kept:
once a function has timed out, every later call answers with the same reason at once, so
Hypothesis shrinking a failure does not wait out the same timeout hundreds of times.
"""
from __future__ import annotations

from typing import Protocol

import torch

from autograder.sandbox.base import Figure, Reply, Sandbox, SandboxFault


class Subject:
    """One named student function behind a sandbox; nothing here imports student code."""

    def __init__(self, name: str, sandbox: Sandbox, timeout: float | None = None) -> None:
        self.name = name
        self._sandbox = sandbox
        self._timeout = timeout
        self.fault: str | None = None  # set once the sandbox failed; sticky

    def __call__(self, *tensors: torch.Tensor, grad: bool = False) -> Reply:
        if self.fault is not None:
            return Reply(error=self.fault)
        try:
            return self._sandbox.call(self.name, tensors, grad=grad, timeout=self._timeout)
        except SandboxFault as fault:
            self.fault = fault.reason
            return Reply(error=fault.reason)

    def __repr__(self) -> str:
        return f"Subject({self.name!r})"


class FunctionSource(Protocol):
    """Where parts find a submission's functions and figures (one sandbox, or one with restarts)."""

    def subject(self, name: str) -> Subject: ...

    def figure(self, name: str) -> tuple[Figure | None, str | None]: ...


class SandboxFunctions:
    """A ``FunctionSource`` over one sandbox; a function keeps one ``Subject`` so faults stay sticky."""

    def __init__(self, sandbox: Sandbox, timeout: float | None = None) -> None:
        self._sandbox = sandbox
        self._timeout = timeout
        self._subjects: dict[str, Subject] = {}

    def subject(self, name: str) -> Subject:
        if name not in self._subjects:
            self._subjects[name] = Subject(name, self._sandbox, self._timeout)
        return self._subjects[name]

    def figure(self, name: str) -> tuple[Figure | None, str | None]:
        try:
            return self._sandbox.figure(name, timeout=self._timeout)
        except SandboxFault as fault:
            return None, fault.reason
