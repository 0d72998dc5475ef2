"""The HTML of the service's hub pages: a student's own submissions, their feedback, the staff page.

Plain functions from plain data (the state file's rows, the status figures) to a whole page,
with ``html_common.page`` as the shell (inline CSS, no script at all). Every string a student
can influence (their id, the folder name, ``timestamp.txt``, a refusal reason, anything in the
grading record) goes through ``esc``; links are built from validated ids and numbers only.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote

from autograder.pipeline.deadlines import show_time
from autograder.reports.html_common import esc, page, table
from autograder.service.status import Status
from autograder.service.store import Submission


@dataclass(frozen=True)
class Quota:
    left: int
    capacity: int
    every_minutes: float
    not_before: float  # over the limit: the next feedback is due then (0: not over it)


@dataclass(frozen=True)
class Roster:
    students: tuple[str, ...]  # in the gradebook
    assignments: tuple[str, ...]  # released


@dataclass(frozen=True)
class Line:
    number: int  # the student's submissions counted from their first (stable in links)
    sub: Submission
    label: str


def when(epoch: float, timezone: str) -> str:
    return show_time(dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None), timezone)


def clock(epoch: float, now: float, timezone: str) -> str:
    """HH:MM (and the zone), with the date only when it is not today's."""
    full, today = when(epoch, timezone), when(now, timezone)
    return full[11:] if full[:10] == today[:10] else full


def state_label(sub: Submission, quota: Quota | None, now: float, timezone: str) -> str:
    if sub.state in ("waiting", "queued"):
        if quota is not None and quota.not_before > now and not sub.staff:
            return f"over the limit until {clock(quota.not_before, now, timezone)}"
        return "queued"
    if sub.state in ("grading", "graded"):
        return "grading"
    if sub.state == "released":
        return "feedback ready" if sub.outcome == "graded" else "could not be graded (see the feedback)"
    return {"superseded": "superseded: the feedback is for a newer submission",
            "after-due": "after the due date: no instant feedback",
            "refused": "not taken (not a submission of this student)"}.get(sub.state, sub.state)


def lines(subs_newest_first: list[Submission], quotas: dict[str, Quota], now: float, timezone: str) -> list[Line]:
    count = len(subs_newest_first)
    return [Line(count - i, s, state_label(s, quotas.get(s.assignment), now, timezone))
            for i, s in enumerate(subs_newest_first)]


def student_url(prefix: str, student: str) -> str:
    return f"{prefix}students/{quote(student, safe='')}"


def _score(sub: Submission) -> str:
    if sub.state != "released" or sub.score is None:
        return ""
    return f"{sub.score:g} / {sub.max_score:g} ({esc(sub.level)})"


def student_page(student: str, rows: list[Line], quotas: dict[str, Quota], prefix: str, timezone: str,
                 now: float, staff_link: bool) -> str:
    base = student_url(prefix, student)
    body = [f"<h1>Instant feedback: {esc(student)}</h1>",
            '<p class="meta">What the grading service did with each of your submissions, newest first. '
            "Instant feedback is not your grade: the course staff grade each assignment as usual.</p>"]
    if staff_link:
        body.append(f'<p><a href="{esc(prefix)}staff">Staff page</a></p>')
    if quotas:
        body.append("<h2>Feedbacks left</h2>")
        body.append(table(("assignment", "left now", "one more every", "limit"), [
            (esc(a), str(q.left), f"{q.every_minutes:g} minutes", str(q.capacity)) for a, q in sorted(quotas.items())],
            numeric=frozenset({1, 3})))
    body.append("<h2>Submissions</h2>")
    if not rows:
        body.append('<p class="muted">No submissions yet: submit from the Assignments tab of JupyterLab '
                    "(or <code>nbgrader submit</code>); the feedback appears here and in Fetch Feedback.</p>")
    else:
        body.append(table(("#", "assignment", "submitted", "state", "score", "feedback"), [
            (str(r.number), esc(r.sub.assignment), esc(when(r.sub.seen_at, timezone)), esc(r.label), _score(r.sub),
             f'<a href="{esc(base)}/feedback/{r.number}">open</a>' if r.sub.shown else "")
            for r in rows], numeric=frozenset({0})))
    return page(f"Instant feedback: {student}", "\n".join(body))


