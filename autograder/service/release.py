"""Putting a student's feedback into the exchange exactly where nbgrader's ``release_feedback`` does.

nbgrader publishes ``<exchange>/<course>/feedback/<md5(secret + notebook id)>.html`` (one file per
notebook of the submission), in a folder students may enter but not list (0711), by copying to a
temporary name and renaming; ``fetch_feedback`` then finds, for each submission in the student's
own cache, the file of that submission's secret. So the feedback reaches exactly the submission
it was made for, and only a holder of its secret (the student who submitted it) can name it.

Pages: the grading record cut down by ``policy.visible`` and set by the same HTML writer as the
staff's ``feedback`` command, with a note on top saying what this feedback is; or a short notice
(over the rate limit, superseded, after the due date), each a self-contained page.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from nbgrader.utils import notebook_hash

from autograder.judge.results import SubmissionResult
from autograder.pipeline.deadlines import show_time
from autograder.reports.feedback_html import write_feedback_page
from autograder.reports.html_common import esc, page

FOLDER_MODE = 0o711  # nbgrader: S_IRUSR | S_IWUSR | S_IXUSR | S_IXGRP | S_IXOTH
FILE_MODE = 0o644


def feedback_dir(course_exchange: Path) -> Path:
    folder = course_exchange / "feedback"
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)
    return folder


def feedback_path(course_exchange: Path, secret: str, notebook_id: str) -> Path:
    return course_exchange / "feedback" / f"{notebook_hash(secret=secret, notebook_id=notebook_id)}.html"


def publish(course_exchange: Path, secret: str, notebooks: list[str], html: str) -> bool:
    """Write ``html`` as the feedback of every notebook of the submission; False if every file
    already held exactly these bytes (a release finished before a crash is not made again)."""
    folder = feedback_dir(course_exchange)
    data = html.encode("utf-8")
    changed = False
    for notebook_id in notebooks:
        target = feedback_path(course_exchange, secret, notebook_id)
        try:
            if target.read_bytes() == data:
                continue
        except FileNotFoundError:
            pass
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".html", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        changed = True
    return changed


def _when(epoch: float, timezone: str) -> str:
    return show_time(dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None), timezone)


def feedback_html(result: SubmissionResult, seen_at: float, timezone: str, notes: list[str]) -> str:
    """The student's feedback page for this submission (``result`` already cut to the level)."""
    with tempfile.TemporaryDirectory(prefix="autograder-feedback-") as tmp:
        html = write_feedback_page(result, Path(tmp) / "feedback.html").read_text(encoding="utf-8")
    intro = [f"Instant feedback on your submission received {_when(seen_at, timezone)}. It is not "
             "your grade: the course staff grade the assignment as usual."] + notes
    banner = "".join(f'<p class="meta">{esc(line)}</p>' for line in intro if line)
    head, sep, rest = html.partition("</h1>")
    return head + sep + banner + rest if sep else html


def notice_html(assignment: str, student: str, seen_at: float, timezone: str, lines: list[str]) -> str:
    """A short page in place of feedback: why none comes now, and when it will."""
    body = [f"<h1>Feedback: {esc(assignment)}</h1>", f'<p class="meta">Student: <b>{esc(student)}</b></p>',
            f'<p class="meta">Your submission received {esc(_when(seen_at, timezone))}.</p>']
    body += [f"<p><b>{esc(line)}</b></p>" if i == 0 else f"<p>{esc(line)}</p>" for i, line in enumerate(lines)]
    return page(f"Feedback: {assignment} ({student})", "\n".join(body))


def over_limit_lines(next_at: float, timezone: str, limit: int, minutes: float) -> list[str]:
    return [f"Your next feedback comes at {_when(next_at, timezone)}.",
            f"Instant feedback is limited to {limit} per {minutes:g} minutes for each assignment. "
            "Your submission is kept: at that time your latest submission is graded, and its feedback "
            "replaces this page (fetch feedback again then). There is no need to submit again."]


def superseded_lines(newer_at: float, timezone: str) -> list[str]:
    return [f"You submitted again at {_when(newer_at, timezone)}: the feedback is for that newer submission.",
            "Fetch feedback again once it is ready; this older submission is not graded on its own here."]


def after_due_lines(due: dt.datetime, timezone: str) -> list[str]:
    return [f"No instant feedback after your due date ({show_time(due, timezone)}).",
            "Your submission is kept for the course staff, who grade it as usual."]
