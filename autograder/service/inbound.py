"""Reading a submission out of the exchange's inbound folder, trusting nothing in it.

``nbgrader submit`` makes ``inbound/<student>+<assignment>+<timestamp>+<random>/`` (the notebooks,
``timestamp.txt``, ``submission_secret.txt`` last) owned by the student and world-writable. The
service copies it once, when complete, into its own private spool and grades that copy: what the
student changes in the exchange afterwards changes nothing. The copy follows no symbolic link
(every file is opened with ``O_NOFOLLOW`` relative to its folder's descriptor), keeps only
regular files and folders, and stops at the sandbox's size; the secret and the timestamp stay out
of it. A folder whose Unix owner is not the student it names is refused, as nbgrader's
``collect`` does (``check_owner``).
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

SECRET = re.compile(r"[0-9a-f]{128}")  # secrets.token_hex(64), as nbgrader submit writes it
NOT_COPIED = {"timestamp.txt", "submission_secret.txt"}
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Snapshot:
    student: str
    assignment: str
    secret: str
    stamp: str | None
    notebooks: tuple[str, ...]  # notebook ids: top-level .ipynb files without the suffix
    folder: Path  # the private copy


class Incomplete(Exception):
    """Still being written (or not yet readable): look again soon."""


class Refused(Exception):
    """Never gradable: the reason, for the log and the state."""


def parse_name(name: str) -> tuple[str, str] | None:
    """``(student, assignment)`` of an inbound folder name, or None for anything else."""
    parts = name.split("+")
    if len(parts) not in (3, 4) or not all(parts[:3]) or name.startswith(".") or not name.isprintable():
        return None  # nbgrader never writes a control character (a forged log line, say) into a name
    return parts[0], parts[1]


def released(course_exchange: Path) -> set[str]:
    """Assignments with a released copy in ``outbound/``."""
    try:
        return {e.name for e in os.scandir(course_exchange / "outbound") if e.is_dir(follow_symlinks=False)}
    except FileNotFoundError:
        return set()


def _read_small(dir_fd: int, name: str, limit: int = 4096) -> str | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused(f"{name} is not a regular file")
        return os.read(fd, limit).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _copy_tree(src_fd: int, dest: Path, budget: list[int], top: bool) -> None:
    dest.mkdir(mode=0o700, exist_ok=True)
    for entry in sorted(os.scandir(src_fd), key=lambda e: e.name):
        budget[1] -= 1
        if budget[1] < 0:
            raise Refused(f"more than {MAX_ENTRIES} files")
        if top and entry.name in NOT_COPIED:
            continue
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            fd = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=src_fd)
            try:
                _copy_tree(fd, dest / entry.name, budget, False)
            finally:
                os.close(fd)
        elif stat.S_ISREG(mode):
            fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src_fd)
            with os.fdopen(fd, "rb") as src, open(dest / entry.name, "wb") as out:
                while chunk := src.read(1 << 20):
                    budget[0] -= len(chunk)
                    if budget[0] < 0:
                        raise Refused("larger than a student's sandbox holds")
                    out.write(chunk)
        # symbolic links, fifos, devices: left out, as the cluster's packer does


def snapshot(folder: Path, spool: Path, check_owner: bool, max_bytes: int) -> Snapshot:
    """Copy a complete submission into ``spool/<folder name>``; ``Incomplete`` or ``Refused`` else."""
    parsed = parse_name(folder.name)
    if parsed is None:
        raise Refused("not a submission folder name (student+assignment+timestamp+random)")
    student, assignment = parsed
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise Refused("removed from the exchange before it could be read") from None
    except NotADirectoryError:
        raise Refused("not a folder") from None
    except OSError as exc:  # ELOOP: a symbolic link; EACCES: not yet readable
        if isinstance(exc, PermissionError):
            raise Incomplete(str(exc)) from None
        raise Refused(f"cannot be opened as a folder ({exc.strerror})") from None
    target = spool / folder.name
    try:
        owner = os.fstat(fd).st_uid
        if check_owner:
            try:
                name = pwd.getpwuid(owner).pw_name
            except KeyError:
                name = f"uid {owner}"
            if name != student:
                raise Refused(f"the folder belongs to {name}, not to {student}")
        secret = _read_small(fd, "submission_secret.txt")
        if secret is None or not SECRET.fullmatch(secret.strip()):
            raise Incomplete("submission_secret.txt not written yet")
        stamp = _read_small(fd, "timestamp.txt", 200)
        shutil.rmtree(target, ignore_errors=True)
        spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        _copy_tree(fd, target, [max_bytes, MAX_ENTRIES], True)
    except PermissionError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise Incomplete(str(exc)) from None
    except Refused:
        shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        os.close(fd)
    notebooks = tuple(sorted(p.stem for p in target.glob("*.ipynb") if p.is_file()))
    if not notebooks:
        shutil.rmtree(target, ignore_errors=True)
        raise Refused("no notebook in it")
    return Snapshot(student, assignment, secret.strip(), stamp, notebooks, target)
