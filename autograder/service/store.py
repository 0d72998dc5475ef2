"""The service's own state: one SQLite file next to the gradebook (never ``gradebook.db``).

One row per inbound submission folder, moving through these states::

    waiting -> queued -> grading -> graded -> released
                  \\-> superseded (a newer submission of the same student came first)
    waiting -> refused (not the named student's folder, or not a submission)
    queued  -> after-due (seen after the student's due date, with no feedback then)

``graded`` keeps the grading record until its feedback is in the exchange, so a service killed in
between releases it after the restart, once; ``grading`` rows go back to ``queued`` on start.
The file holds submission secrets, so it is made readable by its owner only. Written by the one
service process (see ``lock``); ``service-status`` reads it alongside, which WAL mode allows.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,          -- the inbound folder name: student+assignment+timestamp+random
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    seen_at REAL NOT NULL,        -- time of record: when the service first saw the folder (UTC epoch)
    seen_by TEXT NOT NULL,        -- 'watch' (an event or listing while running) or 'scan' (found at start)
    state TEXT NOT NULL,
    stamp TEXT,                   -- timestamp.txt as the student wrote it
    secret TEXT,
    notebooks TEXT,               -- JSON list of notebook ids (file names without .ipynb)
    flag TEXT,                    -- why the timestamp is suspicious, for staff
    detail TEXT,                  -- refusal reason, or what the last notice said
    attempts INTEGER NOT NULL DEFAULT 0,
    suspect INTEGER NOT NULL DEFAULT 0,   -- its grading was in hand when a worker died: run it alone
    record TEXT,                  -- the grading record (JSON), kept until released
    level TEXT,                   -- the visibility it was released with
    score REAL, max_score REAL, outcome TEXT,
    noticed_at REAL,              -- when a notice (over the limit, ...) went out for it
    released_at REAL,             -- when its feedback went out
    releases INTEGER NOT NULL DEFAULT 0,
    shown TEXT,                   -- the record as released, cut to its level (JSON): the hub pages show it
    staff INTEGER NOT NULL DEFAULT 0      -- a staff member asked for it to be graded now (no token taken)
);
CREATE INDEX IF NOT EXISTS submissions_state ON submissions(state);
CREATE TABLE IF NOT EXISTS buckets (
    student TEXT NOT NULL, assignment TEXT NOT NULL,
    tokens REAL NOT NULL, updated REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0,   -- over the limit: the next feedback is due then
    PRIMARY KEY (student, assignment)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS requests (   -- staff actions from the hub pages, carried out by the loop
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                 -- 'grade' (the latest submission now) or 'lift' (the rate limit)
    student TEXT NOT NULL, assignment TEXT NOT NULL,
    by TEXT NOT NULL, at REAL NOT NULL, done_at REAL, outcome TEXT
);
"""


@dataclass(frozen=True)
class Submission:
    id: str
    student: str
    assignment: str
    seen_at: float
    state: str
    stamp: str | None = None
    secret: str | None = None
    notebooks: str | None = None
    flag: str | None = None
    attempts: int = 0
    suspect: int = 0
    record: str | None = None
    noticed_at: float | None = None
    released_at: float | None = None
    seen_by: str = "watch"
    detail: str | None = None
    releases: int = 0
    level: str | None = None  # the visibility decided when it was queued (from its time of record)
    shown: str | None = None  # the released record at its level (JSON), for the hub pages
    staff: int = 0  # graded now at a staff member's request: no rate-limit token taken
    score: float | None = None  # as released (at its level)
    max_score: float | None = None
    outcome: str | None = None  # 'graded' or why not (ungradable)


_FIELDS = tuple(Submission.__dataclass_fields__)
_ADDED = {"shown": "TEXT", "staff": "INTEGER NOT NULL DEFAULT 0"}  # columns newer than some state files


