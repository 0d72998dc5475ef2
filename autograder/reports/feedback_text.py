"""The feedback text a student reads, one block per grade cell.

Every other student-facing writer (Gradescope, the HTML feedback page) shows exactly this text,
so a student sees the same words wherever they look. Rendering is a pure function of the result:
the same result gives byte-identical text. It shows what was checked, the smallest failing
input, the reference value next to the student's, and the likely mistake; never the test source
and never integrity flags (those are for TAs).
"""
from __future__ import annotations

from autograder.judge.results import CheckResult, PartResult, SubmissionResult

NO_DIAGNOSIS = ("No known mistake matches this output; compare your formula with the one in "
                "the notebook.")
MAX_VALUE_CHARS = 1500  # a student's function may return a huge or endless repr
INDENT = "      "


def points(x: float) -> str:
    """Scores as people write them: 5, 2.5, 3.33 (never 3.3333333333333335)."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def clean(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Printable, bounded text: student output may hold control characters or megabytes."""
    safe = "".join(ch if ch == "\n" or ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    if len(safe) > limit:
        safe = safe[:limit] + f"… ({len(safe) - limit} more characters)"
    return safe


def _block(label: str, value: str, width: int) -> list[str]:
    """``label value`` with continuation lines of a multi-line value aligned under the value."""
    lines = clean(value).split("\n")
    pad = " " * (width + 1)
    return [f"{INDENT}{label.ljust(width)} {lines[0]}"] + [f"{INDENT}{pad}{ln}" for ln in lines[1:]]


def _your_label(part: PartResult) -> str:
    name = part.functions[-1] if part.functions else "code"  # a plot part lists its figure last
    return f"Your {name} gave:"


def _render_check(check: CheckResult, part: PartResult) -> list[str]:
    if check.passed:
        return [f"  PASS  {check.name}"]
    lines = [f"  FAIL  {check.name}"]
    if check.message:
        lines += [f"{INDENT}{ln}" for ln in clean(check.message).split("\n")]
    c = check.counterexample
    if c is not None:
        if c.inputs:
            lines.append(f"{INDENT}Smallest failing input:")
            width = max(len(name) for name, _ in c.inputs)
            for name, text in c.inputs:
                lines += _block(f"  {name.ljust(width)} =", text, width + 4)
        expected, yours = "Expected (PyTorch reference):", _your_label(part)
        width = max(len(expected), len(yours))
        lines += _block(expected, c.expected, width)
        lines += _block(yours, c.got, width)
    if check.diagnosis:
        lines.append(f"{INDENT}Likely mistake: {clean(check.diagnosis)}")
    elif c is not None:  # a wrong value no catalogue entry explains (a missing label needs no diagnosis)
        lines.append(f"{INDENT}{NO_DIAGNOSIS}")
    return lines


def render_part(part: PartResult) -> str:
    """Score line, then the part's error or one line per check with details for failures."""
    lines = [f"{part.title} [{part.grade_id}]: {points(part.score)} / {points(part.max_score)}"
             " points"]
    if part.error:
        lines.append(f"  Could not check this part: {clean(part.error)}")
    lines += [ln for check in part.checks for ln in _render_check(check, part)]
    if not part.error and not part.checks:
        lines.append("  No checks ran for this part.")
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


def render_submission(result: SubmissionResult) -> str:
    """Whole-notebook feedback: header, total, every part, then what a TA still grades."""
    head = f"Feedback for {clean(result.student)} on {result.assignment}\n"
    blocks = [head + summary_line(result) + cell_errors_note(result)] + [render_part(p) for p in result.parts]
    note = manual_note(result)
    if note:
        blocks.append(note)
    return "\n".join(blocks)
