"""The course root: where its folders are and how its ``nbgrader_config.py`` is loaded.

``NbGraderAPI`` does not read ``nbgrader_config.py`` by itself (only nbgrader's command-line
apps do), so every pipeline step goes through :meth:`CourseRoot.api`, which loads the file the
way nbgrader does and pins ``CourseDirectory.root`` and the exchange root to this course.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

from autograder.errors import AuthoringError
from autograder.reports import records

CONFIG_FILE = "nbgrader_config.py"
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit|Interrupt))\b:?(.*)$")


@dataclass(frozen=True)
class CourseRoot:
    """A course directory on disk (the repository root, or a copy of it in a test)."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None = None) -> "CourseRoot":
        path = Path(root or os.getcwd()).resolve()
        if not (path / CONFIG_FILE).is_file():
            raise AuthoringError(
                f"no {CONFIG_FILE} in {path}: run from the course root or pass --course-root")
        return cls(path)

    # -- folders (nbgrader's own layout: <step>/<student>/<assignment>) -----------------
    def source(self, assignment: str) -> Path:
        return self.root / "source" / assignment

    def release(self, assignment: str) -> Path:
        return self.root / "release" / assignment

    def submitted(self, student: str, assignment: str) -> Path:
        return self.root / "submitted" / student / assignment

    def autograded(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment

    def feedback(self, student: str, assignment: str) -> Path:
        return self.root / "feedback" / student / assignment

    def record(self, student: str, assignment: str) -> Path:
        """The trusted record of one submission, outside every folder student code can see."""
        return records.record_path(self.root, assignment, student)

    def recorded_students(self, assignment: str) -> list[str]:
        folder = records.records_dir(self.root, assignment)
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def submitted_students(self, assignment: str) -> list[str]:
        base = self.root / "submitted"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())

    # -- configuration ------------------------------------------------------------------
    def config(self, overrides: Config | None = None) -> Config:
        """``nbgrader_config.py`` as nbgrader's apps would read it, plus our defaults."""
        loader = PyFileConfigLoader(CONFIG_FILE, path=str(self.root))
        try:
            cfg = loader.load_config()
        except ConfigFileNotFound:
            raise AuthoringError(f"no {CONFIG_FILE} in {self.root}") from None
        except Exception as exc:  # the file is Python: any error in it is the author's
            raise AuthoringError(f"{self.root / CONFIG_FILE} failed to load: {exc}") from exc
        cfg.CourseDirectory.root = str(self.root)
        if "root" not in cfg.Exchange:
            cfg.Exchange.root = str(self.root / "exchange")
        if overrides is not None:
            cfg.merge(overrides)
        return cfg

    def course_id(self, cfg: Config | None = None) -> str:
        cfg = cfg if cfg is not None else self.config()
        course_id = cfg.CourseDirectory.get("course_id", "")
        if not course_id:
            raise AuthoringError(
                f"c.CourseDirectory.course_id is not set in {self.root / CONFIG_FILE}; "
                "the filesystem exchange needs it (e.g. c.CourseDirectory.course_id = 'dl101')")
        return course_id

    def exchange_root(self, cfg: Config | None = None) -> Path:
        cfg = cfg if cfg is not None else self.config()
        return Path(cfg.Exchange.root)

    def api(self, overrides: Config | None = None) -> NbGraderAPI:
        """An ``NbGraderAPI`` that sees this course's config; quiet unless something fails."""
        _put_venv_tools_on_path()
        cfg = self.config(overrides)
        cfg.NbGraderAPI.log_level = cfg.NbGraderAPI.get("log_level", logging.WARNING)
        return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)

    def gradebook(self, cfg: Config | None = None) -> Gradebook:
        """The SQLite gradebook; use as a context manager so it is closed."""
        _put_venv_tools_on_path()
        cfg = cfg if cfg is not None else self.config()
        create_gradebook(self.db_url(cfg))
        return Gradebook(self.db_url(cfg), CourseDirectory(config=cfg).course_id)

    def db_url(self, cfg: Config | None = None) -> str:
        """The gradebook's SQLAlchemy URL (``c.CourseDirectory.db_url``)."""
        return CourseDirectory(config=cfg if cfg is not None else self.config()).db_url


def check(result: dict, action: str) -> str:
    """Turn an ``NbGraderAPI`` result dict into its log, or an error naming what failed."""
    if result is None:
        raise AuthoringError(f"{action}: nbgrader's exchange is not available on this platform")
    if not result.get("success"):
        raise AuthoringError(f"{action} failed: {failure_reason(result)}")
    return result.get("log", "")


def failure_reason(result: dict) -> str:
    """The cause of an nbgrader failure, not its generic "see the above traceback" wrapper."""
    for text in (result.get("log"), result.get("error")):
        lines = [ln.strip() for ln in (text or "").splitlines()]
        causes = [m for m in map(_EXCEPTION_LINE.match, lines)
                  if m and m.group(1) != "NbGraderException"]
        if causes:
            name, message = causes[-1].group(1), causes[-1].group(2).strip()
            return (f"{name}: {message}" if message else name)[:300]
    lines = [ln.strip() for ln in (result.get("log") or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no message from nbgrader"


def create_gradebook(db_url: str) -> None:
    """Create a missing SQLite gradebook as nbgrader's ``Gradebook`` does (its tables, then
    alembic's version table at the head revision), reading the head from nbgrader's migration
    scripts in this process: nbgrader runs ``alembic heads`` as a subprocess for it (1-4 s of
    the first release). Any other database is left to nbgrader."""
    if not db_url.startswith("sqlite:///") or Path(db_url[len("sqlite:///"):]).exists():
        return
    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from nbgrader.dbutil import ALEMBIC_DIR
    from sqlalchemy import create_engine, text

    head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
    engine = create_engine(db_url, future=True)
    try:
        Base.metadata.create_all(bind=engine)
        with engine.begin() as db:
            db.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);"))
            db.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head})
    finally:
        engine.dispose()


def _put_venv_tools_on_path() -> None:
    """nbgrader shells out to ``alembic`` to create a gradebook; find the one beside Python.

    Running ``.venv/bin/python -m autograder`` without activating the venv leaves its ``bin/``
    off ``PATH``, and a first ``generate_assignment`` then fails with "No such file: alembic".
    """
    bindir = str(Path(sys.executable).parent)
    if shutil.which("alembic") is None and bindir not in os.environ.get("PATH", ""):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
