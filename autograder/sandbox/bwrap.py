"""The real jail: one submission's function server inside bubblewrap.

What the student's process sees: a read-only Python environment (``/usr``, the interpreter,
the venv at ``/opt/venv``), the grader's ``autograder/__init__.py`` and ``autograder/inside/``
at ``/opt/grader`` and nothing else of the grader, a private size-capped tmpfs at
``/home/student`` holding a copy of that student's files (cwd, HOME, TMPDIR, MPLCONFIGDIR), a
fresh ``/proc`` and a minimal ``/dev``. No network (only its own loopback), no other student,
no course root, a cleared environment, rlimits from ``Limits``, and the system-call filter of
``autograder/inside/seccomp_filter.py`` (bwrap's ``--seccomp``, loaded just before its exec).

Who it runs as. When the grader is root, a user namespace would map the student to host uid
0, which the kernel exempts from RLIMIT_NPROC, so a fork bomb would not be stopped. Instead
bwrap (as root, no user namespace) builds the mounts and ``setpriv`` drops to a host uid of
the sandbox's own (``UID_BASE`` + grader pid * 256 + n) with no groups and no capabilities,
under no_new_privs. A uid per sandbox makes RLIMIT_NPROC a per-sandbox limit when a class is
graded in parallel. When the grader is not root, bwrap's unprivileged mode is used instead
(``--unshare-user --uid 65534``), and the process limit is added to the grader's own count.

Host-side deadlines, the startup ping and the protocol are ``ProcessSandbox``'s; what this
class adds to the kill is the pid namespace: killing its init kills everything the student
started, even a process that left the session. Each instance starts a new Python (about 2.5 s);
the factory prefers ``ForkedSandbox`` (``template``), with the same jail, and falls back to this.
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from autograder.errors import AutograderError
from autograder.inside import seccomp_filter
from autograder.sandbox.launch import SERVER_ARGS, Launch, LaunchedSandbox, server_environment
from autograder.sandbox.limits import Limits
from autograder.sandbox.mounts import GRADER_ROOT, HOME, VENV_ROOT, Mounts
from autograder.sandbox.pipe import wait_readable

UID_BASE = 1_000_000_000
NAMESPACES = ("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try")
INSTALL_HINT = (
    "bubblewrap (bwrap) is not installed: run `apt-get install -y bubblewrap` (Debian/Ubuntu), "
    "or pass --no-sandbox to grade without isolation (stated in every report)"
)
SETPRIV_HINT = "setpriv is missing: run `apt-get install -y util-linux` (it drops the sandbox to its own uid)"
_uid_counter = itertools.count()
_uid_lock = threading.Lock()


class SandboxUnavailable(AutograderError):
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
        return SETPRIV_HINT
    try:
        seccomp_filter.program()
    except (ImportError, OSError, RuntimeError) as exc:
        return (f"the sandbox's system-call filter cannot be built ({exc}): run `apt-get install -y libseccomp2` "
                "and `pip install -r requirements.txt` (pyseccomp)")
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


def next_uid() -> int:
    """A host uid of the sandbox's own (see the module docstring); only when the grader is root."""
    with _uid_lock:
        return UID_BASE + (os.getpid() % (1 << 22)) * 256 + next(_uid_counter) % 256


