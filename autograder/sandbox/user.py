"""The fallback where bubblewrap cannot create namespaces (a Docker container such as
Gradescope's): the function server as a plain child process under a uid of its own.

As root, the server is started through ``setpriv`` as a host uid no one else uses (the same
range as ``BwrapSandbox``), with no groups, no capabilities (bounding set included) and
no_new_privs. So the student's code cannot read what is root-only: the hidden material and the
grader's own files (``run_autograder`` makes the bundle 0700/0600), the results file, other
sandboxes' homes. It keeps ``LocalSandbox``'s private home (here owned by that uid, mode 0700),
minimal environment and rlimits; RLIMIT_NPROC holds, since the uid is not root's, and the
sandbox's cgroup where the machine allows one.

What it lacks beside the jail, which is why ``results.json`` records the isolation used: the
system-call filter, a private view of the filesystem (world-readable files stay readable) and
of the network. The server's own code (``autograder/inside/``) is copied to a world-readable
folder, since the grader's folder is root-only.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import autograder
from autograder.sandbox.bwrap import SETPRIV_HINT, SandboxUnavailable, drop_to, next_uid
from autograder.sandbox.launch import Launch
from autograder.sandbox.limits import Limits
from autograder.sandbox.local import LocalSandbox


def check_available() -> None:
    """Dropping to another uid needs root and ``setpriv``; say which is missing."""
    if os.geteuid() != 0:
        raise SandboxUnavailable("running student code as an unprivileged user needs the grader to run as root")
    if shutil.which("setpriv") is None:
        raise SandboxUnavailable(SETPRIV_HINT)


def _readable_copy(package: Path, dest: Path) -> None:
    """``autograder/__init__.py`` and ``autograder/inside/``: all the server imports of the grader."""
    (dest / "autograder" / "inside").mkdir(parents=True)
    shutil.copyfile(package / "__init__.py", dest / "autograder" / "__init__.py")
    for source in package.joinpath("inside").glob("*.py"):
        shutil.copyfile(source, dest / "autograder" / "inside" / source.name)
    for path in [dest, *dest.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _chown_tree(root: Path, uid: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.lchown(path, uid, uid)


class UserSandbox(LocalSandbox):
    """One submission's function server as its own unprivileged uid; see the module docstring."""

    cgroup_limited = True  # started in the sandbox's cgroup (``LaunchedSandbox``), where there is one

    def __init__(self, files: str | Path | None = None, limits: Limits = Limits()) -> None:
        check_available()
        self.uid = next_uid()
        self.code = Path(tempfile.mkdtemp(prefix="autograder-server-"))
        super().__init__(files, limits)

    def _launch(self, files: Path | None) -> Launch:
        launch = super()._launch(files)  # the student's files copied into self.home
        _chown_tree(self.home, self.uid)
        os.chmod(self.home, 0o700)
        _readable_copy(Path(autograder.__file__).resolve().parent, self.code)
        return Launch([*drop_to(self.uid), *launch.command], env={**launch.env, "PYTHONPATH": str(self.code)}, cwd=launch.cwd)

    def _process_limit(self) -> int | None:
        """The uid is the sandbox's alone: its count starts at zero, and root's exemption is gone."""
        return self.limits.processes

    def _kill_tree(self) -> None:
        """The session, then every process of the uid: one that called setsid() left the session."""
        super()._kill_tree()
        for entry in os.scandir("/proc"):
            try:
                if entry.name.isdigit() and entry.stat().st_uid == self.uid:
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue

    def _release(self) -> None:
        super()._release()
        shutil.rmtree(self.code, ignore_errors=True)