def _form(prefix: str, action: str, student: str, assignment: str, xsrf: str, label: str) -> str:
    return (f'<form method="post" action="{esc(prefix)}staff/{action}">'
            f'<input type="hidden" name="_xsrf" value="{esc(xsrf)}">'
            f'<input type="hidden" name="student" value="{esc(student)}">'
            f'<input type="hidden" name="assignment" value="{esc(assignment)}">'
            f'<button type="submit">{esc(label)}</button></form>')


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def staff_page(status: Status, subs: list[Submission], quotas: dict[tuple[str, str], Quota],
               flags: list[tuple[str, str, str]], requests: list[tuple], prefix: str, timezone: str,
               now: float, xsrf: str, roster: Roster = Roster((), ())) -> str:
    head = (f"running (pid {status.pid}, since {status.started})" if status.running else "not running")
    body = ["<h1>Instant feedback: staff</h1>",
            f'<p class="meta">Service: <b>{esc(head)}</b>. Queue depth: <b>{status.queue_depth}</b>. '
            f"Submit to feedback: p50 <b>{_seconds(status.p50)}</b>, p95 <b>{_seconds(status.p95)}</b> over "
            f"{status.answered} feedbacks (not counting waits for the rate limit). Flagged timestamps: "
            f"<b>{status.flags}</b>.</p>",
            '<p class="meta">Submissions: ' + esc(", ".join(f"{n} {s}" for s, n in sorted(status.counts.items()))
                                                  or "none") + "</p>"]
    waiting = [s for s in subs if s.state in ("waiting", "queued", "grading", "graded")]
    body.append("<h2>Queue</h2>")
    body.append(table(("student", "assignment", "submitted", "state"), [
        (f'<a href="{esc(student_url(prefix, s.student))}">{esc(s.student)}</a>', esc(s.assignment),
         esc(when(s.seen_at, timezone)), esc(state_label(s, quotas.get((s.student, s.assignment)), now, timezone)))
        for s in waiting]) if waiting else '<p class="muted">Nothing waiting.</p>')
    latest: dict[tuple[str, str], Submission] = {}
    counts: dict[tuple[str, str], int] = {}
    for s in subs:  # oldest first: the last one kept is the latest
        if s.state != "refused":
            latest[(s.student, s.assignment)] = s
            counts[(s.student, s.assignment)] = counts.get((s.student, s.assignment), 0) + 1
    body.append("<h2>Students</h2>")
    everyone = {(student, assignment) for student in roster.students for assignment in roster.assignments}
    rows = []
    for student, assignment in sorted(everyone | set(latest)):
        s = latest.get((student, assignment))
        if s is None:  # on the roster, nothing submitted: no page of theirs and nothing to act on yet
            rows.append((esc(student), esc(assignment), "0", "no submission", "", "-", ""))
            continue
        q = quotas.get((student, assignment))
        rows.append((f'<a href="{esc(student_url(prefix, student))}">{esc(student)}</a>', esc(assignment),
                     str(counts[(student, assignment)]), esc(state_label(s, q, now, timezone)), _score(s),
                     "-" if q is None else f"{q.left} of {q.capacity}",
                     _form(prefix, "grade", student, assignment, xsrf, "Grade latest now")
                     + _form(prefix, "lift", student, assignment, xsrf, "Lift rate limit")))
    body.append(table(("student", "assignment", "submissions", "latest", "score", "feedbacks left", "act"), rows)
                if rows else '<p class="muted">No students in the gradebook and no submissions yet.</p>')
    bad = [s for s in subs if s.state == "released" and s.outcome not in (None, "graded")]
    body.append("<h2>Ungradable submissions</h2>")
    body.append(table(("student", "assignment", "submitted", "outcome"), [
        (esc(s.student), esc(s.assignment), esc(when(s.seen_at, timezone)), esc(s.outcome)) for s in bad])
        if bad else '<p class="muted">None.</p>')
    body.append("<h2>Forged or odd timestamps</h2>")
    body.append(table(("student", "submission", "why"), [(esc(a), esc(b), esc(c)) for a, b, c in flags])
                if flags else '<p class="muted">None flagged.</p>')
    body.append("<h2>Staff actions</h2>")
    body.append(table(("action", "student", "assignment", "by", "asked", "outcome"), [
        (esc(k), esc(st), esc(a), esc(by), esc(when(at, timezone)), esc(out or "pending"))
        for k, st, a, by, at, _done, out in requests]) if requests else '<p class="muted">None yet.</p>')
    return page("Instant feedback: staff", "\n".join(body))


def error_page(code: int, message: str) -> str:
    return page(f"{code}", f"<h1>{code}</h1><p>{esc(message)}</p>")
