"""Unpacking LMS downloads for zip-collect without trusting a single name, member or size in them.

nbgrader's ``ExtractorPlugin`` unpacks with setuptools, which stops the whole class at the
first unsafe member without saying which, and bounds nothing. ``SafeExtractorPlugin`` checks
every member of every zip and tar, skips what is unsafe with a warning naming the archive and
the member, and carries on, so a hostile or broken upload never costs the honest ones.

It only ever writes regular files, under ``downloaded/<assignment>/extracted/``, which nbgrader
empties before each run: no link exists there for a path to follow out.
"""
from __future__ import annotations

import lzma
import os
import re
import shutil
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from nbgrader.plugins import ExtractorPlugin
from traitlets import Int

MiB = 2**20
CHUNK = MiB
MAX_NESTING = 2  # an LMS zip holding a student's zip holding a zip; deeper is not an upload
UNREADABLE = (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, struct.error,
              zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError)
FOLDER = "a folder"  # not a problem: folders are made as the files in them need them
_ABSOLUTE = re.compile(r"^(?:[/\\]|[A-Za-z]:)")


def member_parts(name: str) -> tuple[str, ...] | str:
    """The path components of an archive member's name, or why it may not be written.

    Backslashes count as separators (zips made on Windows use them), so ``..\\x`` is refused too.
    """
    if "\0" in name:
        return "its name contains a NUL byte"
    if _ABSOLUTE.match(name):
        return "its path is absolute"
    parts = tuple(p for p in re.split(r"[/\\]", name) if p not in ("", "."))
    if ".." in parts:
        return "its path climbs out of the folder with '..'"
    return parts or "its name is empty"


def copy_downloads(downloads: Path, archive: Path, skip: Callable[[str], None]) -> None:
    """Copy the instructor's downloads into nbgrader's archive folder; links stay links (the
    extractor skips them), fifos and devices are left out."""
    def specials(folder: str, names: list[str]) -> list[str]:
        left_out = []
        for name in names:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                skip(f"skipped {os.path.join(folder, name)}: not a regular file (a fifo, socket "
                     "or device); put the downloaded file itself in the folder")
                left_out.append(name)
        return left_out
    shutil.copytree(downloads, archive, symlinks=True, ignore=specials, dirs_exist_ok=True)


@dataclass
class _Budget:
    """What one downloaded archive, with the archives inside it, may still write."""

    bytes: int
    entries: int


class _TooBig(Exception):
    pass


