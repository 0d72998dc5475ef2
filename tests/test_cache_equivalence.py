"""Proof that the per-class input cache and the batched fast path change nothing but the time:
every demo student and every catalogued mistake gets, byte for byte, the result and the feedback
text of a full Hypothesis run (scores, counterexamples, diagnoses, pictures, faults)."""
from __future__ import annotations

import nbformat
import pytest

from assignments.loss_functions.parts import PARTS, POINTS
from autograder.demo import student_notebook
from autograder.demo_class import CLASS
from autograder.judge.grader import COURSE_ROOT, Assignment, Settings, grade_submission
from autograder.judge.input_cache import InputCache, load_or_build
from autograder.judge.subject import SandboxFunctions
from autograder.reports.feedback_text import render_part, render_submission
from autograder.reports.records import dumps, result_to_json
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.inprocess import InProcessSandbox
from autograder.sandbox.limits import Limits
from test_diagnosis import HEADER, MISTAKEN, UNLISTED

MAX_EXAMPLES = 20
SETTINGS = Settings(max_examples=MAX_EXAMPLES, sandboxed=False)
# In-process, student code runs in this very process with no time limit: the infinite loop (pat)
# and the cheat who patches torch (quinn) need a real child process; ravi's file is no notebook.
CHILD_PROCESS = ("pat", "quinn")
IN_PROCESS = [s for s in CLASS if s.id not in (*CHILD_PROCESS, "ravi")]


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return Assignment.load("loss_functions")


@pytest.fixture(scope="module")
def inputs(assignment, tmp_path_factory) -> InputCache:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOGRADER_CACHE_DIR", str(tmp_path_factory.mktemp("input-cache")))
        return load_or_build(assignment, MAX_EXAMPLES)


def notebook(student):
    released = nbformat.read(COURSE_ROOT / "release" / "loss_functions" / "loss_functions.ipynb", as_version=4)
    return nbformat.reads(student_notebook(student, released), as_version=4)


def assert_same_grading(student, assignment, inputs, factory) -> None:
    submission = notebook(student)
    full = grade_submission(student.id, assignment, submission, factory, SETTINGS)
    fast = grade_submission(student.id, assignment, submission, factory, SETTINGS, inputs)
    assert dumps(result_to_json(fast)) == dumps(result_to_json(full))
    assert render_submission(fast) == render_submission(full)


@pytest.mark.slow
@pytest.mark.parametrize("student", IN_PROCESS, ids=lambda s: s.id)
def test_demo_student_gets_the_full_runs_result(student, assignment, inputs):
    assert_same_grading(student, assignment, inputs, InProcessSandbox)


@pytest.mark.slow
@pytest.mark.parametrize("student", [s for s in CLASS if s.id in CHILD_PROCESS], ids=lambda s: s.id)
def test_demo_student_in_a_child_process_gets_the_full_runs_result(student, assignment, inputs):
    """A timeout while prefetching is not sticky, yet the fault the full run meets is reported alike."""
    factory = sandbox_factory(Limits(cell_seconds=10.0, call_seconds=1.0), None, isolate=False)
    assert_same_grading(student, assignment, inputs, factory)


def grade_parts(function: str, source: str, inputs: InputCache | None, max_examples: int = MAX_EXAMPLES) -> list:
    sandbox = InProcessSandbox()
    assert sandbox.run_cell(HEADER + source).error is None
    functions = SandboxFunctions(sandbox, inputs=inputs)
    return [PARTS[gid].grade(functions, max_score=POINTS[gid], max_examples=max_examples, grade_id=gid)
            for gid in (f"{function}_public", f"{function}_hidden")]


CASES = {**MISTAKEN, **{f"{function}.unlisted": source for function, source in UNLISTED.items()}}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_catalogued_mistake_gets_the_full_runs_result(case, inputs):
    function = case.split(".")[0]
    full, fast = grade_parts(function, CASES[case], None), grade_parts(function, CASES[case], inputs)
    assert fast == full
    assert [render_part(p) for p in fast] == [render_part(p) for p in full]
    assert any(c.diagnosis for p in full for c in p.checks) or case.endswith("unlisted")
