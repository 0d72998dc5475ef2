"""One offline HTML page for course staff: how the class did, what went wrong, what needs a TA.

Sections carry stable ids (``#distribution``, ``#parts``, ``#mistakes``, ``#flags``,
``#ungradable``, ``#manual``, ``#regrade``) so links and tests can point at them. All student-derived text is
escaped; the page has no scripts and a Content-Security-Policy that forbids them anyway.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from autograder.judge.results import PER_PROCESS_LIMITS, SubmissionResult
from autograder.reports import charts, stats
from autograder.reports.feedback_text import clean, points
from autograder.reports.html_common import esc, img, page, table

if TYPE_CHECKING:
    from autograder.pipeline.regrade import LastRegrade

NO_SANDBOX_WARNING = (
    "WARNING: grading ran WITHOUT the sandbox. Student code ran with the grader's own "
    "permissions and could have changed its score, other students' files or the gradebook. "
    "Do not release these grades; regrade with the sandbox enabled.")
PER_PROCESS_WARNING = (
    "Memory, processes and CPU were limited per process only, not for each student's sandbox as a "
    "whole: {reason}. A submission could use more of the machine than its limits say; scores are "
    "unaffected. Grade as root on a machine with cgroups to hold the limits per sandbox.")

TEST_CELLS_NOTE = (
    "An ordinary nbgrader assignment: its test cells ran in each student's sandbox, next to the "
    "student's code, as nbgrader runs them. The sandbox contained every submission, but a student "
    "who patches what the tests call could make them pass; see the security model (docs/security.md).")


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'


def _none(text: str) -> str:
    return f'<p class="ok">{esc(text)}</p>'


def _header(results: Sequence[SubmissionResult], assignment: str, sandboxed: bool, test_cells: bool) -> str:
    unsandboxed = sorted(r.student for r in results if not r.sandboxed)
    banner = f'<p class="meta">{esc(TEST_CELLS_NOTE)}</p>' if test_cells else ""
    if not sandboxed or unsandboxed:
        who = "" if not unsandboxed else " Affected: " + ", ".join(unsandboxed) + "."
        banner = f'<div class="banner" role="alert">{esc(NO_SANDBOX_WARNING + who)}</div>'
    limited = sorted((r.student, f.detail) for r in results for f in r.flags if f.kind == PER_PROCESS_LIMITS)
    if limited:
        reason = limited[0][1].removeprefix("per-process limits only: ")
        who = "" if len(limited) == len(stats.graded(results)) else " Affected: " + ", ".join(s for s, _ in limited) + "."
        banner += f'<div class="banner" role="alert">{esc(PER_PROCESS_WARNING.format(reason=reason) + who)}</div>'
    summary = stats.score_summary(results)
    ungradable = len(results) - len(stats.graded(results))
    facts = [f"<b>{len(results)}</b> submissions", f"<b>{ungradable}</b> could not be graded"]
    if summary:
        mean, median, top = summary
        facts += [f"mean <b>{points(mean)}</b> / {points(top)}",
                  f"median <b>{points(median)}</b> / {points(top)}"]
    return (f"<header><h1>Grading report: {esc(assignment)}</h1>{banner}"
            f'<p class="meta">{" &middot; ".join(facts)}</p></header>')


def _distribution(results: Sequence[SubmissionResult]) -> str:
    summary = stats.score_summary(results)
    if summary is None:
        return _section("distribution", "Score distribution", _none("No graded submissions."))
    scores = [r.score for r in stats.graded(results)]
    chart = img(charts.score_histogram(scores, summary[2]), "Histogram of autograded scores")
    return _section("distribution", "Score distribution", chart)


def _parts(results: Sequence[SubmissionResult]) -> str:
    rows = stats.part_stats(results)
    if not rows:
        return _section("parts", "Pass rate per part", _none("No graded parts."))
    chart = img(charts.pass_rate_bars([r.grade_id for r in rows], [r.pass_rate for r in rows]),
                "Bar chart of the share of full marks per part")
    body = table(["Part", "Title", "Full marks", "Pass rate", "Mean score"],
                 [[f"<code>{esc(r.grade_id)}</code>", esc(r.title),
                   f"{r.full_marks} / {r.submissions}", f"{100 * r.pass_rate:.0f}%",
                   f"{points(r.mean_score)} / {points(r.max_score)}"] for r in rows],
                 numeric=frozenset({2, 3, 4}))
    return _section("parts", "Pass rate per part", chart + body)


def _mistakes(results: Sequence[SubmissionResult]) -> str:
    found = stats.mistakes(results)
    if not found:
        return _section("mistakes", "Most frequent mistakes", _none("No diagnosed mistakes."))
    rows = [[str(m.count), esc(m.diagnosis), esc(", ".join(m.parts)),
             esc(", ".join(m.students[:stats.EXAMPLES])
                 + (" …" if m.count > stats.EXAMPLES else ""))] for m in found]
    body = table(["Students", "Likely mistake", "Parts", "For example"], rows,
                 numeric=frozenset({0}))
    return _section("mistakes", "Most frequent mistakes", body)


def _flags(results: Sequence[SubmissionResult]) -> str:
    rows = sorted((r.student, f.kind, f.detail) for r in results for f in r.flags
                  if f.kind != PER_PROCESS_LIMITS)  # not the student's doing: the banner says it once
    if not rows:
        return _section("flags", "Integrity flags", _none("No integrity flags."))
    body = ("<p>Each flag asks a person to look; none changed a score.</p>"
            + table(["Student", "Kind", "Detail"],
                    [[esc(s), f"<code>{esc(k)}</code>", esc(clean(d))] for s, k, d in rows]))
    return _section("flags", "Integrity flags", body)


def _ungradable(results: Sequence[SubmissionResult]) -> str:
    whole = sorted((r.student, r.reason or "no reason recorded") for r in results
                   if r.status != "graded")
    parts = sorted((r.student, p.grade_id, p.error) for r in results for p in r.parts
                   if p.error)
    body = (table(["Student", "Why it could not be graded"],
                  [[esc(s), esc(clean(why))] for s, why in whole])
            if whole else _none("Every submission was graded."))
    if parts:
        body += ("<h3>Parts that could not be checked</h3>"
                 + table(["Student", "Part", "Error"],
                         [[esc(s), f"<code>{esc(g)}</code>", esc(clean(e))]
                          for s, g, e in parts]))
    return _section("ungradable", "Could not be graded", body)


def _manual(results: Sequence[SubmissionResult], pending: dict[str, list[str]] | None) -> str:
    pending = stats.manual_pending(results) if pending is None else pending
    rows = [[esc(s), esc(", ".join(ids))] for s, ids in sorted(pending.items()) if ids]
    body = (table(["Student", "Still to grade by hand"], rows) if rows
            else _none("Nobody: all manual grading is done."))
    return _section("manual", "Manual grading pending", body)


def _timestamp_flags(rows: Sequence[tuple[str, str, str]] | None) -> str:
    """Submissions whose timestamp.txt is earlier than when the grading service saw them."""
    if rows is None:
        return ""
    if not rows:
        return _section("timestamps", "Submission times", _none("No timestamp.txt disagrees with the "
                                                                "time the grading service saw the submission."))
    body = ("<p>The grading service saw these submissions later than their <code>timestamp.txt</code> says "
            "(a file the student can edit). nbgrader's lateness uses that file: check these by hand.</p>"
            + table(["Student", "Submission", "Why"], [[esc(s), f"<code>{esc(clean(i))}</code>", esc(clean(w))]
                                                       for s, i, w in rows]))
    return _section("timestamps", "Submission times", body)


def _regrade(last: "LastRegrade | None") -> str:
    """The newest regrade that changed a score (``grade --regrade``): when, who, which parts."""
    if last is None:
        return _section("regrade", "Last regrade", _none("Never regraded with a score change."))
    when = last.when.strftime("%Y-%m-%d %H:%M UTC")
    students = last.students
    body = (f"<p>{esc(when)}: <b>{len(students)}</b> student{'s' if len(students) != 1 else ''} "
            f"changed score, {len(last.rows)} part{'s' if len(last.rows) != 1 else ''} "
            f"(<code>{esc(last.path.name)}</code>). Empty means no score: no record before, or ungradable.</p>"
            + table(["Student", "Part", "Old", "New", "Old max", "New max"],
                    [[esc(r.get("student", "")), f"<code>{esc(r.get('grade_id', ''))}</code>",
                      esc(r.get("old", "")), esc(r.get("new", "")), esc(r.get("old_max", "")),
                      esc(r.get("new_max", ""))] for r in last.rows],
                    numeric=frozenset({2, 3, 4, 5})))
    return _section("regrade", "Last regrade", body)


def write_report(results: list[SubmissionResult], path: str | Path, *, assignment: str,
                 sandboxed: bool, manual_pending: dict[str, list[str]] | None = None,
                 last_regrade: "LastRegrade | None" = None, deadline: str | None = None,
                 test_cells: bool = False,
                 timestamp_flags: Sequence[tuple[str, str, str]] | None = None) -> Path:
    """Write the staff report; ``manual_pending`` (from the gradebook) overrides the records;
    ``last_regrade`` is the newest regrade CSV's changes (``pipeline/regrade.py``); ``deadline``
    the due date and late work (``pipeline/deadlines.deadline_summary``); ``test_cells``: an ordinary
    nbgrader assignment, whose tests ran in the student's process (``judge/test_cells.py``);
    ``timestamp_flags``: (student, submission, why) from the grading service, None when it never ran."""
    deadline_line = f'<p class="meta">{esc(deadline[:1].upper() + deadline[1:])}</p>' if deadline else ""
    body = "\n".join([
        _header(results, assignment, sandboxed, test_cells) + deadline_line, _distribution(results), _parts(results),
        _mistakes(results), _flags(results), _ungradable(results),
        _manual(results, manual_pending), _regrade(last_regrade)] + ([_timestamp_flags(timestamp_flags)] if timestamp_flags is not None else []))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(f"Grading report: {assignment}", body), encoding="utf-8")
    return path
