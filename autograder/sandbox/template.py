"""Sandboxes forked from a template: the jail of ``BwrapSandbox`` in milliseconds, not seconds.

A ``Template`` is one process (``autograder.inside.zygote``) in a bubblewrap jail of its own,
with the same read-only filesystem as ``BwrapSandbox`` and the capabilities to build a jail per
child, that has imported torch and the rest once. A ``ForkedSandbox`` asks it for a child: the
template hears only the sandbox's uid and rlimits and gets the channel's descriptors; the
student's files go straight to the child over its channel. The child is pid 1 of namespaces of
its own (pid, mount, network, IPC, UTS), with its own home, reaping the server that runs under
the sandbox's own uid; killing it (through a pidfd) kills everything the student started.

One template per grader process (``shared_template``): started on first use (or earlier,
without waiting for it, by ``start_shared``), started again if it died, closed at exit,
forgotten by a forked copy of the grader. It needs the grader to be
root (the sandbox's uid is a host uid); elsewhere the factory falls back to ``BwrapSandbox``.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from autograder.inside import wire
from autograder.sandbox import cgroups, font_cache
from autograder.sandbox.base import SandboxDied, SandboxFault
from autograder.sandbox.bwrap import NAMESPACES, BwrapSandbox, SandboxUnavailable, jail_command, next_uid
from autograder.sandbox.limits import MiB, Limits
from autograder.sandbox.mounts import Mounts
from autograder.sandbox.pipe import Pipe, wait_readable
from autograder.sandbox.process import ProcessSandbox

CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")  # jail, loopback, uid drop
TEMPLATE_HOME_BYTES = 16 * MiB  # the template's own home (matplotlib's cache); every child mounts its own over it
FILE_CHUNK = 8 * MiB
SPAWN_SECONDS = 30.0
log = logging.getLogger(__name__)


class Template:
    """One zygote in its jail, spoken to over a socketpair; see the module docstring."""

    def __init__(self, startup_seconds: float = Limits().startup_seconds, wait: bool = True) -> None:
        BwrapSandbox.check_available()
        if os.geteuid() != 0:
            raise SandboxUnavailable("the sandbox template needs the grader to run as root")
        self.owner = os.getpid()
        self._lock = threading.Lock()
        self._log = tempfile.TemporaryFile()
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.group = cgroups.template_group()  # no limits: lets a child's processes be found (Group.adopt)
        try:
            self._process = subprocess.Popen(
                _command(theirs.fileno()), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
                pass_fds=(theirs.fileno(),), preexec_fn=self.group.join_self if self.group is not None else None)
        finally:
            theirs.close()
        self._ready_by: float | None = time.monotonic() + startup_seconds
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Return once the zygote has done its imports; ``wait=False`` leaves this to the first
        spawn, so a caller's own start-up overlaps them. Raises SandboxUnavailable if it never was."""
        if self._ready_by is None:
            return
        self._socket.settimeout(max(self._ready_by - time.monotonic(), 0.001))
        self._ready_by = None
        try:
            ready = self._socket.recv(256)
        except OSError:
            ready = b""
        if not ready:
            reason = self._tail() or "no message"
            self.close()
            raise SandboxUnavailable(f"the sandbox template did not start: {reason}")
        self._socket.settimeout(SPAWN_SECONDS)

    def alive(self) -> bool:
        return self._socket.fileno() != -1 and self._process.poll() is None

    def spawn(self, uid: int, limits: Limits, fds: Sequence[int]) -> int:
        """Fork a child on ``fds`` (stdin, stdout, stderr, status); return a pidfd of its init."""
        request = json.dumps({"uid": uid, "rlimits": limits.rlimits(limits.processes),
                              "scratch_bytes": limits.scratch_bytes}).encode()
        with self._lock:
            try:
                socket.send_fds(self._socket, [request], list(fds))
                reply, pidfds, _, _ = socket.recv_fds(self._socket, 4096, 1)
            except OSError:  # a late answer would be taken for the next one's: this template is done
                reply, pidfds = b"", []
        if not reply:
            self.close()
            raise SandboxDied("the sandbox template stopped answering; the next sandbox starts a new one")
        answer = json.loads(reply)
        if "error" in answer or len(pidfds) != 1:
            for fd in pidfds:
                os.close(fd)
            raise SandboxFault(f"the sandbox template could not start a sandbox: {answer.get('error')}")
        return pidfds[0]

    def close(self) -> None:
        """End the template and, with its jail, every child still running."""
        self._socket.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()
        if self.group is not None:
            self.group.close()
            self.group = None

    def _tail(self) -> str:
        self._log.seek(0)
        return self._log.read()[-1500:].decode(errors="replace").strip()


def _command(control_fd: int) -> list[str]:
    """The template's jail: BwrapSandbox's filesystem and namespaces, plus what building a child needs.

    The template is pid 1 of its jail, so its exit kills every child, in every nested namespace.
    It exits when its control socket ends (the grader closed it, exited or died); not through
    --die-with-parent, which follows the thread that started bwrap rather than the grader.
    """
    mounts, python = template_mounts()
    capabilities = [arg for name in CAPABILITIES for arg in ("--cap-add", name)]
    return jail_command([*NAMESPACES, "--as-pid-1", "--cap-drop", "ALL", *capabilities], mounts.args,
                        [python, "-s", "-P", "-m", "autograder.inside.zygote", str(control_fd)])


