"""The narrow interface between the trusted grader and wherever student code runs.

Like httpx's transport, one small abstract class with a few implementations: ``InProcessSandbox``
(the same server code in this process, for fast unit tests), ``BwrapSandbox`` (a bubblewrap
jail, for real grading) and ``LocalSandbox`` (a plain child process, for ``--no-sandbox``); the
last two share ``ProcessSandbox``. Everything a sandbox hands back is built here, on the trusted
side, from plain decoded data: tensors are fresh ``torch.Tensor`` objects, never student objects.

Protocol (requests and responses are ``autograder.inside.wire`` messages). A process sandbox
adds an ``"id": int`` to every request and the server echoes it in the answer, so a stray or
stale answer (one the student's code wrote itself) is noticed as a protocol breach:

* ``{"op": "ping"}`` -> ``{"pong": true}``: sent once at startup, under the startup deadline.
* ``{"op": "run_cell", "source": str}`` -> ``{"status": "ok"|"error", "stdout": str,
  "stderr": str, "error": str|None}``
* ``{"op": "call", "calls": [{"function": str, "args": [ndarray...], "grad": bool}, ...]}`` ->
  ``{"replies": [{"value": V|None, "grads": [ndarray|None...]|None, "inputs_after": [ndarray...],
  "error": str|None, "forbidden": [str...]}, ...]}`` where a value ``V`` is
  ``{"kind": "tensor", "data": ndarray, "requires_grad": bool}``, ``{"kind": "number",
  "data": float}`` or ``{"kind": "tuple", "items": [V...]}``.
* ``{"op": "figure", "name": str}`` -> ``{"figure": F|None, "error": str|None}`` with
  ``F = {"axes": [{"title", "xlabel", "ylabel", "legend": [str...]|None,
  "lines": [{"label": str, "x": ndarray, "y": ndarray}]}]}``.
* ``{"op": "exit"}`` -> no reply; any other op -> ``{"error": str}``.
"""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch


class SandboxFault(Exception):
    """The sandboxed process stopped answering: it died, timed out, or broke the protocol."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CallTimeout(SandboxFault):
    pass


class SandboxDied(SandboxFault):
    pass


@dataclass(frozen=True)
class CellRun:
    """What running one student cell did: its (truncated) output and its error, if any."""

    status: str
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    result: str | None = None  # the text of the cell's value (a kernel's execute_result), if it had one
    line: int | None = None  # the cell's line where ``error`` was raised, if known


@dataclass(frozen=True)
class Reply:
    """One call of a student function, as seen from the trusted side."""

    value: Any = None  # torch.Tensor | float | tuple of them; None when the call failed
    grads: tuple[torch.Tensor | None, ...] | None = None
    inputs_after: tuple[torch.Tensor, ...] = ()
    error: str | None = None
    forbidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    label: str
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Axes:
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    legend: tuple[str, ...] | None = None
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True)
class Figure:
    axes: tuple[Axes, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[torch.Tensor, ...]
    grad: bool = False


class Sandbox(abc.ABC):
    """A place where one submission's code lives; the judge only ever talks to it here."""

    @abc.abstractmethod
    def request(self, message: dict, timeout: float | None = None) -> dict:
        """Send one protocol message and return the decoded answer, or raise SandboxFault."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the submission's process and everything it started."""

    def run_cell(self, source: str, timeout: float | None = None) -> CellRun:
        answer = self.request({"op": "run_cell", "source": source}, timeout)
        return CellRun(
            status=_text(answer.get("status")),
            stdout=_text(answer.get("stdout")),
            stderr=_text(answer.get("stderr")),
            error=_optional_text(answer.get("error")),
            result=_optional_text(answer.get("result")),
            line=_line(answer.get("line")),
        )

    def call_batch(self, calls: Sequence[Call], timeout: float | None = None) -> list[Reply]:
        message = {
            "op": "call",
            "calls": [
                {"function": c.function, "args": [a.detach().numpy() for a in c.args], "grad": c.grad}
                for c in calls
            ],
        }
        replies = self.request(message, timeout).get("replies")
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise SandboxFault("the sandbox answered a call with a malformed reply")
        return [reply_from_wire(r) for r in replies]

    def call(self, function: str, args: Sequence[torch.Tensor], grad: bool = False,
             timeout: float | None = None) -> Reply:
        return self.call_batch([Call(function, tuple(args), grad)], timeout)[0]

    def figure(self, name: str, timeout: float | None = None) -> tuple[Figure | None, str | None]:
        answer = self.request({"op": "figure", "name": name}, timeout)
        error = _optional_text(answer.get("error"))
        raw = answer.get("figure")
        return (figure_from_wire(raw) if isinstance(raw, dict) else None), error

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: Any, limit: int = 100_000) -> str:
    """A string from the sandbox, cut to ``limit``; a lone surrogate (JSON allows ``"\\ud800"``)
    becomes U+FFFD, or writing it to a UTF-8 record or report would fail."""
    return _SURROGATE.sub("\ufffd", value[:limit]) if isinstance(value, str) else ""


