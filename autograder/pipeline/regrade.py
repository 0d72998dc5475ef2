"""What a regrade changed: old and new records compared part by part, as a table and a CSV.

``python -m autograder grade ASSIGNMENT --regrade`` keeps each submission's record from before
(``grading/<assignment>/<student>.json``), grades again, and compares: a student changed when a
part's score or points differ, or the submission went from graded to ungradable or back. The
changes are printed, written to ``grading/<assignment>/regrade-<UTC time>.csv`` (one row per
changed part) and the staff report shows the newest such file. A regrade that changes no score
writes no file; ``--dry-run`` writes nothing at all.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder.judge.results import SubmissionResult
from autograder.reports import records

CSV_COLUMNS = ("student", "grade_id", "old", "new", "old_max", "new_max")
_CSV_NAME = re.compile(r"^regrade-(\d{8}T\d{6}Z)(?:-(\d+))?\.csv$")
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class PartChange:
    """One part whose score or points changed; ``None`` where the part had no score (no record,
    ungradable, or the part did not exist on that side)."""

    grade_id: str
    old: float | None
    new: float | None
    old_max: float | None = None
    new_max: float | None = None


@dataclass(frozen=True)
class StudentChange:
    student: str
    old: SubmissionResult | None  # None: no (readable) record before this regrade
    new: SubmissionResult
    parts: tuple[PartChange, ...]


@dataclass
class Regrade:
    """One regrade run: every submission graded again and those whose scores changed."""

    assignment: str
    when: datetime
    dry_run: bool = False
    regraded: list[str] = field(default_factory=list)
    changes: list[StudentChange] = field(default_factory=list)
    csv_path: Path | None = None

    def add(self, old: SubmissionResult | None, new: SubmissionResult) -> StudentChange | None:
        self.regraded.append(new.student)
        change = compare(old, new)
        if change is not None:
            self.changes.append(change)
        return change


def old_records(course_root: Path, assignment: str, students: list[str]) -> dict[str, SubmissionResult | None]:
    """Each student's record before the regrade; a missing or unreadable one is ``None`` ("new")."""
    found: dict[str, SubmissionResult | None] = {}
    for student in students:
        path = records.record_path(course_root, assignment, student)
        try:
            found[student] = records.load_result(path)
        except (OSError, ValueError, KeyError, TypeError):  # absent, corrupt or another format
            found[student] = None
    return found


def _same(a: float | None, b: float | None) -> bool:
    return (a is None) == (b is None) and (a is None or round(a, 6) == round(b, 6))


def compare(old: SubmissionResult | None, new: SubmissionResult) -> StudentChange | None:
    """The parts whose score or points differ between ``old`` and ``new``; ``None`` if none did
    and the status is the same (a changed reason or feedback text alone is not a score change)."""
    def scored(result: SubmissionResult | None) -> dict[str, tuple[float, float]]:
        if result is None or result.status != "graded":
            return {}
        return {p.grade_id: (p.score, p.max_score) for p in result.parts}

    before, after = scored(old), scored(new)
    order = list(dict.fromkeys([*before, *after]))
    parts = []
    for grade_id in order:
        (o, om), (n, nm) = before.get(grade_id, (None, None)), after.get(grade_id, (None, None))
        if not (_same(o, n) and _same(om, nm)):
            parts.append(PartChange(grade_id, o, n, om, nm))
    status_changed = old is None or old.status != new.status
    if not parts and not status_changed:
        return None
    if not parts and old is not None and old.status != "graded" and new.status != "graded":
        return None
    return StudentChange(new.student, old, new, tuple(parts))


# -- the printed table -------------------------------------------------------------------------
def _num(x: float | None, other: float | None = None) -> str:
    if x is None:
        return "-"
    text = f"{x:.2f}"
    if other is not None and text == f"{other:.2f}" and round(x, 6) != round(other, 6):
        text = f"{x:.6g}"  # two decimals would hide the change
    return text


def _total(result: SubmissionResult | None, other: SubmissionResult | None) -> str:
    if result is None:
        return "new"
    if result.status != "graded":
        return "ungradable"
    other_score = other.score if other is not None and other.status == "graded" else None
    return _num(result.score, other_score)


