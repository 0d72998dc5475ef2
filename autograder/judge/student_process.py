"""One submission's code in a sandbox that survives its own faults.

A timeout or a dead process costs only the request that caused it: the next request starts a
fresh sandbox and replays the cells that ran cleanly before, so the parts that do not depend
on the broken function are still graded. It also keeps the run-time evidence (cell errors,
forbidden calls) for the integrity flags.
"""
from __future__ import annotations

from typing import Callable

from autograder.sandbox.base import CellRun, Sandbox, SandboxFault


class StudentProcess(Sandbox):
    def __init__(self, factory: Callable[[], Sandbox]):
        self._factory = factory
        self._sandbox: Sandbox | None = None
        self._replay: list[str] = []
        self.restarts = 0
        self.forbidden: dict[str, set[str]] = {}

    def run_cells(self, sources: tuple[str, ...]) -> list[CellRun]:
        """Run the notebook's cells once, in order; a cell that hangs or kills the process is
        reported and left out of later replays."""
        runs = []
        for source in sources:
            try:
                run = self.run_cell(source)
            except SandboxFault as fault:
                run = CellRun(status="error", error=fault.reason)
            else:
                self._replay.append(source)
            runs.append(run)
        return runs

    def _live(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = self._factory()
            if self._replay:
                self.restarts += 1
                for source in self._replay:
                    self._sandbox.run_cell(source)
        return self._sandbox

    def request(self, message: dict, timeout: float | None = None) -> dict:
        try:
            answer = self._live().request(message, timeout)
        except SandboxFault:
            self.close()
            raise
        if message.get("op") == "call":
            self._note_forbidden(message, answer)
        return answer

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