def _optional_text(value: Any) -> str | None:
    return _text(value) if isinstance(value, str) else None


def _line(value: Any) -> int | None:
    return value if type(value) is int and 0 < value < 1_000_000 else None


def _tensor(array: Any) -> torch.Tensor | None:
    import torch  # here, not at the top: launching a sandbox needs no torch (a cold start imports both at once)

    if not isinstance(array, np.ndarray):
        return None
    return torch.from_numpy(np.array(array, copy=True))


# A tuple ~500 deep still parses, and rebuilding it deeper down the grader's stack would overflow
# it; no function under test returns tuples 16 deep.
_MAX_TUPLE_DEPTH = 16


def value_from_wire(raw: Any, depth: int = 0) -> Any:
    """Rebuild a returned value; anything that is not a tensor, number or tuple becomes None."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if not isinstance(kind, str):  # an array here would make ``kind == "tensor"`` an array
        return None
    if kind == "tensor":
        return _tensor(raw.get("data"))
    if kind == "number":
        data = raw.get("data")
        if type(data) not in (int, float):
            return None
        try:
            return float(data)
        except OverflowError:  # an integer beyond every float
            return None
    if kind == "tuple" and isinstance(raw.get("items"), list) and depth < _MAX_TUPLE_DEPTH:
        return tuple(value_from_wire(item, depth + 1) for item in raw["items"])
    return None


def reply_from_wire(raw: Any) -> Reply:
    if not isinstance(raw, dict):
        return Reply(error="the sandbox sent a malformed reply")
    grads = raw.get("grads")
    inputs = raw.get("inputs_after")
    forbidden = raw.get("forbidden")
    return Reply(
        value=value_from_wire(raw.get("value")),
        grads=tuple(_tensor(g) for g in grads) if isinstance(grads, list) else None,
        inputs_after=tuple(t for t in map(_tensor, inputs) if t is not None) if isinstance(inputs, list) else (),
        error=_optional_text(raw.get("error")),
        forbidden=tuple(_text(f) for f in forbidden if isinstance(f, str)) if isinstance(forbidden, list) else (),
    )


def figure_from_wire(raw: Any) -> Figure:
    """Rebuild a figure; junk becomes no axes, and a line whose x and y are not 1-D arrays of one
    length (as matplotlib's always are) is dropped, since plotting it would raise."""
    axes = raw.get("axes") if isinstance(raw, dict) else None
    if not isinstance(axes, list):
        return Figure()
    return Figure(axes=tuple(_axes_from_wire(ax) for ax in axes if isinstance(ax, dict)))


def _axes_from_wire(raw: dict) -> Axes:
    legend, lines = raw.get("legend"), raw.get("lines")
    return Axes(
        title=_text(raw.get("title")), xlabel=_text(raw.get("xlabel")), ylabel=_text(raw.get("ylabel")),
        legend=tuple(_text(s) for s in legend) if isinstance(legend, list) else None,
        lines=tuple(
            Line(_text(ln.get("label")), np.asarray(ln["x"], dtype=float), np.asarray(ln["y"], dtype=float))
            for ln in lines if isinstance(ln, dict) and _is_curve(ln.get("x"), ln.get("y"))
        ) if isinstance(lines, list) else (),
    )


def _is_curve(x: Any, y: Any) -> bool:
    return isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == 1 and x.shape == y.shape
