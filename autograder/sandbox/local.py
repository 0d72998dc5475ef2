"""``--no-sandbox``: the function server in a plain child process, without the jail.

For machines where bubblewrap cannot run. The student's code still runs in a process of its
own, never in the grader's: there it could patch torch or the trusted references and pass
every check. What it keeps of the jail: a private temporary folder holding a copy of the
student's files (cwd, HOME, TMPDIR, MPLCONFIGDIR; removed on close), a minimal environment,
rlimits from ``Limits``, a session of its own (so the kill reaches every process it started)
and the same host-side deadlines as ``BwrapSandbox``.

What it does NOT isolate, which is why every report says so: the student's code runs as the
grader's user, can read and write whatever that user can (the course root, hidden tests, the
gradebook, other students), has the network, and a process that calls ``setsid()`` outlives
the kill. ``scratch_bytes`` is not enforced (no tmpfs); RLIMIT_FSIZE still caps each file.
As root RLIMIT_NPROC is left unset, because the kernel exempts root from it: a fork bomb is
not stopped. Not root, the limit is added to the processes the grader's user already runs.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import autograder
from autograder.sandbox.limits import Limits
from autograder.sandbox.launch import SERVER_ARGS, Launch, LaunchedSandbox, server_environment


def _copy_files(files: Path, home: Path) -> None:
    """Folders and regular files only: a symlink would point the copy back at the original."""
    for path in sorted(files.rglob("*")):
        dest = home / path.relative_to(files)
        if path.is_symlink():
            continue
        if path.is_dir():
            dest.mkdir(exist_ok=True)
        elif path.is_file():
            shutil.copyfile(path, dest)


class LocalSandbox(LaunchedSandbox):
    """One submission's function server as a plain child process; see the module docstring."""

    def __init__(self, files: str | Path | None = None, limits: Limits = Limits()) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="autograder-student-"))
        super().__init__(files, limits)

    def _launch(self, files: Path | None) -> Launch:
        if files is not None:
            _copy_files(files, self.home)
        package_parent = str(Path(autograder.__file__).resolve().parent.parent)
        env = server_environment(str(self.home), package_parent, str(Path(sys.executable).parent))
        return Launch([sys.executable, *SERVER_ARGS], env=env, cwd=str(self.home))

    def _release(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
