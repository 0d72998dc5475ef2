"""One submission's function server in a process of its own, spoken to over a pair of pipes.

Everything that does not depend on the jail lives here, shared by ``BwrapSandbox`` (the real
jail) and ``LocalSandbox`` (``--no-sandbox``): the launch with rlimits and a session of its own,
the startup ping, requests with ids and host-side deadlines, the description of a death, and
the kill. A subclass says only how to start the server (``_launch``) and, if it needs to, how
to watch (``_started``), kill (``_kill_tree``) and clean up after (``_release``) its process.

Time limits are enforced here, on the host: every read and write has a deadline, and on expiry
(or any protocol breach) the whole process group is killed and the instance refuses further
requests, so one bad submission can neither hang the grader nor poison a later request.
"""
from __future__ import annotations

import itertools
import os
import resource
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.inside import wire
from autograder.sandbox.base import CallTimeout, Sandbox, SandboxDied, SandboxFault
from autograder.sandbox.limits import Limits
from autograder.sandbox.pipe import Pipe, PipeClosed, PipeTimeout

SERVER_ARGS = ("-s", "-P", "-m", "autograder.inside.server")


@dataclass(frozen=True)
class Launch:
    """How to start the server: the parent closes ``pass_fds`` once the child has them."""

    command: list[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    pass_fds: tuple[int, ...] = ()


def server_environment(home: str, pythonpath: str, python_bin: str) -> dict[str, str]:
    """The whole environment of the server: nothing of the grader's own leaks through."""
    return {
        "PATH": f"{python_bin}:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "PYTHONPATH": pythonpath,
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/.matplotlib", "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1", "AUTOGRADER_LOG": f"{home}/.autograder.log", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
    }


def _own_task_count() -> int:
    """Threads the grader's uid already runs: RLIMIT_NPROC counts them too when not root."""
    count, uid = 0, os.getuid()
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue
    return count


def _describe_exit(code: int | None, limits: Limits) -> str:
    """Popen reports a signal as -n; bwrap exits with the server's status, or 128 + the signal."""
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


def _apply_limits(limits: Limits, processes: int | None) -> None:
    """Runs in the forked child before exec: every process the student starts inherits these."""
    os.umask(0o022)
    for kind, value in (
        (resource.RLIMIT_AS, limits.memory_bytes), (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(kind, (value, value))
    if processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


class ProcessSandbox(Sandbox):
    """The server in a child process; after any ``SandboxFault`` the instance is closed."""

    def __init__(self, files: str | Path | None = None, limits: Limits = Limits()) -> None:
        self.limits = limits
        self.startup_seconds: float | None = None
        self._closed: str | None = None
        self._ids = itertools.count()
        started = time.monotonic()
        processes = self._process_limit()
        self._stderr = tempfile.TemporaryFile()
        try:
            launch = self._launch(Path(files) if files is not None else None)
            try:
                self._process = subprocess.Popen(
                    launch.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                    env=launch.env, cwd=launch.cwd, pass_fds=launch.pass_fds, start_new_session=True,
                    preexec_fn=lambda: _apply_limits(limits, processes),
                )
            finally:
                for fd in launch.pass_fds:
                    os.close(fd)
        except BaseException:
            self._stderr.close()
            self._release()
            raise
        self._pipe = Pipe(self._process.stdout.fileno(), self._process.stdin.fileno())
        deadline = started + limits.startup_seconds
        self._started(deadline)
        self.request({"op": "ping"}, timeout=max(deadline - time.monotonic(), 0.001))
        self.startup_seconds = time.monotonic() - started

    def _launch(self, files: Path | None) -> Launch:
        """Prepare the student's files and say how to start the server on them."""
        raise NotImplementedError

    def _process_limit(self) -> int | None:
        """RLIMIT_NPROC for the child; None leaves it unset.

        The limit counts every process of the uid, so a child running as the grader's uid gets
        the grader's own count on top. Root is exempt from RLIMIT_NPROC, so as root it is unset.
        """
        return None if os.geteuid() == 0 else self.limits.processes + _own_task_count()

    def _started(self, deadline: float) -> None:
        """Hook: runs once the process exists, before the startup ping."""

    def _kill_tree(self) -> None:
        """Kill the server and everything it started (the session made by start_new_session)."""
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _release(self) -> None:
        """Hook: free what ``_launch`` set up, once the process is gone."""

    def request(self, message: dict, timeout: float | None = None) -> dict:
        if self._closed is not None:
            raise SandboxFault(f"the sandbox was already closed: {self._closed}")
        if timeout is None:
            timeout = self.limits.cell_seconds if message.get("op") == "run_cell" else self.limits.call_seconds
        deadline = time.monotonic() + timeout
        request_id = next(self._ids)
        try:
            self._pipe.send(wire.encode({**message, "id": request_id}), deadline)
            body = self._pipe.receive(deadline)
            if self._pipe.has_unread():
                raise wire.WireError("the sandbox wrote data that was not an answer to any request")
            answer = wire.decode_body(body)
        except PipeTimeout:
            raise self._fault(CallTimeout(f"timed out after {timeout:g} s (the time limit): likely an infinite loop"))
        except PipeClosed:
            raise self._fault(SandboxDied(self._death()))
        except wire.WireError as exc:
            raise self._fault(SandboxFault(f"the sandbox broke the protocol: {exc}"))
        if not isinstance(answer, dict) or answer.pop("id", None) != request_id:
            raise self._fault(SandboxFault("the sandbox broke the protocol: an answer to no request it was sent"))
        return answer

    def _death(self) -> str:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        reason = _describe_exit(code, self.limits)
        if self.startup_seconds is None:
            self._stderr.seek(0)
            tail = self._stderr.read()[-1500:].decode(errors="replace").strip()
            reason += f" while starting up{': ' + tail if tail else ''}"
        return reason

    def _fault(self, fault: SandboxFault) -> SandboxFault:
        self._kill()
        self._closed = fault.reason
        return fault

    def _kill(self) -> None:
        self._kill_tree()
        self._process.wait()
        self._release()
        for stream in (self._process.stdin, self._process.stdout, self._stderr):
            try:
                stream.close()
            except OSError:
                pass

    def close(self) -> None:
        if self._closed is None:
            self._closed = "close() was called"
            self._kill()

    def __del__(self) -> None:
        if getattr(self, "_closed", "") is None and hasattr(self, "_pipe"):
            self.close()
