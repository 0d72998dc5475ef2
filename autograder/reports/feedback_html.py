"""A self-contained HTML feedback page per student: autograded results beside the TA's notes.

A summary table (part, points, status) first, then one section per part set from the same
``part_view`` as the plain text, so it carries the same words in the same order: each cause
once, its hand-checkable example as a small table, the search's example and other details
folded in ``<details>``, the rules as a checklist, the sweep curves as embedded PNGs; beside
it, the comment and any score a TA gave in formgrader. Flags are not shown: they are for TAs. Comments live in nbgrader's gradebook
on solution cells (``mse_solution``); scores on grade cells (``mse_hidden``, ``written_bowl``).
A comment is shown beside the first part whose grade id has the same stem (``mse``).
"""
from __future__ import annotations

from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.judge.results import PartResult, SubmissionResult
from autograder.reports.feedback_text import TAGrades, clean, summary_line
from autograder.reports.feedback_view import Cause, Example, Rule, part_view, points
from autograder.reports.html_common import esc, img, page, table

SUFFIXES = ("_solution", "_public", "_hidden", "_test")
NOT_GRADED = '<p class="muted">Not graded yet.</p>'


def _open(db_url: str) -> Gradebook:
    """Open an existing gradebook; nbgrader would silently create an empty one at a wrong path."""
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
        raise FileNotFoundError(f"no gradebook at {db_url}; pass the course's gradebook.db URL "
                                "(sqlite:///<course root>/gradebook.db)")
    return Gradebook(db_url)


def _notebooks(gb: Gradebook, assignment: str, student: str):
    try:
        return gb.find_submission(assignment, student).notebooks
    except MissingEntry:
        return []


def ta_grades_from_gradebook(db_url: str, assignment: str, student: str) -> TAGrades:
    """What TAs entered in formgrader (one gradebook session); empty if the student has no submission.

    Comments: only ``manual_comment`` counts, nbgrader's ``auto_comment`` ("No response.") is not a
    TA's. Scores: every grade a TA set by hand, with extra credit. Unanswered: written answers
    nbgrader scored itself, with its comment. An answer cell left as released gets 0 and "No
    response." at autograde time and needs no TA, so the staff report does not list it as pending:
    the page must not say "Not graded yet" for it either; a score a TA sets later wins.
    """
    with _open(db_url) as gb:
        notebooks = _notebooks(gb, assignment, student)
        comments = [c for nb in notebooks for c in nb.comments]
        grades = [g for nb in notebooks for g in nb.grades]
        notes = {c.name: c.auto_comment or "" for c in comments}
        return TAGrades(
            scores={g.name: (g.manual_score + (g.extra_credit or 0.0), g.max_score)
                    for g in grades if g.manual_score is not None},
            comments={c.name: c.manual_comment for c in comments
                      if c.manual_comment and c.manual_comment.strip()},
            unanswered={g.name: (g.auto_score, g.max_score, notes.get(g.name, "")) for g in grades
                        if g.cell_type == "markdown" and g.manual_score is None
                        and g.auto_score is not None and not g.needs_manual_grade})