def template_mounts() -> tuple[Mounts, str]:
    """The template's filesystem, and its interpreter's path inside: BwrapSandbox's, with a home of
    its own holding matplotlib's saved font list (``font_cache``)."""
    mounts = Mounts()
    mounts.system()
    python = mounts.python()
    mounts.grader()
    mounts.scratch(None, TEMPLATE_HOME_BYTES)
    font_cache.mount(mounts)
    return mounts, python


_shared: Template | None = None
_shared_failure: str | None = None
_shared_lock = threading.Lock()


def shared_template() -> Template | None:
    """This grader process's template, started if there is none or it died, and ready; None
    (warned once) if it cannot start."""
    global _shared
    with _shared_lock:
        _start_shared()
        if _shared is not None:
            try:
                _shared.wait_ready()
            except SandboxUnavailable as exc:
                _shared = None
                _failed(exc)
        return _shared


def start_shared() -> None:
    """Start this process's template without waiting for it (see ``Template.wait_ready``)."""
    with _shared_lock:
        _start_shared()


def _start_shared() -> None:
    global _shared
    if _shared is not None and _shared._ready_by is None and not _shared.alive():  # died after it was ready
        _shared.close()
        _shared = None
    if _shared is None and _shared_failure is None:
        try:
            _shared = Template(wait=False)
        except SandboxUnavailable as exc:
            _failed(exc)


def _failed(exc: SandboxUnavailable) -> None:
    global _shared_failure
    _shared_failure = str(exc)
    log.warning("%s; every sandbox starts a new Python instead (seconds, not milliseconds)", exc)


def _close_shared() -> None:
    if _shared is not None and _shared.owner == os.getpid():
        _shared.close()


def _forget_shared() -> None:
    """In a forked copy of the grader: the parent's template is the parent's; start another if needed."""
    global _shared, _shared_lock
    _shared_lock = threading.Lock()
    if _shared is not None:
        _shared._socket.close()
        _shared = None


atexit.register(_close_shared)
os.register_at_fork(after_in_child=_forget_shared)


def file_frames(files: Path | None) -> Iterator[bytes]:
    """The student's folders and regular files as the child expects them (``zygote``); no symlink."""
    for path in sorted(files.rglob("*")) if files is not None else ():
        relative = path.relative_to(files).as_posix()
        if path.is_symlink():
            continue
        if path.is_dir():
            yield wire.encode({"op": "mkdir", "path": relative})
        elif path.is_file():
            data = path.read_bytes()
            for start in range(0, max(len(data), 1), FILE_CHUNK):
                chunk = np.frombuffer(data[start:start + FILE_CHUNK], dtype=np.uint8)
                yield wire.encode({"op": "write", "path": relative, "data": chunk})
    yield wire.encode({"op": "files-done"})


class ForkedSandbox(ProcessSandbox):
    """One submission's function server, forked from a template; the interface of ``BwrapSandbox``.

    ``template`` defaults to this grader process's (``shared_template``). After any
    ``SandboxFault`` the instance is closed: start a new one.
    """

    cgroup_limited = True  # the init and the server move to the sandbox's cgroup in ``_start``

    def __init__(self, files: str | Path | None = None, limits: Limits = Limits(),
                 template: Template | None = None) -> None:
        self.template = template or shared_template()
        if self.template is None:
            raise SandboxUnavailable(f"the sandbox template cannot run here: {_shared_failure}")
        self.uid = next_uid()
        self.child_pid: int | None = None  # host pid of the namespace's init (its death ends all)
        self._pidfd: int | None = None
        self._status: int | None = None
        super().__init__(files, limits)

    def _start(self, files: Path | None, deadline: float) -> Pipe:
        child_in, host_out = os.pipe()
        host_in, child_out = os.pipe()
        self._status, status_out = os.pipe()
        try:
            self._pidfd = self.template.spawn(self.uid, self.limits,
                                              (child_in, child_out, self._stderr.fileno(), status_out))
            if self._group is not None:  # before the student's files: the server runs nothing of theirs before
                self._group.adopt(_pidfd_pid(self._pidfd), self.template.group)
        except BaseException:
            if self._pidfd is not None:
                self._kill()
            os.close(host_in)
            os.close(host_out)
            raise
        finally:
            for fd in (child_in, child_out, status_out):
                os.close(fd)
        self.child_pid = _pidfd_pid(self._pidfd)
        return Pipe(host_in, host_out)

    def _greeting(self, files: Path | None) -> Iterator[bytes]:
        return file_frames(files)

    def _exit_code(self) -> int | None:
        """The exit code the namespace's init wrote when the server ended (-n for a signal)."""
        if not wait_readable(self._status, time.monotonic() + 5):
            return None
        try:
            return int(os.read(self._status, 32))
        except ValueError:
            return None

    def _kill(self) -> None:
        try:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_readable(self._pidfd, time.monotonic() + 30)  # the init exits after the namespace is empty

    def _release(self) -> None:
        for fd in (self._pidfd, self._status):
            if fd is not None:
                os.close(fd)
        self._pidfd = self._status = None


def _pidfd_pid(pidfd: int) -> int | None:
    """The pid, in the grader's pid namespace, of the process a pidfd refers to."""
    for line in Path(f"/proc/self/fdinfo/{pidfd}").read_text().splitlines():
        if line.startswith("Pid:"):
            return int(line.split()[1])
    return None
