"""Moving notebooks between instructor and students, with nbgrader's own classes.

Release and collect use the filesystem exchange (``c.Exchange.root``, by default
``<course root>/exchange``); ``zip_collect`` takes notebooks downloaded from an LMS, through
nbgrader's ``ZipCollectApp`` with a safe extractor (``downloads``) and checked file names.
``submit_as`` is nbgrader's ``ExchangeSubmit`` with an explicit student id, which nbgrader
supports (``--student``) so that one account can submit for a named student (the demo does).
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import nbformat
from nbgrader.apps.zipcollectapp import ZipCollectApp
from nbgrader.exchange.default import ExchangeSubmit
from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.utils import capture_log, find_all_notebooks, parse_utc
from traitlets.config import Config

from autograder.errors import AuthoringError
from autograder.pipeline import deadlines
from autograder.pipeline.course import CourseRoot, check, create_gradebook
from autograder.pipeline.downloads import SafeExtractorPlugin, copy_downloads, member_parts

STUDENT_ID = re.compile(r"(?!\.)[\w.@+-]{1,100}")  # a folder name under submitted/, and a gradebook id
# nbgrader's own per-file and per-folder lines, said better (or not worth saying) by the checks below
_NBGRADER_NOISE = re.compile(r"Directory not found\. Creating|Clearing existing files|"
                             r"Skipped submission with no match|Regular expression '|\d+ files collected")


def release(course: CourseRoot, assignment: str, due: str | None = None) -> Path:
    """Build ``release/<assignment>`` from ``source/`` and publish it to the exchange.

    ``due`` (e.g. ``2026-12-01T23:59``, in ``c.Exchange.timezone`` unless it names a zone) is
    recorded as the assignment's due date in the gradebook (``deadlines``); without it, a due
    date set before is kept.
    """
    if not course.source(assignment).is_dir():
        raise AuthoringError(
            f"no source notebook folder {course.source(assignment)}: "
            f"put the instructor notebook in source/{assignment}/")
    cfg = course.config()
    course.course_id(cfg)
    due_utc = None if due is None else deadlines.parse_deadline(due, deadlines.course_timezone(course))
    course.exchange_root(cfg).mkdir(parents=True, exist_ok=True)
    create_gradebook(course.db_url(cfg))  # without nbgrader's `alembic heads` subprocess
    api = course.api()
    check(api.generate_assignment(assignment), f"generate_assignment {assignment}")
    if due_utc is not None:
        deadlines.set_due_date(course, assignment, due_utc)
    api.unrelease(assignment)  # re-releasing replaces the outbound copy
    check(api.release_assignment(assignment), f"release_assignment {assignment}")
    return course.exchange_root(cfg) / course.course_id(cfg) / "outbound" / assignment


def unreleased_points(course: CourseRoot, assignment: str) -> list[str]:
    """Grade cells whose points in ``source/`` differ from the gradebook's, which nbgrader's
    autograde restores from the last release: grading before releasing again would mix the two."""
    from nbgrader.api import MissingEntry

    changed = []
    with course.gradebook() as gb:
        for path in sorted(course.source(assignment).glob("*.ipynb")):
            for cell in nbformat.read(path, as_version=4).cells:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                if not meta.get("grade") or not meta.get("grade_id"):
                    continue
                try:
                    released = gb.find_grade_cell(meta["grade_id"], path.stem, assignment).max_score
                except MissingEntry:
                    continue  # a new cell: nbgrader itself says to release first
                points = float(meta.get("points") or 0)
                if points != released:
                    changed.append(f"{meta['grade_id']} is worth {points:g} points "
                                   f"in {path.relative_to(course.root)} but {released:g} as released")
    return changed


def collect(course: CourseRoot, assignment: str) -> list[str]:
    """Copy every student's newest submission from the exchange into ``submitted/``."""
    cfg = course.config()
    course.course_id(cfg)
    check(course.api().collect(assignment, update=True), f"collect {assignment}")
    return course.submitted_students(assignment)


def default_named_regexp(course: CourseRoot, assignment: str) -> str:
    """``<student>_<notebook>.ipynb`` for this assignment's released notebooks.

    ``FileNameCollectorPlugin`` matches the regexp against the file's absolute path, hence the
    leading ``.*/``; the notebook names are literal, so student ids may contain underscores.
    """
    names = find_all_notebooks(str(course.release(assignment)))
    if not names:
        raise AuthoringError(
            f"no released notebooks in {course.release(assignment)}: run "
            f"`python -m autograder release {assignment}` before zip-collect")
    alternatives = "|".join(re.escape(n) for n in sorted(names))
    return rf".*/(?P<student_id>[^/]+)_(?P<file_id>{alternatives})$"


