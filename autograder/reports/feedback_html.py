"""A self-contained HTML feedback page per student: autograded results beside the TA's notes.

Each part shows exactly the ``render_part`` text (the words the student sees everywhere else),
the sweep curves as embedded PNGs, and, in the column beside it, the comment and any score a TA
gave in formgrader. Flags are not shown: they are for TAs. Comments live in nbgrader's gradebook
on solution cells (``mse_solution``); scores on grade cells (``mse_hidden``, ``written_bowl``).
A comment is shown beside the first part whose grade id has the same stem (``mse``).
"""
from __future__ import annotations

from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.judge.results import PartResult, SubmissionResult
from autograder.reports.feedback_text import points, render_part, summary_line
from autograder.reports.html_common import esc, img, page

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


def ta_comments_from_gradebook(db_url: str, assignment: str, student: str) -> dict[str, str]:
    """Comments a TA typed in formgrader, by cell name; empty if the student has no submission.

    Only ``manual_comment`` counts: nbgrader's ``auto_comment`` ("No response.") is not a TA's.
    """
    with _open(db_url) as gb:
        return {c.name: c.manual_comment for nb in _notebooks(gb, assignment, student)
                for c in nb.comments if c.manual_comment and c.manual_comment.strip()}


def manual_scores_from_gradebook(db_url: str, assignment: str,
                                 student: str) -> dict[str, tuple[float, float]]:
    """(score incl. extra credit, max score) for every grade a TA set by hand, by grade id."""
    with _open(db_url) as gb:
        return {g.name: (g.manual_score + (g.extra_credit or 0.0), g.max_score)
                for nb in _notebooks(gb, assignment, student) for g in nb.grades
                if g.manual_score is not None}


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


def _part(part: PartResult, comment: str | None, score: tuple[float, float] | None) -> str:
    images = "".join(
        f"<figure>{img(c.image_png, c.name)}<figcaption>{esc(c.name)}: your curve against the "
        "reference</figcaption></figure>" for c in part.checks if c.image_png)
    return (f'<section class="part" id="{esc(part.grade_id)}"><div>'
            f"<pre>{esc(render_part(part))}</pre>{images}</div>"
            f"<aside>{_ta_box(comment, score)}</aside></section>")


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
                        manual_scores: dict[str, tuple[float, float]] | None = None) -> Path:
    """Write the page; comments and scores come from the two ``*_from_gradebook`` helpers."""
    scores = manual_scores or {}
    placed, left = _placed_comments(result.parts, ta_comments or {})
    body = [f"<h1>Feedback: {esc(result.assignment)}</h1>",
            f'<p class="meta">Student: <b>{esc(result.student)}</b></p>',
            f"<p><b>{esc(summary_line(result))}</b></p>"]
    body += [_part(p, placed.get(p.grade_id), scores.get(p.grade_id)) for p in result.parts]
    autograded = {p.grade_id for p in result.parts}
    written = list(result.manual_parts) + sorted(
        g for g in scores if g not in autograded and g not in result.manual_parts)
    if written:
        body.append("<h2>Written answers (graded by a TA)</h2>")
        for gid in written:
            score = scores.get(gid)
            box = _ta_box(left.pop(gid, None), score) + ("" if score else NOT_GRADED)
            body.append(f'<section class="part" id="{esc(gid)}"><div><pre>Written answer '
                        f"[{esc(gid)}]</pre></div><aside>{box}</aside></section>")
    if left:
        body.append("<h2>Other comments from your TA</h2>")
        body += [f'<p><code>{esc(name)}</code></p><div class="ta">{esc(text)}</div>'
                 for name, text in sorted(left.items())]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(f"Feedback: {result.assignment} ({result.student})", "\n".join(body)),
                    encoding="utf-8")
    return path
