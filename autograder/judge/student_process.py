"""One submission's code in a sandbox that survives its own faults.

A timeout or a dead process costs only the request that caused it: the next request starts a
fresh sandbox and replays the cells that ran cleanly before, so the parts that do not depend
on the broken function are still graded. It also keeps the run-time evidence (cell errors,
forbidden calls) for the integrity flags.

Every request passes through here, so here too is the time spent waiting on the sandbox, kept
against two wall-clock budgets, one per graded function and one per submission. A function that
is correct but slow (a second a call, under the per-call deadline) would otherwise keep one
submission busy for many minutes: grading makes hundreds of calls (Hypothesis examples times
properties, shrinking, prefetched batches). Waits are measured with ``time.monotonic`` and
charged: a call to the function it calls and to the submission; a cell, a restart (with its
replay) or a figure to the submission only. Time the grader spends thinking is not charged; the
student cannot make it longer. Once a budget is spent nothing more is sent for it (``OutOfTime``
instead, at once), and no request's deadline exceeds what is left of its budgets, so a hanging
call overruns nothing by a whole ``call_seconds``; the one wait that cannot be clipped is a new
sandbox starting up, under its own ``startup_seconds``.

A budget is wall-clock time, so on a loaded machine a slow submission may run out one check
earlier or later and get a slightly different partial score on a regrade. The defaults
(``Limits``: 60 s a function, 300 s a submission) are about 100 times what an honest submission
spends, so its result never depends on them, even on a machine ten times slower: measured on
the demo class in the real sandbox, at most 0.6 s for one function and 2.7 s in all with full
Hypothesis runs (0.11 s and 1.8 s from the input cache). 300 s bounds what a submission can cost
a worker, cells (each under its own 60 s deadline) included.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from autograder.sandbox.base import CallTimeout, CellRun, Sandbox, SandboxFault
from autograder.sandbox.limits import Limits


class OutOfTime(SandboxFault):
    """A budget ran out: the request was never sent, or its clipped deadline passed."""


@dataclass
class Meter:
    """Seconds spent waiting on one submission's sandbox, per graded function and in all."""

    function_seconds: float
    submission_seconds: float
    spent: dict[str, float] = field(default_factory=dict)
    total: float = 0.0

    def left(self, functions: Iterable[str] = ()) -> tuple[float, str]:
        """Seconds left for a request made for ``functions`` (none: a cell, a restart, a figure)
        and the reason to give when they run out: that of the budget that ends first."""
        left = self.submission_seconds - self.total
        reason = f"ran out of time ({self.submission_seconds:g} s for this submission)"
        for name in functions:
            own = self.function_seconds - self.spent.get(name, 0.0)
            if own < left:
                left, reason = own, f"ran out of time ({self.function_seconds:g} s for this function)"
        return left, reason

    def charge(self, functions: Iterable[str], seconds: float) -> None:
        self.total += seconds
        for name in set(functions):
            self.spent[name] = self.spent.get(name, 0.0) + seconds


class StudentProcess(Sandbox):
    def __init__(self, factory: Callable[[], Sandbox], limits: Limits = Limits()):
        """``limits``: those ``factory`` starts its sandboxes with (their deadlines are clipped
        to the budgets) and the budgets themselves."""
        self._factory = factory
        self._limits = limits
        self._sandbox: Sandbox | None = None
        self._replay: list[str] = []
        self.restarts = 0
        self.forbidden: dict[str, set[str]] = {}
        self.meter = Meter(limits.function_seconds, limits.submission_seconds)

    def run_cells(self, sources: tuple[str, ...]) -> list[CellRun]:
        """Run the notebook's cells once, in order; a cell that hangs or kills the process is
        reported and left out of later replays, and once the submission's budget is spent the
        remaining cells are skipped with that reason."""
        runs = []
        for source in sources:
            left, reason = self.meter.left()
            if left <= 0:
                runs.append(CellRun(status="error", error=f"skipped: {reason}"))
                continue
            try:
                run = self.run_cell(source)
            except SandboxFault as fault:
                run = CellRun(status="error", error=fault.reason)
            else:
                self._replay.append(source)
            runs.append(run)
        return runs

    def _live(self) -> Sandbox:
        """The running sandbox; a new one (startup and replay charged to the submission) if none."""
        if self._sandbox is None:
            started = time.monotonic()
            try:
                self._sandbox = self._factory()
            finally:
                self.meter.charge((), time.monotonic() - started)
            if self._replay:
                self.restarts += 1
                for source in self._replay:
                    self._timed({"op": "run_cell", "source": source}, None, ())
        return self._sandbox

    def request(self, message: dict, timeout: float | None = None) -> dict:
        functions = tuple(call["function"] for call in message.get("calls", ()))
        left, reason = self.meter.left(functions)
        if left <= 0:  # spent: not sent, and the sandbox is left running for the other functions
            raise OutOfTime(reason)
        try:
            self._live()
            answer = self._timed(message, timeout, functions)
        except SandboxFault:
            self.close()
            raise
        if message.get("op") == "call":
            self._note_forbidden(message, answer)
        return answer

    def _timed(self, message: dict, timeout: float | None, functions: tuple[str, ...]) -> dict:
        """One request to the live sandbox under a deadline clipped to the budgets left, charged."""
        left, reason = self.meter.left(functions)
        if left <= 0:
            raise OutOfTime(reason)
        default = self._limits.cell_seconds if message.get("op") == "run_cell" else self._limits.call_seconds
        clipped = left < (default if timeout is None else timeout)
        started = time.monotonic()
        try:
            return self._sandbox.request(message, left if clipped else timeout)
        except CallTimeout as fault:
            if clipped:
                raise OutOfTime(reason) from fault
            raise
        finally:
            self.meter.charge(functions, time.monotonic() - started)

    def _note_forbidden(self, message: dict, answer: dict) -> None:
        replies = answer.get("replies")
        if not isinstance(replies, list):
            return
        for call, reply in zip(message.get("calls", []), replies):
            used = reply.get("forbidden") if isinstance(reply, dict) else None
            if isinstance(used, list) and used:
                self.forbidden.setdefault(call["function"], set()).update(u for u in used if isinstance(u, str))

    def close(self) -> None:
        if self._sandbox is not None:
            sandbox, self._sandbox = self._sandbox, None
            sandbox.close()