def _stem(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _ta_box(comment: str | None, score: tuple[float, float] | None) -> str:
    lines = []
    if score is not None:
        lines.append(f"<p><b>Score from your TA: {points(score[0])} / {points(score[1])}</b></p>")
    if comment:
        lines.append(f'<div class="ta">{esc(comment)}</div>')
    return "".join(lines)


def _unanswered_box(found: tuple[float, float, str]) -> str:
    score, top, note = found
    return (f"<p><b>Score: {points(score)} / {points(top)}</b></p>"
            + (f'<p class="muted">{esc(note)}</p>' if note else ""))


def _text(value: str) -> str:
    return esc(clean(value))


def _example(example: Example, folded: bool = False) -> str:
    """Inputs, then by hand / expected / yours, one row each; folded, its title is the summary."""
    rows = [f"<tr><th>{_text(name)} =</th><td><code>{_text(value)}</code></td></tr>" for name, value in example.inputs]
    rows += [f"<tr><th>{_text(label)}</th><td><code>{_text(value)}</code></td></tr>" for label, value in example.rows]
    if folded:
        return _folded(_text(example.title), f'<table class="example">{"".join(rows)}</table>')
    return f'<table class="example"><caption>{_text(example.title)}</caption>{"".join(rows)}</table>'


def _folded(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>{body}</details>"


def _rules(rules: tuple[Rule, ...]) -> str:
    rows = []
    for rule in rules:
        status = "PASS" if rule.passed else "FAIL"
        worth = f"({esc(rule.worth)})" if rule.worth else ""
        rows.append(f'<tr><td class="{status.lower()}">{status}</td><td>{_text(rule.name)}</td>'
                    f'<td class="num">{worth}</td></tr>')
        if rule.note or rule.example:
            extra = _example(rule.example, folded=True) if rule.example else ""
            rows.append(f'<tr class="note"><td></td><td colspan="2">{_text(rule.note)}{extra}</td></tr>')
    return f'<table class="rules">{"".join(rows)}</table>'


def _cause(cause: Cause) -> str:
    html = f'<p class="diagnosis">{_text(cause.diagnosis)}</p>' if cause.diagnosis else ""
    html += f"<p>{_text(cause.message)}</p>" if cause.message else ""
    html += "".join(_example(example, folded=i > 0) for i, example in enumerate(cause.examples))
    return f'<div class="cause">{html}<p>Rules this breaks:</p>{_rules(cause.rules)}</div>'


def _part(part: PartResult, comment: str | None, score: tuple[float, float] | None) -> str:
    view = part_view(part)
    body = f"<h2>{_text(view.heading)}</h2>"
    if view.error:
        body += f'<p class="diagnosis">Could not check this part: {_text(view.error)}</p>'
    body += "".join(_cause(c) for c in view.causes)
    if view.loose:
        body += _rules(view.loose)
    if view.passed:
        rules = _rules(view.passed)
        body += _folded(f"Rules passed: {len(view.passed)} of {len(part.checks)}", rules) if view.causes else rules
    if view.note:
        body += f'<p class="muted">{_text(view.note)}</p>'
    body += "".join(
        f"<figure>{img(c.image_png, c.name)}<figcaption>{esc(c.name)}: your curve against the "
        "reference</figcaption></figure>" for c in part.checks if c.image_png)
    return (f'<section class="part" id="{esc(part.grade_id)}"><div>{body}</div>'
            f"<aside>{_ta_box(comment, score)}</aside></section>")


def _status(part: PartResult) -> str:
    if part.error:
        return '<span class="fail">could not be checked</span>'
    if part.score >= part.max_score:
        return '<span class="pass">all rules pass</span>'
    return '<span class="fail">some rules fail</span>' if part.score > 0 else '<span class="fail">no points yet</span>'


def summary_table(result: SubmissionResult) -> str:
    rows = [(f'<a href="#{esc(p.grade_id)}">{esc(p.title)}</a>', f"{points(p.score)} / {points(p.max_score)}",
             _status(p)) for p in result.parts]
    return table(("Part", "Points", "Status"), rows, numeric=frozenset({1}))


def _placed_comments(parts, comments: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Comments keyed by the grade id they sit beside, and the ones matching no part."""
    placed, left = {}, dict(comments)
    for part in parts:
        for name in sorted(left):
            if name == part.grade_id or _stem(name) == _stem(part.grade_id):
                placed[part.grade_id] = left.pop(name)
                break
    return placed, left


def write_feedback_page(result: SubmissionResult, path: str | Path,
                        ta_comments: dict[str, str] | None = None,
                        manual_scores: dict[str, tuple[float, float]] | None = None,
                        late: str | None = None,
                        unanswered: dict[str, tuple[float, float, str]] | None = None) -> Path:
    """Write the page; comments and scores come from ``ta_grades_from_gradebook``,
    ``late`` from the gradebook's due date (``pipeline/deadlines.late_line``)."""
    scores, unanswered = manual_scores or {}, unanswered or {}
    placed, left = _placed_comments(result.parts, ta_comments or {})
    body = [f"<h1>Feedback: {esc(result.assignment)}</h1>",
            f'<p class="meta">Student: <b>{esc(result.student)}</b></p>',
            f"<p><b>{esc(summary_line(result))}</b></p>"]
    if late:
        body.append(f'<p class="meta">{esc(late[:1].upper() + late[1:])}</p>')
    if result.parts:
        body.append(summary_table(result))
    body += [_part(p, placed.get(p.grade_id), scores.get(p.grade_id)) for p in result.parts]
    autograded = {p.grade_id for p in result.parts}
    written = list(result.manual_parts) + sorted(
        g for g in scores if g not in autograded and g not in result.manual_parts)
    if written:
        body.append("<h2>Written answers (graded by a TA)</h2>")
        for gid in written:
            score = scores.get(gid)
            box = _ta_box(left.pop(gid, None), score)
            if not score:
                box += _unanswered_box(unanswered[gid]) if gid in unanswered else NOT_GRADED
            body.append(f'<section class="part" id="{esc(gid)}"><div><h2>Written answer '
                        f"[{esc(gid)}]</h2></div><aside>{box}</aside></section>")
    if left:
        body.append("<h2>Other comments from your TA</h2>")
        body += [f'<p><code>{esc(name)}</code></p><div class="ta">{esc(text)}</div>'
                 for name, text in sorted(left.items())]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(f"Feedback: {result.assignment} ({result.student})", "\n".join(body)),
                    encoding="utf-8")
    return path
