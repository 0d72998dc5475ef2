"""Sandboxes whose server is a new program per submission: ``BwrapSandbox`` and ``LocalSandbox``.

The launch runs the server with rlimits, in the sandbox's cgroup when it has one (both set between
fork and exec, so every process the student starts inherits them) and a session of its own; a subclass says only what to run
(``_launch``) and, if it needs to, how to watch (``_started``), kill (``_kill_tree``) and clean
up after (``_release``) its process. Starting a new Python costs the import of torch every time
(about 2.5 s): where it can, the grader forks sandboxes from a template instead (``template``).
"""
from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from autograder.inside.jail import apply_limits
from autograder.sandbox.pipe import Pipe
from autograder.sandbox.process import ProcessSandbox

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


class LaunchedSandbox(ProcessSandbox):
    """The server as a child program of the grader, in a session of its own."""

    def _start(self, files: Path | None, deadline: float) -> Pipe:
        rlimits = self.limits.rlimits(self._process_limit())
        group = self._group

        def in_the_child() -> None:  # born in its cgroup: everything it starts is there from the outset
            if group is not None:
                group.join_self()
            apply_limits(rlimits)

        launch = self._launch(files)
        child_in, host_out = os.pipe()
        host_in, child_out = os.pipe()
        try:
            self._process = subprocess.Popen(
                launch.command, stdin=child_in, stdout=child_out, stderr=self._stderr, env=launch.env,
                cwd=launch.cwd, pass_fds=launch.pass_fds, start_new_session=True,
                preexec_fn=in_the_child,
            )
        except BaseException:
            os.close(host_in)
            os.close(host_out)
            raise
        finally:
            for fd in (child_in, child_out, *launch.pass_fds):
                os.close(fd)
        self._started(deadline)
        return Pipe(host_in, host_out)

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

    def _kill(self) -> None:
        self._kill_tree()
        self._process.wait()

    def _exit_code(self) -> int | None:
        try:
            return self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None
