"""Hidden test cells under PLAIN nbgrader: grade one part inside the student's own kernel.

This is the baseline nbgrader offers (student code and checks share a process, see
docs on its known holes); our grader never runs these cells and calls the same ``PARTS``
through a sandbox instead. Here nothing may reach stderr, since nbgrader zeroes a test cell
with any stderr output: warnings are muted and stray writes go to stdout.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

from autograder.judge.subject import SandboxFunctions
from autograder.reports.feedback_text import render_part
from autograder.sandbox.inprocess import InProcessSandbox

_SANDBOXES: dict[int, InProcessSandbox] = {}  # one per kernel namespace: its server patches torch only once


def _sandbox(namespace: dict) -> InProcessSandbox:
    if id(namespace) not in _SANDBOXES:
        _SANDBOXES[id(namespace)] = InProcessSandbox(namespace=namespace)
    return _SANDBOXES[id(namespace)]


def grade_part(grade_id: str, namespace: dict, *, max_examples: int | None = None) -> float:
    """Print the part's feedback and return its points: the cell's last value is nbgrader's partial credit."""
    from assignments.loss_functions.parts import MAX_EXAMPLES, PARTS, POINTS

    examples = max_examples or int(os.environ.get("AUTOGRADER_MAX_EXAMPLES", MAX_EXAMPLES))
    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        functions = SandboxFunctions(_sandbox(namespace))
        result = PARTS[grade_id].grade(functions, max_score=float(POINTS[grade_id]), max_examples=examples,
                                       grade_id=grade_id)
    print(render_part(result), end="")
    return result.score
