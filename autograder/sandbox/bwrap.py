"""The real jail: one submission's function server inside bubblewrap.

What the student's process sees: a read-only Python environment (``/usr``, the interpreter,
the venv at ``/opt/venv``), the grader's ``autograder/__init__.py`` and ``autograder/inside/``
at ``/opt/grader`` and nothing else of the grader, a private size-capped tmpfs at
``/home/student`` holding a copy of that student's files (cwd, HOME, TMPDIR, MPLCONFIGDIR), a
fresh ``/proc`` and a minimal ``/dev``. No network (only its own loopback), no other student,
no course root, a cleared environment, rlimits from ``Limits``.

Who it runs as. When the grader is root, a user namespace would map the student to host uid
0, which the kernel exempts from RLIMIT_NPROC, so a fork bomb would not be stopped. Instead
bwrap (as root, no user namespace) builds the mounts and ``setpriv`` drops to a host uid of
the sandbox's own (``UID_BASE`` + grader pid * 256 + n) with no groups and no capabilities,
under no_new_privs. A uid per sandbox makes RLIMIT_NPROC a per-sandbox limit when a class is
graded in parallel. When the grader is not root, bwrap's unprivileged mode is used instead
(``--unshare-user --uid 65534``), and the process limit is added to the grader's own count.

Time limits are enforced here, on the host: every read has a deadline; on expiry the whole
pid namespace is killed (killing its init kills everything the student started).
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from autograder.inside import wire
from autograder.sandbox.base import CallTimeout, Sandbox, SandboxDied, SandboxFault
from autograder.sandbox.limits import Limits
from autograder.sandbox.mounts import GRADER_ROOT, HOME, VENV_ROOT, Mounts
from autograder.sandbox.pipe import Pipe, PipeClosed, PipeTimeout, wait_readable

UID_BASE = 1_000_000_000
INSTALL_HINT = (
    "bubblewrap (bwrap) is not installed: run `apt-get install -y bubblewrap` (Debian/Ubuntu), "
    "or pass --no-sandbox to grade without isolation (stated in every report)"
)
_uid_counter = itertools.count()
_uid_lock = threading.Lock()


class SandboxUnavailable(RuntimeError):
    """This machine cannot run the sandbox; the message says what to install or enable."""


def _probe_args() -> list[str]:
    if os.geteuid() == 0:
        return ["bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--die-with-parent", "--cap-drop", "ALL", "true"]
    return ["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--die-with-parent", "true"]


@functools.lru_cache(maxsize=1)
def _unavailable_reason() -> str | None:
    if shutil.which("bwrap") is None:
        return INSTALL_HINT
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv is missing: run `apt-get install -y util-linux` (it drops the sandbox to its own uid)"
    try:
        probe = subprocess.run(_probe_args(), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap (bwrap) is installed but could not start: {exc}"
    if probe.returncode != 0:
        return (f"bubblewrap (bwrap) is installed but cannot create namespaces here: {probe.stderr.strip()}. "
                "Allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 or "
                "user.max_user_namespaces>0; on Ubuntu 24.04+ also kernel.apparmor_restrict_unprivileged_userns=0), "
                "run the grader as root, or pass --no-sandbox to grade without isolation")
    return None


def _next_uid() -> int:
    with _uid_lock:
        return UID_BASE + (os.getpid() % (1 << 22)) * 256 + next(_uid_counter) % 256


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
    """bwrap exits with the server's status, or 128 + the signal that killed it."""
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


class BwrapSandbox(Sandbox):
    """One submission's function server in a bubblewrap jail; see the module docstring.

    ``files`` is the student's folder, copied into the sandbox's private tmpfs. Several
    instances may run at once. After any ``SandboxFault`` the instance is closed: start a new one.
    """

    def __init__(self, files: str | Path | None = None, limits: Limits = Limits()) -> None:
        self.check_available()
        self.limits = limits
        self.uid: int | None = _next_uid() if os.geteuid() == 0 else None
        self.child_pid: int | None = None  # host pid of the sandbox's pid-1 (its death ends all)
        self._closed: str | None = None
        self._pidfd: int | None = None
        self.startup_seconds: float | None = None
        self._ids = itertools.count()
        started = time.monotonic()
        mounts = Mounts()
        mounts.system()
        python = mounts.python()
        mounts.grader()
        mounts.scratch(Path(files) if files is not None else None, limits.scratch_bytes)
        info_read, info_write = os.pipe()
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                self._command(mounts.args, python, info_write), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, pass_fds=(*mounts.fds, info_write), preexec_fn=self._limit_child,
                start_new_session=True,
            )
        finally:
            for fd in (*mounts.fds, info_write):
                os.close(fd)
        self._pipe = Pipe(self._process.stdout.fileno(), self._process.stdin.fileno())
        deadline = started + limits.startup_seconds
        self._watch(info_read, deadline)
        self.request({"op": "ping"}, timeout=max(deadline - time.monotonic(), 0.001))
        self.startup_seconds = time.monotonic() - started

    @classmethod
    def available(cls) -> bool:
        return _unavailable_reason() is None

    @classmethod
    def check_available(cls) -> None:
        reason = _unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(reason)

    def _command(self, mounts: list[str], python: str, info_fd: int) -> list[str]:
        if self.uid is not None:
            isolation = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                         "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                         "--cap-add", "CAP_SETPCAP"]
            drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--"]
        else:
            isolation = ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns",
                         "--cap-drop", "ALL"]
            drop = []
        env = {
            "PATH": f"{VENV_ROOT}/bin:/usr/bin:/bin", "HOME": HOME, "TMPDIR": HOME, "PYTHONPATH": GRADER_ROOT,
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{HOME}/.matplotlib", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "AUTOGRADER_LOG": f"{HOME}/.autograder.log", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
        }
        return [
            "bwrap", *isolation, "--die-with-parent", "--new-session", "--info-fd", str(info_fd),
            *mounts, "--proc", "/proc", "--dev", "/dev", "--chdir", HOME, "--clearenv",
            *itertools.chain.from_iterable(("--setenv", k, v) for k, v in env.items()),
            *drop, python, "-s", "-m", "autograder.inside.server",
        ]

    def _limit_child(self) -> None:
        """Runs in the forked child before bwrap: limits are inherited by everything inside."""
        os.umask(0o022)
        processes = self.limits.processes if self.uid is not None else self.limits.processes + _own_task_count()
        for kind, value in (
            (resource.RLIMIT_AS, self.limits.memory_bytes), (resource.RLIMIT_CPU, self.limits.cpu_seconds),
            (resource.RLIMIT_NPROC, processes), (resource.RLIMIT_FSIZE, self.limits.file_bytes),
            (resource.RLIMIT_NOFILE, self.limits.open_files), (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(kind, (value, value))

    def _watch(self, info_fd: int, deadline: float) -> None:
        """Read bwrap's info (the sandbox's pid 1) so close() can kill the namespace through a pidfd."""
        chunks = []
        try:
            while time.monotonic() < deadline:
                chunk = os.read(info_fd, 4096) if wait_readable(info_fd, deadline) else b""
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(info_fd)
        try:
            self.child_pid = int(json.loads(b"".join(chunks))["child-pid"])
            self._pidfd = os.pidfd_open(self.child_pid)
        except (ValueError, KeyError, TypeError, OSError):
            self.child_pid = None  # bwrap died before it started the sandbox; request() will say why

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
        if self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait()
        if self._pidfd is not None:
            wait_readable(self._pidfd, time.monotonic() + 10)  # readable once the namespace's init exited
            os.close(self._pidfd)
            self._pidfd = None
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