def _part_text(p: PartChange) -> str:
    if p.old_max is None or p.new_max is None or _same(p.old_max, p.new_max):
        return f"{p.grade_id} {_num(p.old, p.new)}→{_num(p.new, p.old)}"
    return (f"{p.grade_id} {_num(p.old, p.new)}/{_num(p.old_max)}"
            f"→{_num(p.new, p.old)}/{_num(p.new_max)}")


def change_lines(regrade: Regrade) -> list[tuple[str, str, str]]:
    """``(student, "old → new", parts)`` per changed student, by student id."""
    rows = []
    for c in sorted(regrade.changes, key=lambda c: c.student):
        totals = f"{_total(c.old, c.new)} → {_total(c.new, c.old)}"
        note = "no record before" if c.old is None else ", ".join(_part_text(p) for p in c.parts)
        if c.new.status != "graded" and c.new.reason:
            note = (note + "; " if note else "") + c.new.reason
        rows.append((c.student, totals, note))
    return rows


def format_regrade(regrade: Regrade) -> str:
    """What the command prints after the score table."""
    head = "dry run, nothing written: " if regrade.dry_run else ""
    if not regrade.changes:
        return f"regrade of {regrade.assignment}: {head}no score changed ({len(regrade.regraded)} submissions regraded)"
    rows = change_lines(regrade)
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"regrade of {regrade.assignment}: {head}{len(rows)} of {len(regrade.regraded)} "
             f"submissions changed"]
    lines += [f"  {s.ljust(widths[0])}  {t.ljust(widths[1])}  {n}".rstrip() for s, t, n in rows]
    if regrade.csv_path is not None:
        lines.append(f"changes written to {regrade.csv_path}")
    return "\n".join(lines)


# -- the CSV ------------------------------------------------------------------------------------
def _cell(x: float | None) -> str:
    return "" if x is None else repr(round(x, 6))


def csv_rows(regrade: Regrade) -> list[tuple[str, ...]]:
    return [(c.student, p.grade_id, _cell(p.old), _cell(p.new), _cell(p.old_max), _cell(p.new_max))
            for c in sorted(regrade.changes, key=lambda c: c.student) for p in c.parts]


def write_csv(course_root: Path, regrade: Regrade) -> Path:
    """``grading/<assignment>/regrade-<UTC time>.csv``, one row per changed part; never overwrites."""
    folder = records.records_dir(course_root, regrade.assignment)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = regrade.when.astimezone(timezone.utc).strftime(_STAMP)
    path, n = folder / f"regrade-{stamp}.csv", 1
    while path.exists():
        n += 1
        path = folder / f"regrade-{stamp}-{n}.csv"
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(csv_rows(regrade))
    tmp.replace(path)
    regrade.csv_path = path
    return path


# -- the last regrade, for the staff report -----------------------------------------------------
@dataclass(frozen=True)
class LastRegrade:
    when: datetime
    path: Path
    rows: tuple[dict[str, str], ...]  # the CSV's rows, by CSV_COLUMNS

    @property
    def students(self) -> list[str]:
        return list(dict.fromkeys(r["student"] for r in self.rows))


def last_regrade(course_root: Path, assignment: str) -> LastRegrade | None:
    """The newest regrade CSV of ``assignment``, or ``None`` if it was never regraded with changes."""
    folder = records.records_dir(course_root, assignment)
    found = [(m.group(1), int(m.group(2) or 1), p) for p in folder.glob("regrade-*.csv")
             if (m := _CSV_NAME.match(p.name))] if folder.is_dir() else []
    if not found:
        return None
    stamp, _, path = max(found)
    with path.open(newline="", encoding="utf-8") as f:
        rows = tuple(dict(r) for r in csv.DictReader(f))
    when = datetime.strptime(stamp, _STAMP).replace(tzinfo=timezone.utc)
    return LastRegrade(when, path, rows)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


__all__ = ["Regrade", "StudentChange", "PartChange", "LastRegrade", "compare", "old_records",
           "write_csv", "format_regrade", "last_regrade"]
