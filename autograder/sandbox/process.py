"""One submission's function server in a process of its own, spoken to over a pair of pipes.

Everything that does not depend on how the process is made lives here, shared by the launched
sandboxes (``BwrapSandbox``, ``LocalSandbox``: a new program per submission, see ``launch``)
and ``ForkedSandbox`` (a fork of the per-grader template, see ``template``): the startup ping,
requests with ids and host-side deadlines, the description of a death, and the shutdown. A
subclass says how to start the server (``_start``), what to send it first (``_greeting``), how
it ended (``_exit_code``), and how to kill everything it started (``_kill``). A subclass with
``cgroup_limited`` set gets ``self._group`` before ``_start`` (``autograder.sandbox.cgroups``, None
where cgroups cannot be used) and must put its processes in it before any student code runs; an
out-of-memory kill in the group ends the sandbox, with that reason.

Time limits are enforced here, on the host: every read and write has a deadline, and on expiry
(or any protocol breach) everything of the submission is killed and the instance refuses
further requests, so one bad submission can neither hang the grader nor poison a later request.
"""
from __future__ import annotations

import itertools
import signal
import tempfile
import time
from pathlib import Path
from typing import Iterable

from autograder.inside import wire
from autograder.sandbox import cgroups
from autograder.sandbox.base import CallTimeout, Sandbox, SandboxDied, SandboxFault
from autograder.sandbox.limits import Limits
from autograder.sandbox.pipe import Pipe, PipeClosed, PipeTimeout


def _describe_exit(code: int | None, limits: Limits, out_of_memory: bool = False) -> str:
    """A signal is -n (Popen, the template's reaper); bwrap exits with the status, or 128 + the signal.

    ``out_of_memory``: the sandbox's cgroup counted an out-of-memory kill, whatever the exit says.
    """
    if out_of_memory:
        return f"the kernel died: exceeded the memory limit of {limits.describe_sandbox_memory()} for the whole sandbox"
    if code is None:
        return "the kernel stopped answering"
    number = -code if code < 0 else code - 128 if code > 128 else 0
    if not number:
        return f"the kernel died: it exited with code {code}"
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    reason = f"the kernel died: killed by signal {name}"
    if name == "SIGXCPU":
        return f"{reason} (exceeded the CPU time limit of {limits.cpu_seconds} s)"
    if name in ("SIGKILL", "SIGSEGV", "SIGBUS", "SIGABRT"):
        return f"{reason} (likely exceeded the memory limit of {limits.describe_memory()})"
    return reason


class ProcessSandbox(Sandbox):
    """The server in a child process; after any ``SandboxFault`` the instance is closed."""

    cgroup_limited = False  # a cgroup for the whole sandbox, where the machine allows

    def __init__(self, files: str | Path | None = None, limits: Limits = Limits()) -> None:
        self.limits = limits
        self.startup_seconds: float | None = None
        self._closed: str | None = None
        self._ids = itertools.count()
        self._pipe: Pipe | None = None
        self._group: cgroups.Group | None = None
        started = time.monotonic()
        deadline = started + limits.startup_seconds
        folder = Path(files) if files is not None else None
        self._stderr = tempfile.TemporaryFile()  # the server's stderr until it redirects it to its log
        try:
            if self.cgroup_limited:
                self._group = cgroups.sandbox_group(getattr(self, "uid", None), limits)
            self._pipe = self._start(folder, deadline)
        except BaseException:
            self._stderr.close()
            self._release()
            self._close_group()
            raise
        try:
            self._exchange({"op": "ping"}, max(deadline - time.monotonic(), 0.001), self._greeting(folder))
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - started

    def _start(self, files: Path | None, deadline: float) -> Pipe:
        """Start the server; return the host's end of its channel."""
        raise NotImplementedError

    def _greeting(self, files: Path | None) -> Iterable[bytes]:
        """Frames sent before the startup ping; none unless the server expects its files that way."""
        return ()

    def _exit_code(self) -> int | None:
        """How the server ended, once it has (waiting a few seconds at most); None if unknown."""
        raise NotImplementedError

    def _kill(self) -> None:
        """Kill the server and everything it started, and wait until they are gone."""
        raise NotImplementedError

    def _release(self) -> None:
        """Hook: free what ``_start`` set up, once the processes are gone."""

    def request(self, message: dict, timeout: float | None = None) -> dict:
        if timeout is None:
            timeout = self.limits.cell_seconds if message.get("op") == "run_cell" else self.limits.call_seconds
        return self._exchange(message, timeout)

    def _exchange(self, message: dict, timeout: float, preamble: Iterable[bytes] = ()) -> dict:
        if self._closed is not None:
            raise SandboxFault(f"the sandbox was already closed: {self._closed}")
        deadline = time.monotonic() + timeout
        request_id = next(self._ids)
        try:
            for frame in itertools.chain(preamble, [wire.encode({**message, "id": request_id})]):
                self._pipe.send(frame, deadline)
            body = self._pipe.receive(deadline)
            if self._pipe.has_unread():
                raise wire.WireError("the sandbox wrote data that was not an answer to any request")
            answer = wire.decode_body(body)
        except PipeTimeout:
            if self._group is not None and self._group.oom_kills():  # v1: a child killed, the server waiting on it
                raise self._fault(SandboxDied(_describe_exit(None, self.limits, out_of_memory=True)))
            raise self._fault(CallTimeout(f"timed out after {timeout:g} s (the time limit): likely an infinite loop"))
        except PipeClosed:
            raise self._fault(SandboxDied(self._death()))
        except wire.WireError as exc:
            raise self._fault(SandboxFault(f"the sandbox broke the protocol: {exc}"))
        if not isinstance(answer, dict) or not _is_id(answer.pop("id", None), request_id):
            raise self._fault(SandboxFault("the sandbox broke the protocol: an answer to no request it was sent"))
        if self._group is not None and self._group.version == 1 and self._group.oom_kills():
            # v1 kills one process, v2 the whole group (memory.oom.group): either way the sandbox is over
            raise self._fault(SandboxDied(_describe_exit(None, self.limits, out_of_memory=True)))
        return answer

    def _death(self) -> str:
        code = self._exit_code()
        reason = _describe_exit(code, self.limits, self._group is not None and self._group.oom_kills() > 0)
        if self.startup_seconds is None:
            self._stderr.seek(0)
            tail = self._stderr.read()[-1500:].decode(errors="replace").strip()
            reason += f" while starting up{': ' + tail if tail else ''}"
        return reason

    def _fault(self, fault: SandboxFault) -> SandboxFault:
        self._shutdown(fault.reason)
        return fault

    def _shutdown(self, reason: str) -> None:
        self._closed = reason
        self._kill()
        self._release()
        self._close_group()
        self._pipe.close()
        self._stderr.close()

    def _close_group(self) -> None:
        if self._group is not None:
            self._group.close()
            self._group = None

    def close(self) -> None:
        if self._closed is None:
            self._shutdown("close() was called")

    def __del__(self) -> None:
        if getattr(self, "_closed", "") is None and getattr(self, "_pipe", None) is not None:
            self.close()


def _is_id(value: object, request_id: int) -> bool:
    """The echoed id must be that very int: a forged array compared with ``!=`` would raise."""
    return type(value) is int and value == request_id