class SafeExtractorPlugin(ExtractorPlugin):
    """Extract zip and tar downloads member by member; skip and name whatever is unsafe."""

    max_file_bytes = Int(100 * MiB, help="Largest file one archive member may expand to.").tag(config=True)
    max_archive_bytes = Int(2048 * MiB, help=(
        "Most bytes one downloaded archive, with the archives inside it, may expand to.")).tag(config=True)
    max_archive_entries = Int(10_000, help=(
        "Most entries (files, folders, links) read from one downloaded archive.")).tag(config=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skipped: list[str] = []

    def skip(self, message: str) -> None:
        self.log.warning(message)
        self.skipped.append(message)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        root, target = Path(archive_path), Path(extracted_path)
        for path in self._regular_files(root, root):
            name = str(path.relative_to(root))
            dest_dir = target / path.relative_to(root).parent
            dest_dir.mkdir(parents=True, exist_ok=True)
            if self._is_archive(path.name):
                budget = _Budget(self.max_archive_bytes, self.max_archive_entries)
                self._unpack(path, dest_dir / self._stem(path.name), name, budget, 0)
            elif path.stat().st_size > self.max_file_bytes:
                self.skip(f"skipped {name}: it is {path.stat().st_size / MiB:.0f} MiB, "
                          + self._over(self.max_file_bytes))
            else:
                try:
                    shutil.copyfile(path, dest_dir / path.name)
                except OSError as exc:
                    self.skip(f"skipped {name}: unreadable ({_reason(exc)}); download it again")

    def _regular_files(self, root: Path, folder: Path) -> Iterator[Path]:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            path = Path(entry.path)
            if entry.is_symlink():
                self.skip(f"skipped {path.relative_to(root)}: a symbolic link; put the file it "
                          "points to in the downloads instead")
            elif entry.is_dir():
                yield from self._regular_files(root, path)
            elif entry.is_file():
                yield path
            else:
                self.skip(f"skipped {path.relative_to(root)}: not a regular file")

    def _is_archive(self, name: str) -> bool:
        return os.path.splitext(name)[1] in self.zip_ext

    def _stem(self, name: str) -> str:
        """The folder an archive unpacks into, named as nbgrader names it (``a.tar.gz`` -> ``a``)."""
        stem = os.path.splitext(name)[0]
        return os.path.splitext(stem)[0] if stem.endswith(".tar") else stem

    def _unpack(self, path: Path, folder: Path, name: str, budget: _Budget, depth: int) -> None:
        """Unpack one archive into ``folder``; archives inside it afterwards, into their own."""
        try:
            is_zip = path.suffix == ".zip" or zipfile.is_zipfile(path)
            opened = zipfile.ZipFile(path) if is_zip else tarfile.open(path)
        except UNREADABLE as exc:
            self.skip(f"skipped {name}: not a readable zip or tar archive ({_reason(exc)}); "
                      "download it again or ask the student for the notebook itself")
            return
        inner: list[tuple[Path, str]] = []
        with opened:
            members = _zip_members(opened) if isinstance(opened, zipfile.ZipFile) else _tar_members(opened)
            try:
                for member, problem, size, open_member in members:
                    budget.entries -= 1
                    if budget.entries < 0:
                        self.skip(f"stopped reading {name} at {member!r}: over the "
                                  f"{self.max_archive_entries} entries one download may hold "
                                  "(c.SafeExtractorPlugin.max_archive_entries); the rest is skipped")
                        break
                    written = self._member(member, problem, size, open_member, folder, name, budget)
                    if written and self._is_archive(written.name) and depth < MAX_NESTING:
                        inner.append((written, f"{name}/{member}"))
            except UNREADABLE as exc:
                self.skip(f"stopped reading {name}: it is corrupt ({_reason(exc)}); "
                          "the members before the damage were kept")
        for path_inside, inner_name in inner:  # after the outer members: a bomb inside costs only its own
            self._unpack(path_inside, path_inside.parent / self._stem(path_inside.name),
                         inner_name, budget, depth + 1)
            path_inside.unlink()

    def _member(self, member: str, problem: str | None, size: int, open_member, folder: Path,
                name: str, budget: _Budget) -> Path | None:
        """Write one member if it is a safe regular file within bounds; the path written, if any."""
        parts = member_parts(member)
        problem = problem or (parts if isinstance(parts, str) else None)
        if problem == FOLDER:
            return None
        if problem:
            self.skip(f"skipped {member!r} in {name}: {problem}, so it is never extracted; if it "
                      "is a submission, ask the student for the file itself")
            return None
        limit = min(self.max_file_bytes, budget.bytes)
        if size > limit:
            self.skip(f"skipped {member!r} in {name}: it declares {size / MiB:.0f} MiB, "
                      + self._over(limit))
            return None
        dest = folder.joinpath(*parts)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open_member() as source, open(dest, "xb") as out:
                try:
                    _copy_bounded(source, out, limit)
                except BaseException:
                    out.close()
                    dest.unlink()
                    raise
        except _TooBig:
            self.skip(f"skipped {member!r} in {name}: it expands past {limit / MiB:.0f} MiB "
                      f"(it declares {size / MiB:.0f} MiB), " + self._over(limit))
            return None
        except FileExistsError:
            self.skip(f"skipped {member!r} in {name}: a file of that name was already extracted")
            return None
        except UNREADABLE as exc:
            self.skip(f"skipped {member!r} in {name}: unreadable ({_reason(exc)})")
            return None
        budget.bytes -= dest.stat().st_size
        return dest

    def _over(self, limit: int) -> str:
        if limit == self.max_file_bytes:
            return (f"over the {self.max_file_bytes / MiB:.0f} MiB bound on one file (if it is "
                    "genuine, raise c.SafeExtractorPlugin.max_file_bytes in nbgrader_config.py)")
        return (f"over what is left of the {self.max_archive_bytes / MiB:.0f} MiB bound on one "
                "download (if it is genuine, raise c.SafeExtractorPlugin.max_archive_bytes)")


def _reason(exc: BaseException) -> str:
    """An exception on one line (tarfile's list every format it tried, one per line)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]


def _copy_bounded(source, out, limit: int) -> None:
    """Copy at most ``limit`` bytes: counted as written, since declared sizes can lie."""
    written = 0
    while chunk := source.read(CHUNK):
        written += len(chunk)
        if written > limit:
            raise _TooBig()
        out.write(chunk)


def _zip_members(archive: zipfile.ZipFile) -> Iterator[tuple[str, str | None, int, Callable]]:
    """(name, why it may not be extracted or None, declared size, opener) for each member."""
    for info in archive.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)  # Unix mode, 0 from other systems
        problem = (FOLDER if info.is_dir() or kind == stat.S_IFDIR
                   else _special(kind) or ("encrypted" if info.flag_bits & 0x1 else None))
        yield info.filename, problem, info.file_size, lambda info=info: archive.open(info)


def _tar_members(archive: tarfile.TarFile) -> Iterator[tuple[str, str | None, int, Callable]]:
    for info in archive:
        if info.isdir():
            problem = FOLDER
        elif info.issym():
            problem = "a symbolic link"
        elif info.islnk():
            problem = "a hard link"
        elif info.ischr() or info.isblk() or info.isfifo():
            problem = "a device file or fifo"
        else:
            problem = None if info.isreg() else f"not a regular file (tar type {info.type!r})"
        yield info.name, problem, info.size, lambda info=info: archive.extractfile(info)


def _special(kind: int) -> str | None:
    if kind == stat.S_IFLNK:
        return "a symbolic link"
    if kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
        return "a device file, fifo or socket"
    return None
