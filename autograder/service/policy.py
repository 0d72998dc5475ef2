"""What a student may see, decided by staff: the visibility level, the due date, the time of record.

``level_for`` picks the level from the time the service saw the submission (never the student's
``timestamp.txt``) against the student's own due date (extension included). ``visible`` cuts a
grading record down to that level before any writer sees it, so the page can only show what is
left: ``public`` keeps the parts with no hidden tests; ``scores`` keeps hidden parts' scores, the
rules that failed and the named likely mistake, but no inputs, examples, curves or messages
(which may hold values); ``all`` keeps everything.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from pathlib import Path

import nbformat
from nbgrader.utils import parse_utc

from autograder.judge.notebook import HIDDEN_BEGIN
from autograder.judge.results import CheckResult, PartResult, SubmissionResult
from autograder.pipeline.deadlines import show_duration

def level_for(visibility: str, after_due_visibility: str, seen_at: float,
              student_due: dt.datetime | None) -> str | None:
    """The level for a submission seen at ``seen_at`` (epoch); None: no feedback (after the due date)."""
    if student_due is None or seen_at <= student_due.replace(tzinfo=dt.timezone.utc).timestamp():
        return visibility
    return None if after_due_visibility == "none" else after_due_visibility


@functools.lru_cache(maxsize=32)
def _hidden_parts(source: str, mtimes: tuple) -> frozenset[str]:
    hidden = set()
    for path in sorted(Path(source).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and meta.get("grade_id") and HIDDEN_BEGIN in cell.source:
                hidden.add(meta["grade_id"])
    return frozenset(hidden)


def hidden_parts(source: Path) -> frozenset[str]:
    """Grade ids of the instructor's test cells with a hidden-tests block (re-read when they change)."""
    mtimes = tuple(p.stat().st_mtime_ns for p in sorted(Path(source).glob("*.ipynb")))
    return _hidden_parts(str(source), mtimes)


def _bare(check: CheckResult) -> CheckResult:
    """No inputs, examples or curves; of the message only the kind of error of a hidden assert."""
    message = _error_kind(check.message) if check.message.endswith("in a hidden test") else ""
    return dataclasses.replace(check, message=message, counterexample=None, example=None, image_png=None)


def _error_kind(error: str | None) -> str | None:
    """``AssertionError: expected 3, in a hidden test`` -> ``AssertionError, in a hidden test``."""
    if not error:
        return error
    kind = error.split(":", 1)[0].split(",", 1)[0].strip()
    return f"{kind}, in a hidden test"


def _part(part: PartResult, level: str, hidden: frozenset[str]) -> PartResult:
    if level == "all" or part.grade_id not in hidden:
        return part
    return dataclasses.replace(part, checks=tuple(_bare(c) for c in part.checks),
                               error=_error_kind(part.error))


def visible(result: SubmissionResult, level: str, hidden: frozenset[str]) -> SubmissionResult:
    """``result`` as a student may see it at ``level``: at 'public' without the hidden parts at
    all (score included), at 'scores' with them bare; flags are for staff and always dropped."""
    parts = tuple(_part(p, level, hidden) for p in result.parts
                  if level != "public" or p.grade_id not in hidden)
    return dataclasses.replace(result, parts=parts, flags=())


def withheld(result: SubmissionResult, level: str, hidden: frozenset[str]) -> str:
    """What the page says is left out at ``level``, or ""."""
    if level == "public":
        gone = [p for p in result.parts if p.grade_id in hidden]
        if gone:
            total = sum(p.max_score for p in gone)
            return (f"{len(gone)} parts with hidden checks ({total:g} points) are graded after the due "
                    "date; this score counts the public checks only.")
    if level == "scores" and any(p.grade_id in hidden for p in result.parts):
        return ("Hidden checks show their score and the likely mistake; their inputs are shown "
                "after the due date.")
    return ""


def timestamp_flag(stamp: str | None, seen_at: float, tolerance: float) -> str | None:
    """Why a ``timestamp.txt`` is suspicious, or None: earlier than the time of record by more
    than ``tolerance`` seconds (a student can edit the file), or not a date at all."""
    if stamp is None:
        return "no timestamp.txt"
    try:
        when = parse_utc(stamp.strip())
    except (ValueError, OverflowError, TypeError):
        return f"timestamp.txt {stamp.strip()[:60]!r} is not a date"
    claimed = when.replace(tzinfo=dt.timezone.utc).timestamp()
    if seen_at - claimed > tolerance:
        seen = dt.datetime.fromtimestamp(seen_at, dt.timezone.utc)
        return (f"timestamp.txt says {when:%Y-%m-%d %H:%M:%S} UTC, {show_duration(seen_at - claimed)} "
                f"before the service saw the submission ({seen:%Y-%m-%d %H:%M:%S} UTC)")
    return None
