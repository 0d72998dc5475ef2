"""The feedback text a student reads, one block per grade cell.

Every other student-facing writer (Gradescope, the HTML feedback page) shows exactly these words
(both render ``feedback_view.part_view``), so a student sees the same wherever they look.
Rendering is a pure function of the result: the same result gives byte-identical text. Per
cause: the likely mistake once, an example to check by hand, the smallest input the search
found, the rules it broke with their points; never the test source and never integrity flags
(those are for TAs).
"""
from __future__ import annotations

from dataclasses import dataclass

from autograder.judge.results import PartResult, SubmissionResult
from autograder.reports.feedback_view import Example, Rule, part_view, points

MAX_VALUE_CHARS = 1500  # a student's function may return a huge or endless repr


def clean(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Printable, bounded text: student output may hold control characters or megabytes."""
    safe = "".join(ch if ch == "\n" or ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    if len(safe) > limit:
        safe = safe[:limit] + f"… ({len(safe) - limit} more characters)"
    return safe


def _block(indent: str, label: str, value: str, width: int) -> list[str]:
    """``label value`` with continuation lines of a multi-line value aligned under the value."""
    lines = clean(value).split("\n")
    pad = " " * (width + 1)
    return [f"{indent}{label.ljust(width)} {lines[0]}"] + [f"{indent}{pad}{ln}" for ln in lines[1:]]


def _example(example: Example, indent: str) -> list[str]:
    lines = [f"{indent}{example.title}"]
    if example.inputs:
        width = max(len(name) for name, _ in example.inputs)
        for name, text in example.inputs:
            lines += _block(indent + "  ", f"{name.ljust(width)} =", text, width + 2)
    width = max(len(label) for label, _ in example.rows)
    for label, value in example.rows:
        lines += _block(indent + "  ", label, value, width)
    return lines


def _rule(rule: Rule, indent: str) -> list[str]:
    worth = f" ({rule.worth})" if rule.worth else ""
    lines = [f"{indent}{'PASS' if rule.passed else 'FAIL'}  {rule.name}{worth}"]
    if rule.note:
        lines += [f"{indent}      {ln}" for ln in clean(rule.note).split("\n")]
    if rule.example is not None:
        lines += _example(rule.example, indent + "      ")
    return lines


def render_part(part: PartResult) -> str:
    """Score line, then the part's error, each cause once with the rules it broke, the rest."""
    view = part_view(part)
    lines = [view.heading]
    if view.error:
        lines.append(f"  Could not check this part: {clean(view.error)}")
    for cause in view.causes:
        if cause.diagnosis:
            lines.append(f"  {clean(cause.diagnosis)}")
        if cause.message:
            lines += [f"    {ln}" for ln in clean(cause.message).split("\n")]
        for example in cause.examples:
            lines += _example(example, "    ")
        lines.append("    Rules this breaks:")
        lines += [ln for rule in cause.rules for ln in _rule(rule, "      ")]
    lines += [ln for rule in view.loose + view.passed for ln in _rule(rule, "  ")]
    if view.note:
        lines.append(f"  {view.note}")
    return "\n".join(lines) + "\n"


def manual_note(result: SubmissionResult) -> str:
    if not result.manual_parts:
        return ""
    return ("Written answers graded by a TA later (not in this score): "
            + ", ".join(result.manual_parts) + "\n")


def cell_errors_note(result: SubmissionResult) -> str:
    """Cells that failed while your notebook ran: what they define may be missing below."""
    if not result.cell_errors:
        return ""
    return "Cells of your notebook that failed when it ran:\n" + "".join(
        f"  - {clean(error)}\n" for error in result.cell_errors)


def summary_line(result: SubmissionResult) -> str:
    if result.status != "graded":
        return f"Your submission could not be graded: {clean(result.reason or 'unknown reason')}\n"
    return f"Autograded score: {points(result.score)} / {points(result.max_score)} points\n"


@dataclass(frozen=True)
class TAGrades:
    """What TAs entered in formgrader, from the gradebook (``feedback_html.ta_grades_from_gradebook``)."""

    scores: dict[str, tuple[float, float]]  # grade id -> (score with extra credit, max)
    comments: dict[str, str]  # grade id -> the TA's comment, on any cell
    unanswered: dict[str, tuple[float, float, str]]  # answers nbgrader scored itself (left as released)


def ta_note(result: SubmissionResult, ta: TAGrades) -> str:
    """Each written answer's score (the TA's, nbgrader's own 0 for no answer, or not yet) and
    comment, then the TA's comments on the autograded parts."""
    lines = ["Written answers, graded by a TA:"] if result.manual_parts else []
    for gid in result.manual_parts:
        if gid in ta.scores:
            got = f"{points(ta.scores[gid][0])} / {points(ta.scores[gid][1])} points from your TA"
        elif gid in ta.unanswered:
            score, top, why = ta.unanswered[gid]
            got = f"{points(score)} / {points(top)} points" + (f" ({clean(why)})" if why else "")
        else:
            got = "not graded yet"
        lines.append(f"  {gid}: {got}")
        lines += [f"    {ln}" for ln in clean(ta.comments.get(gid, "")).splitlines()]
    others = [gid for gid in sorted(ta.comments) if gid not in result.manual_parts]
    lines += ["Comments from your TA:"] * bool(others)
    for gid in others:
        lines += [f"  {gid}: {ln}" if i == 0 else f"    {ln}" for i, ln in enumerate(clean(ta.comments[gid]).splitlines())]
    return "\n".join(lines) + "\n" if lines else ""


def render_submission(result: SubmissionResult, late: str | None = None, ta: TAGrades | None = None) -> str:
    """Whole-notebook feedback: header, total (and ``late``, the gradebook's late-work line), every
    part, then the written answers: what TAs gave (``ta``, from the gradebook) or still grade."""
    head = f"Feedback for {clean(result.student)} on {result.assignment}\n"
    total = summary_line(result) + (f"{late[:1].upper()}{late[1:]}\n" if late else "")
    blocks = [head + total + cell_errors_note(result)] + [render_part(p) for p in result.parts]
    note = manual_note(result) if ta is None else ta_note(result, ta)
    if note:
        blocks.append(note)
    return "\n".join(blocks)
