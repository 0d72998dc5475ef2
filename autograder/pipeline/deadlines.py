"""Due dates, extensions and late penalties, kept where nbgrader keeps them: the gradebook.

- The due date is nbgrader's ``Assignment.duedate`` (UTC), set by ``release --due``.
- An extension is nbgrader's ``SubmittedAssignment.extension`` (a duration added to the due
  date for one student), set by ``extend ASSIGNMENT STUDENT --until``.
- A submission's time is nbgrader's ``SubmittedAssignment.timestamp``: the ``timestamp.txt``
  that ``nbgrader submit`` writes and ``collect`` copies into ``submitted/<student>/<assignment>/``,
  read by ``autograde``.
- The penalty is nbgrader's ``late_submission_penalty``, computed at autograde time by its
  ``AssignLatePenalties`` step with ``c.AssignLatePenalties.plugin_class`` (nbgrader's
  ``LateSubmissionPlugin``: none or zero; ``autograder.nbgrader_ext.late_penalty``: also per
  hour or day).

A date without a time zone is read in the course's time zone: ``c.Exchange.timezone`` in
``nbgrader_config.py``, the zone nbgrader stamps submissions in (default UTC).

What the other outputs call: ``late_line`` (the feedback header line), ``late_work`` and
``deadline_summary`` (the staff report), ``late_notes`` (the score table).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from dateutil.tz import gettz
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import as_timezone

from autograder.errors import AuthoringError
from autograder.pipeline.course import CONFIG_FILE, CourseRoot

DATE_FORMAT = ("YYYY-MM-DDTHH:MM, optionally with seconds and a time zone, e.g. 2026-12-01T23:59, "
               "2026-12-01T23:59+01:00, 2026-12-01T23:59Z or 2026-12-01T23:59 Europe/Berlin")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
MINUS = "\N{MINUS SIGN}"


# -- reading dates ------------------------------------------------------------------------
def course_timezone(course: CourseRoot) -> str:
    """``c.Exchange.timezone`` (nbgrader's zone for submission timestamps), default UTC."""
    zone = course.config().Exchange.get("timezone", "UTC") or "UTC"
    if gettz(zone) is None:
        raise AuthoringError(f"c.Exchange.timezone = {zone!r} in {course.root / CONFIG_FILE} "
                             "is not a time zone (e.g. 'UTC', 'Europe/Berlin')")
    return zone


def parse_deadline(text: str, timezone: str = "UTC", option: str = "--due") -> dt.datetime:
    """``text`` as a naive UTC datetime (nbgrader's convention); a zone-less time is in ``timezone``."""
    raw = text.strip()
    zone = timezone
    head, _, tail = raw.rpartition(" ")
    if head and tail[:1].isalpha():  # "2026-12-01T23:59 Europe/Berlin"
        raw, zone = head.strip(), tail
    tz = gettz(zone)
    try:
        if not _DATE_TIME.match(raw) or tz is None:
            raise ValueError(raw)
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise AuthoringError(f"{option} {text!r} is not a date and time: write {DATE_FORMAT}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None)


def show_time(utc: dt.datetime | None, timezone: str = "UTC") -> str:
    """A gradebook time (naive UTC) for people, in ``timezone``: ``2026-12-01 23:59 UTC``."""
    if utc is None:
        return "-"
    local = as_timezone(utc, timezone) if timezone not in ("", "UTC") else utc.replace(tzinfo=dt.timezone.utc)
    name = local.strftime("%Z") or local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {name}"


def show_duration(seconds: float) -> str:
    """``3 h 20 min``, ``2 d 4 h``, ``45 min``, ``30 s``: at most two units, rounded down."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{max(seconds, 1)} s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    units = [(days, "d"), (hours, "h"), (minutes, "min")]
    first = next(i for i, (n, _) in enumerate(units) if n)
    shown = [f"{n} {u}" for n, u in units[first:first + 2] if n]
    return " ".join(shown)


def show_points(points: float) -> str:
    value = f"{round(points, 2):g}"
    return f"{value} point" if value == "1" else f"{value} points"


# -- writing the gradebook ----------------------------------------------------------------
def set_due_date(course: CourseRoot, assignment: str, due: dt.datetime) -> None:
    """Record ``due`` (naive UTC) as nbgrader's ``Assignment.duedate``."""
    with course.gradebook() as gb:
        gb.update_or_create_assignment(assignment, duedate=due)


def _assignment_due(gb: Gradebook, assignment: str) -> dt.datetime | None:
    try:
        return gb.find_assignment(assignment).duedate
    except MissingEntry:
        return None


def due_date(course: CourseRoot, assignment: str) -> dt.datetime | None:
    with course.gradebook() as gb:
        return _assignment_due(gb, assignment)


def _no_gradebook(db_url: str) -> bool:
    """An SQLite gradebook that does not exist (nbgrader would make an empty one: never here)."""
    return db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file()


def roster(db_url: str) -> list[str]:
    """The ids of the students in the gradebook, sorted; [] without a gradebook."""
    if _no_gradebook(db_url):
        return []
    with Gradebook(db_url) as gb:
        return sorted(s.id for s in gb.students)


def student_due(db_url: str, assignment: str, student: str) -> dt.datetime | None:
    """The student's due date (naive UTC, extension included), also before they have a
    submission row; None: no due date."""
    if _no_gradebook(db_url):
        return None
    with Gradebook(db_url) as gb:
        due = _assignment_due(gb, assignment)
        if due is None:
            return None
        try:
            extension = gb.find_submission(assignment, student).extension
        except MissingEntry:
            extension = None
    return due + (extension or dt.timedelta(0))


@dataclass(frozen=True)
class Extension:
    student: str
    due: dt.datetime            # the assignment's due date (UTC)
    until: dt.datetime | None   # the student's (UTC); None: the extension was removed


def grant_extension(course: CourseRoot, assignment: str, student: str,
                    until: str | None) -> Extension:
    """Give ``student`` until ``until`` (a date as for ``--due``; None removes the extension).

    Stored as nbgrader's per-submission ``extension`` (``until`` minus the due date), on the
    student's submission row, made now if they have not submitted yet. The student must be on
    the roster or have a submission in ``submitted/``, so a mistyped id is refused, not added.
    """
    timezone = course_timezone(course)
    until_utc = parse_deadline(until, timezone, "--until") if until is not None else None
    with course.gradebook() as gb:
        due = _assignment_due(gb, assignment)
        if due is None:
            raise AuthoringError(
                f"{assignment} has no due date: release it with --due first "
                f"(python -m autograder release {assignment} --due 2026-12-01T23:59)")
        if until_utc is not None and until_utc <= due:
            raise AuthoringError(
                f"--until {until}: {show_time(until_utc, timezone)} is not after the due date "
                f"{show_time(due, timezone)}")
        known = {s.id for s in gb.students}
        if student not in known:
            if student not in course.submitted_students(assignment):
                raise AuthoringError(
                    f"no student {student!r} on the roster or in {course.root / 'submitted'}: "
                    "check the id, or import the roster first (python -m autograder students import)")
            gb.update_or_create_student(student)
        extension = None if until_utc is None else until_utc - due
        gb.update_or_create_submission(assignment, student, extension=extension)
    return Extension(student, due, until_utc)


# -- reading lateness back ----------------------------------------------------------------
@dataclass(frozen=True)
class LateSubmission:
    """One student's submission against its deadline, as the gradebook has it."""

    student: str
    due: dt.datetime | None        # the assignment's due date, UTC
    extension: dt.timedelta | None
    timestamp: dt.datetime | None  # when it was submitted, UTC (None: no timestamp.txt)
    seconds_late: float            # after the student's own due date (extension included)
    penalty: float                 # nbgrader's late_submission_penalty (0: none)
    raw_score: float
    max_score: float

    @property
    def student_due(self) -> dt.datetime | None:
        return None if self.due is None else self.due + (self.extension or dt.timedelta(0))

    @property
    def late(self) -> bool:
        return self.seconds_late > 0

    @property
    def score(self) -> float:
        """The score after the penalty, as nbgrader's CSV export computes it."""
        return max(0.0, self.raw_score - self.penalty)

    def line(self) -> str | None:
        """The feedback header line, or None when the work was on time:
        ``submitted 3 h 20 min after the due date: −2 points``."""
        if not self.late:
            return None
        which = "your extended due date" if self.extension else "the due date"
        cost = f"{MINUS}{show_points(self.penalty)}" if self.penalty else "no penalty"
        return f"submitted {show_duration(self.seconds_late)} after {which}: {cost}"

    def note(self) -> str:
        """The score table's note: ``late 3 h 20 min: −2 → 34/36``; "" when on time."""
        if not self.late:
            return ""
        cost = (f"{MINUS}{round(self.penalty, 2):g} \N{RIGHTWARDS ARROW} "
                f"{round(self.score, 2):g}/{self.max_score:g}") if self.penalty else "no penalty"
        return f"late {show_duration(self.seconds_late)}: {cost}"


def _from_submission(sub) -> LateSubmission:
    return LateSubmission(
        student=sub.student_id, due=sub.assignment.duedate, extension=sub.extension,
        timestamp=sub.timestamp, seconds_late=float(sub.total_seconds_late),
        penalty=float(sub.late_submission_penalty or 0.0), raw_score=float(sub.score or 0.0),
        max_score=float(sub.max_score or 0.0))


def lateness(db_url: str, assignment: str, student: str) -> LateSubmission | None:
    """The student's submission against its deadline; None when the gradebook has none."""
    with Gradebook(db_url) as gb:
        try:
            return _from_submission(gb.find_submission(assignment, student))
        except MissingEntry:
            return None


def late_line(db_url: str, assignment: str, student: str) -> str | None:
    """For the student's feedback header: ``submitted 3 h 20 min after the due date: −2 points``
    (or ``...: no penalty``, or ``... after your extended due date: ...``); None when on time,
    without a due date or without a timestamp."""
    found = lateness(db_url, assignment, student)
    return found.line() if found is not None else None


def late_work(db_url: str, assignment: str) -> list[LateSubmission]:
    """For the staff report: every submission that was late or has an extension, by student id."""
    with Gradebook(db_url) as gb:
        try:
            subs = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return []
        rows = [_from_submission(s) for s in subs]
    return sorted((r for r in rows if r.late or r.extension), key=lambda r: r.student)


def deadline_summary(db_url: str, assignment: str, timezone: str = "UTC") -> str | None:
    """For the staff report: ``due 2026-12-01 23:59 UTC; 2 late (−6 points in all); 1 extension``;
    None when the assignment has no due date."""
    with Gradebook(db_url) as gb:
        due = _assignment_due(gb, assignment)
    if due is None:
        return None
    rows = late_work(db_url, assignment)
    late = [r for r in rows if r.late]
    extensions = sum(1 for r in rows if r.extension)
    parts = [f"due {show_time(due, timezone)}", f"{len(late)} late"]
    lost = sum(r.penalty for r in late)
    if lost:
        parts[-1] += f" ({MINUS}{round(lost, 2):g} points in all)"
    parts.append(f"{extensions} extension" + ("" if extensions == 1 else "s"))
    return "; ".join(parts)


def late_notes(db_url: str, assignment: str) -> dict[str, str]:
    """The score table's notes of the late students, by id, in one gradebook session."""
    return {row.student: row.note() for row in late_work(db_url, assignment) if row.late}