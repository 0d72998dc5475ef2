"""The course's gradebook is created as nbgrader creates it, without its ``alembic`` subprocess."""
from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from nbgrader.api import Gradebook

from autograder.pipeline.course import create_gradebook


def _contents(path: Path) -> tuple[list, list, list]:
    db = sqlite3.connect(path)
    try:
        return (db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall(),
                db.execute("SELECT * FROM alembic_version").fetchall(), db.execute("SELECT id FROM course").fetchall())
    finally:
        db.close()


def test_a_created_gradebook_has_nbgraders_schema_and_alembic_head(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # nbgrader's alembic
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    create_gradebook(f"sqlite:///{ours}")
    Gradebook(f"sqlite:///{ours}").close()  # nbgrader adds its course row to a gradebook it finds
    Gradebook(f"sqlite:///{theirs}").close()
    assert _contents(ours) == _contents(theirs)
    assert len(_contents(ours)[1]) == 1


def test_an_existing_gradebook_or_another_database_is_left_alone(tmp_path):
    existing = tmp_path / "gradebook.db"
    existing.write_bytes(b"")
    create_gradebook(f"sqlite:///{existing}")
    create_gradebook("postgresql://grader@db/gradebook")
    assert existing.read_bytes() == b"" and list(tmp_path.iterdir()) == [existing]
