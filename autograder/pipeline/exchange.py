"""Moving notebooks between instructor and students, with nbgrader's own classes.

Release and collect use the filesystem exchange (``c.Exchange.root``, by default
``<course root>/exchange``); ``zip_collect`` takes notebooks downloaded from an LMS.
``submit_as`` is nbgrader's ``ExchangeSubmit`` with an explicit student id, which nbgrader
supports (``--student``) so that one account can submit for a named student (the demo does).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from nbgrader.apps.zipcollectapp import ZipCollectApp
from nbgrader.exchange.default import ExchangeSubmit
from nbgrader.utils import capture_log, find_all_notebooks
from traitlets.config import Config

from autograder.errors import AuthoringError
from autograder.pipeline.course import CourseRoot, check


def release(course: CourseRoot, assignment: str) -> Path:
    """Build ``release/<assignment>`` from ``source/`` and publish it to the exchange."""
    if not course.source(assignment).is_dir():
        raise AuthoringError(
            f"no source notebook folder {course.source(assignment)}: "
            f"put the instructor notebook in source/{assignment}/")
    cfg = course.config()
    course.course_id(cfg)
    course.exchange_root(cfg).mkdir(parents=True, exist_ok=True)
    api = course.api()
    check(api.generate_assignment(assignment), f"generate_assignment {assignment}")
    api.unrelease(assignment)  # re-releasing replaces the outbound copy
    check(api.release_assignment(assignment), f"release_assignment {assignment}")
    return course.exchange_root(cfg) / course.course_id(cfg) / "outbound" / assignment


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


def zip_collect(course: CourseRoot, assignment: str, downloads: Path | None = None) -> list[str]:
    """Collect LMS downloads (notebooks and/or zips) named like ``<student>_<notebook>.ipynb``.

    nbgrader reads them from ``downloaded/<assignment>/archive/``; ``downloads`` is copied
    there first. A course with other file names sets ``c.FileNameCollectorPlugin.named_regexp``
    in ``nbgrader_config.py``.
    """
    archive = course.root / "downloaded" / assignment / "archive"
    if downloads is not None:
        downloads = Path(downloads)
        if not downloads.is_dir():
            raise AuthoringError(f"--zip {downloads}: not a directory of downloaded notebooks")
        shutil.copytree(downloads, archive, dirs_exist_ok=True)
    if not archive.is_dir() or not any(archive.iterdir()):
        raise AuthoringError(
            f"nothing to collect in {archive}: pass the folder of LMS downloads with --zip DIR")
    overrides = Config()
    overrides.ZipCollectApp.force = True
    overrides.ExtractorPlugin.force = True
    if not course.config().FileNameCollectorPlugin.get("named_regexp"):
        overrides.FileNameCollectorPlugin.named_regexp = default_named_regexp(course, assignment)
    api = course.api(overrides)
    api.coursedir.assignment_id = assignment
    app = ZipCollectApp(coursedir=api.coursedir, parent=api)
    result = capture_log(app)
    check(result, f"zip_collect {assignment}")
    skipped = [ln for ln in result.get("log", "").splitlines() if "Skipped submission" in ln]
    if skipped:
        api.log.warning("zip-collect skipped files whose names did not match: %s", skipped)
    return course.submitted_students(assignment)


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