class Store:
    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(submissions)")}
            for name, kind in _ADDED.items():
                if name not in have:
                    self.db.execute(f"ALTER TABLE submissions ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self.db.close()

    # -- submissions ------------------------------------------------------------------
    def get(self, sub_id: str) -> Submission | None:
        row = self.db.execute(f"SELECT {', '.join(_FIELDS)} FROM submissions WHERE id = ?", (sub_id,)).fetchone()
        return Submission(*row) if row else None

    def known(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM submissions")}

    def add(self, sub_id: str, student: str, assignment: str, seen_at: float, seen_by: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO submissions (id, student, assignment, seen_at, seen_by, state) "
                        "VALUES (?, ?, ?, ?, ?, 'waiting')", (sub_id, student, assignment, seen_at, seen_by))

    def update(self, sub_id: str, **fields) -> None:
        names = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE submissions SET {names} WHERE id = ?", (*fields.values(), sub_id))

    def in_state(self, *states: str) -> list[Submission]:
        marks = ", ".join("?" * len(states))
        rows = self.db.execute(f"SELECT {', '.join(_FIELDS)} FROM submissions WHERE state IN ({marks}) "
                               "ORDER BY seen_at, id", states)
        return [Submission(*r) for r in rows]

    def requeue_unfinished(self) -> int:
        """After a crash: what was being graded goes back to the queue (its grading is lost)."""
        return self.db.execute("UPDATE submissions SET state = 'queued' WHERE state = 'grading'").rowcount

    def mark_released(self, sub_id: str, when: float, **fields) -> None:
        self.db.execute("UPDATE submissions SET state = 'released', released_at = ?, record = NULL, "
                        "releases = releases + 1" + "".join(f", {k} = ?" for k in fields) + " WHERE id = ?",
                        (when, *fields.values(), sub_id))

    def of_student(self, student: str) -> list[Submission]:
        """A student's submissions, newest first."""
        rows = self.db.execute(f"SELECT {', '.join(_FIELDS)} FROM submissions WHERE student = ? "
                               "ORDER BY seen_at DESC, id DESC", (student,))
        return [Submission(*r) for r in rows]

    def everything(self) -> list[Submission]:
        rows = self.db.execute(f"SELECT {', '.join(_FIELDS)} FROM submissions ORDER BY seen_at, id")
        return [Submission(*r) for r in rows]

    def latest(self, student: str, assignment: str) -> Submission | None:
        """The student's newest submission of the assignment that is one (not refused)."""
        row = self.db.execute(f"SELECT {', '.join(_FIELDS)} FROM submissions WHERE student = ? AND assignment = ? "
                              "AND state != 'refused' ORDER BY seen_at DESC, id DESC LIMIT 1",
                              (student, assignment)).fetchone()
        return Submission(*row) if row else None

    # -- staff requests (written by the hub pages, carried out by the loop) ---------------
    def add_request(self, kind: str, student: str, assignment: str, by: str, at: float) -> int:
        return self.db.execute("INSERT INTO requests (kind, student, assignment, by, at) VALUES (?, ?, ?, ?, ?)",
                               (kind, student, assignment, by, at)).lastrowid

    def pending_requests(self) -> list[tuple[int, str, str, str, str]]:
        """(id, kind, student, assignment, by) not yet carried out, oldest first."""
        return list(self.db.execute("SELECT id, kind, student, assignment, by FROM requests "
                                    "WHERE done_at IS NULL ORDER BY id"))

    def finish_request(self, request_id: int, when: float, outcome: str) -> None:
        self.db.execute("UPDATE requests SET done_at = ?, outcome = ? WHERE id = ?", (when, outcome, request_id))

    def recent_requests(self, limit: int = 20) -> list[tuple]:
        """(kind, student, assignment, by, at, done_at, outcome), newest first."""
        return list(self.db.execute("SELECT kind, student, assignment, by, at, done_at, outcome FROM requests "
                                    "ORDER BY id DESC LIMIT ?", (limit,)))

    # -- token buckets ----------------------------------------------------------------
    def bucket(self, student: str, assignment: str) -> tuple[float, float, float] | None:
        row = self.db.execute("SELECT tokens, updated, not_before FROM buckets WHERE student = ? AND "
                              "assignment = ?", (student, assignment)).fetchone()
        return tuple(row) if row else None

    def set_bucket(self, student: str, assignment: str, tokens: float, updated: float, not_before: float) -> None:
        self.db.execute("INSERT INTO buckets (student, assignment, tokens, updated, not_before) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (student, assignment) DO UPDATE SET tokens = excluded.tokens, "
                        "updated = excluded.updated, not_before = excluded.not_before",
                        (student, assignment, tokens, updated, not_before))

    # -- meta -------------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # -- figures ----------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, COUNT(*) FROM submissions GROUP BY state"))

    def latencies(self) -> list[float]:
        """Seconds from submission (time of record) to its graded feedback, oldest first; not
        counting submissions that waited for the rate limit (their wait is the policy's)."""
        return [r[0] for r in self.db.execute(
            "SELECT released_at - seen_at FROM submissions WHERE released_at IS NOT NULL "
            "AND noticed_at IS NULL AND outcome IN ('graded', 'ungradable') ORDER BY released_at")]

    def flags(self, assignment: str | None = None) -> list[tuple[str, str, str]]:
        """(student, submission id, why) of every flagged timestamp."""
        query = "SELECT student, id, flag FROM submissions WHERE flag IS NOT NULL"
        args: tuple = ()
        if assignment is not None:
            query += " AND assignment = ?"
            args = (assignment,)
        return list(self.db.execute(query + " ORDER BY student, seen_at", args))