def drop_to(uid: int) -> list[str]:
    """A command prefix running what follows as ``uid`` (and gid), with no groups, no capability
    (bounding set included) and no_new_privs: how a sandbox started by root leaves root."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


def syscall_filter_fd() -> int:
    """A file holding the compiled system-call filter (``seccomp_filter``), for bwrap's ``--seccomp``."""
    fd = os.memfd_create("syscall-filter", os.MFD_CLOEXEC)
    os.write(fd, seccomp_filter.program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def jail_command(options: list[str], mounts: list[str], program: list[str], shm_bytes: int | None = None) -> list[str]:
    """bwrap with ``options`` and the ``mounts``, running ``program`` in the server's whole environment;
    ``shm_bytes``: a private writable /dev/shm of that size (``multiprocessing``'s locks live there)."""
    env = server_environment(HOME, GRADER_ROOT, f"{VENV_ROOT}/bin")
    shm = ["--size", str(shm_bytes), "--perms", "1777", "--tmpfs", "/dev/shm"] if shm_bytes else []
    return [
        "bwrap", *options, "--new-session", *mounts, "--proc", "/proc", "--dev", "/dev", *shm, "--chdir", HOME,
        "--clearenv", *itertools.chain.from_iterable(("--setenv", k, v) for k, v in env.items()), *program,
    ]


class BwrapSandbox(LaunchedSandbox):
    """One submission's function server in a bubblewrap jail; see the module docstring.

    ``files`` is the student's folder, copied into the sandbox's private tmpfs. Several
    instances may run at once. After any ``SandboxFault`` the instance is closed: start a new one.
    """

    cgroup_limited = True  # bwrap starts in the sandbox's cgroup (``LaunchedSandbox``)

    def __init__(self, files: str | Path | None = None, limits: Limits = Limits()) -> None:
        self.check_available()
        self.uid: int | None = next_uid() if os.geteuid() == 0 else None
        self.child_pid: int | None = None  # host pid of the sandbox's pid-1 (its death ends all)
        self._pidfd: int | None = None
        self._info_read: int | None = None
        super().__init__(files, limits)

    @classmethod
    def available(cls) -> bool:
        return _unavailable_reason() is None

    @classmethod
    def check_available(cls) -> None:
        reason = _unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(reason)

    def _launch(self, files: Path | None) -> Launch:
        mounts = Mounts()
        mounts.system()
        python = mounts.python()
        mounts.grader()
        mounts.scratch(files, self.limits.scratch_bytes)
        self._info_read, info_write = os.pipe()
        syscalls = syscall_filter_fd()
        return Launch(self._command(mounts.args, python, info_write, syscalls),
                      pass_fds=(*mounts.fds, info_write, syscalls))

    def _command(self, mounts: list[str], python: str, info_fd: int, filter_fd: int) -> list[str]:
        if self.uid is not None:
            isolation = [*NAMESPACES, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                         "--cap-add", "CAP_SETPCAP"]
            drop = drop_to(self.uid)
        else:
            isolation = ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns",
                         "--cap-drop", "ALL"]
            drop = []
        return jail_command([*isolation, "--die-with-parent", "--info-fd", str(info_fd), "--seccomp", str(filter_fd)],
                            mounts, [*drop, python, *SERVER_ARGS], shm_bytes=self.limits.scratch_bytes)

    def _process_limit(self) -> int | None:
        """With a uid of its own the sandbox's count starts at zero, and root's exemption is gone."""
        return self.limits.processes if self.uid is not None else super()._process_limit()

    def _started(self, deadline: float) -> None:
        """Read bwrap's info (the sandbox's pid 1) so the kill can reach the namespace through a pidfd."""
        chunks = []
        try:
            while time.monotonic() < deadline:
                chunk = os.read(self._info_read, 4096) if wait_readable(self._info_read, deadline) else b""
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self._info_read)
            self._info_read = None
        try:
            self.child_pid = int(json.loads(b"".join(chunks))["child-pid"])
            self._pidfd = os.pidfd_open(self.child_pid)
        except (ValueError, KeyError, TypeError, OSError):
            self.child_pid = None  # bwrap died before it started the sandbox; request() will say why

    def _kill_tree(self) -> None:
        if self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        super()._kill_tree()

    def _release(self) -> None:
        if self._info_read is not None:  # the launch failed before _started could read it
            os.close(self._info_read)
            self._info_read = None
        if self._pidfd is not None:
            wait_readable(self._pidfd, time.monotonic() + 10)  # readable once the namespace's init exited
            os.close(self._pidfd)
            self._pidfd = None
