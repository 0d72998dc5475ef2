"""The filesystem a sandbox sees, as bubblewrap arguments: read-only system and Python, private home.

Only ``/usr`` (and the ``/bin``, ``/lib*`` links or folders), ``/etc/ld.so.cache``, the
interpreter's prefix, the venv (at ``/opt/venv``) and the grader's ``autograder/__init__.py`` and
``autograder/inside/`` (at ``/opt/grader``) are bound, all read-only. The student's files are
copied by bwrap into a size-capped tmpfs, so nothing they write touches the host's disk.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import autograder

HOME = "/home/student"
GRADER_ROOT = "/opt/grader"
VENV_ROOT = "/opt/venv"


class Mounts:
    """Builds bwrap's filesystem arguments, creating each mount point's parents world-readable."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.fds: list[int] = []
        self._made = {"/"}

    def parents(self, dest: str) -> None:
        for parent in reversed(Path(dest).parents):
            if str(parent) not in self._made:
                self.args += ["--perms", "0755", "--dir", str(parent)]
                self._made.add(str(parent))

    def ro_bind(self, src: str | Path, dest: str) -> None:
        self.parents(dest)
        self.args += ["--ro-bind", str(src), dest]
        self._made.add(dest)

    def system(self) -> None:
        self.ro_bind("/usr", "/usr")
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = Path("/", name)
            if path.is_symlink():
                self.args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                self.ro_bind(path, str(path))
        if Path("/etc/ld.so.cache").exists():
            self.ro_bind("/etc/ld.so.cache", "/etc/ld.so.cache")

    def python(self) -> str:
        """Bind the interpreter and the venv; return the interpreter's path inside."""
        base = os.path.realpath(sys.base_prefix)
        if not base.startswith("/usr/"):
            self.ro_bind(base, base)
        if os.path.realpath(sys.prefix) == base:
            return os.path.realpath(sys.executable)
        self.ro_bind(sys.prefix, VENV_ROOT)
        return str(Path(VENV_ROOT, Path(sys.executable).relative_to(sys.prefix)))

    def grader(self) -> None:
        package = Path(autograder.__file__).parent
        self.ro_bind(package / "__init__.py", f"{GRADER_ROOT}/autograder/__init__.py")
        self.ro_bind(package / "inside", f"{GRADER_ROOT}/autograder/inside")

    def scratch(self, files: Path | None, size: int) -> None:
        self.parents(HOME)
        self.args += ["--size", str(size), "--perms", "0777", "--tmpfs", HOME]
        for path in sorted(files.rglob("*")) if files is not None else ():
            dest = f"{HOME}/{path.relative_to(files).as_posix()}"
            if path.is_dir() and not path.is_symlink():
                self.args += ["--perms", "0777", "--dir", dest]
            elif path.is_file() and not path.is_symlink():
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                self.fds.append(fd)
                self.args += ["--perms", "0666", "--file", str(fd), dest]

