"""Gradescope's ``results.json``: one test per grade cell, carrying the same feedback text.

Format (Gradescope autograder docs): top-level ``score``, ``output``, ``tests[]`` with ``name``,
``score``, ``max_score``, ``output``, ``visibility``, ``tags``. Integrity flags are left out:
Gradescope shows everything here to the student.
"""
from __future__ import annotations

from typing import Any

from autograder.judge.results import PartResult, SubmissionResult
from autograder.reports.feedback_text import cell_errors_note, manual_note, render_part, summary_line
from autograder.reports.records import dumps


def _test(part: PartResult) -> dict[str, Any]:
    return {"name": f"{part.title} [{part.grade_id}]", "score": part.score,
            "max_score": part.max_score, "output": render_part(part),
            "visibility": part.visibility, "tags": list(part.functions)}


def to_gradescope(result: SubmissionResult) -> dict[str, Any]:
    """An ungradable submission scores 0 and its ``output`` says why; its parts (if any) still
    appear so the student sees what was reached."""
    score = result.score if result.status == "graded" else 0.0
    return {"score": score, "output": summary_line(result) + cell_errors_note(result) + manual_note(result),
            "tests": [_test(p) for p in result.parts]}


def dump_json(obj: Any) -> str:
    """Deterministic text for Gradescope (sorted keys; NaN refused, Gradescope rejects it)."""
    return dumps(obj)