def zip_collect(course: CourseRoot, assignment: str, downloads: Path | None = None,
                skipped: list[str] | None = None) -> list[str]:
    """Collect LMS downloads (notebooks and/or archives) named like ``<student>_<notebook>.ipynb``.

    nbgrader reads them from ``downloaded/<assignment>/archive/``; ``downloads`` is copied
    there first. A course with other file names sets ``c.FileNameCollectorPlugin.named_regexp``
    in ``nbgrader_config.py``. A file or archive member that is unsafe, unreadable or badly
    named is skipped with one warning on stderr (appended to ``skipped`` too, when given) and
    the rest is collected.
    """
    archive = course.root / "downloaded" / assignment / "archive"
    overrides = Config()
    overrides.ZipCollectApp.force = True
    overrides.ZipCollectApp.log_level = logging.WARNING
    if not course.config().FileNameCollectorPlugin.get("named_regexp"):
        overrides.FileNameCollectorPlugin.named_regexp = default_named_regexp(course, assignment)
    api = course.api(overrides)
    api.coursedir.assignment_id = assignment
    app = SafeZipCollectApp(coursedir=api.coursedir, parent=api)
    left_out: list[str] = []

    def skip(message: str) -> None:
        app.log.warning(message)
        left_out.append(message)

    if downloads is not None:
        downloads = Path(downloads)
        if not downloads.is_dir():
            raise AuthoringError(f"--zip {downloads}: not a directory of downloaded notebooks")
        if downloads.resolve() != archive.resolve():
            copy_downloads(downloads, archive, skip)
    if not archive.is_dir() or not any(archive.iterdir()):
        raise AuthoringError(
            f"nothing to collect in {archive}: pass the folder of LMS downloads with --zip DIR")
    check(capture_log(app), f"zip_collect {assignment}")
    if skipped is not None:
        skipped.extend(left_out + app.extractor_plugin_inst.skipped + app.collector_plugin_inst.skipped)
    return course.submitted_students(assignment)


class SafeZipCollectApp(ZipCollectApp):
    """nbgrader's zip collect, with ``SafeExtractorPlugin`` and the course's collector checked."""

    def init_plugins(self) -> None:
        self.extractor_plugin = SafeExtractorPlugin  # not configurable: it keeps every write inside
        super().init_plugins()
        self.collector_plugin_inst = CheckedCollector(
            self.collector_plugin_inst, self._format_collect_path(self.extracted_directory), parent=self)

    def start(self) -> None:
        self.log.addFilter(_not_noise)
        try:
            super().start()
        finally:
            self.log.removeFilter(_not_noise)


def _not_noise(record: logging.LogRecord) -> bool:
    return not (record.levelno == logging.WARNING and _NBGRADER_NOISE.match(record.getMessage()))


class CheckedCollector(FileNameCollectorPlugin):
    """The course's collector, then the checks nbgrader leaves to it.

    nbgrader writes to ``submitted/<student_id>/<assignment>/<file_id>`` whatever the names
    say, and stops the class at a duplicate it cannot order or a timestamp it cannot read; such
    a file is skipped here with a warning naming it, so the other files are still collected.
    """

    def __init__(self, inner: FileNameCollectorPlugin, root: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.inner, self.root = inner, root
        self.skipped: list[str] = []
        self.seen: dict[tuple[str, str], tuple[str, object]] = {}

    def collect(self, submitted_file: str) -> dict | None:
        info = self.inner.collect(submitted_file)
        problem = self._problem(submitted_file, info)
        if problem:
            message = f"skipped {os.path.relpath(submitted_file, self.root)}: {problem}"
            self.log.warning(message)
            self.skipped.append(message)
            return None
        return info

    def _problem(self, path: str, info: dict | None) -> str | None:
        ext = os.path.splitext(path)[1]
        if not info:
            if ext not in self.inner.valid_ext:
                return (f"not a notebook (only {', '.join(self.inner.valid_ext)} files are collected: "
                        "c.FileNameCollectorPlugin.valid_ext)")
            return (f"its name does not match {self.inner.named_regexp!r}: rename it "
                    "<student>_<notebook>.ipynb or set c.FileNameCollectorPlugin.named_regexp")
        student, file_id, stamp = info.get("student_id"), info.get("file_id"), info.get("timestamp")
        if not (isinstance(student, str) and isinstance(file_id, str)):
            return None  # nbgrader stops with the collector's mistake: the course's to fix
        if not STUDENT_ID.fullmatch(student):
            return (f"the student id {student!r} in its name cannot be a folder name (1 to 100 "
                    "letters, digits and _ - . @ +, not starting with a dot): rename the file")
        submission = os.path.splitext(file_id)[0] + ext
        parts = member_parts(submission)
        if isinstance(parts, str):
            return (f"the notebook name {file_id!r} taken from it is unsafe ({parts}): fix "
                    "c.FileNameCollectorPlugin.named_regexp")
        if isinstance(stamp, str) and stamp:
            try:
                parse_utc(stamp)
            except (ValueError, OverflowError):
                return f"its timestamp {stamp!r} is not a date: rename the file"
        first, first_stamp = self.seen.setdefault((student, submission), (path, stamp))
        if first != path and not (stamp and first_stamp):
            return (f"{student} already has {submission} from {os.path.relpath(first, self.root)}, "
                    "and without timestamps on both the newer is unknown: keep one of the two")
        return None


def submit_as(course: CourseRoot, assignment: str, student: str, workdir: Path,
              cache: Path) -> None:
    """Submit ``workdir/<assignment>/`` to the exchange as ``student`` (nbgrader's own submit).

    ``cache`` replaces the per-user ``$JUPYTER_DATA_DIR/nbgrader_cache`` so that a demo or a
    test never writes outside the folders it owns.
    """
    overrides = Config()
    overrides.Exchange.assignment_dir = str(workdir)
    overrides.Exchange.cache = str(cache)
    overrides.ExchangeSubmit.strict = False
    api = course.api(overrides)
    api.coursedir.assignment_id = assignment
    api.coursedir.student_id = student
    app = ExchangeSubmit(coursedir=api.coursedir, authenticator=api.authenticator, parent=api)
    check(capture_log(app), f"submit {assignment} as {student}")
