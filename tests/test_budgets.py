"""Time budgets: a slow function runs out of its own budget while the rest of the submission is
graded, the submission's budget ends grading promptly with a result, every wait on the sandbox
(calls, prefetched batches, shrinking, cells) is charged, and no deadline outlasts the budget."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import torch
from traitlets.config import Config

from assignments.loss_functions import properties as hidden
from autograder.judge.batched import judge_property
from autograder.judge.student_process import OutOfTime
from autograder.judge.checks import Mismatch
from autograder.judge.grader import Assignment, Settings, grade_submission
from autograder.judge.input_cache import InputCache, record_inputs
from autograder.judge.memo import digest
from autograder.judge.notebook import read_notebook
from autograder.judge.properties import run_property
from autograder.judge.student_process import StudentProcess
from autograder.judge.subject import SandboxFunctions
from autograder.nbgrader_ext.preprocessor import SandboxedGrading
from autograder.reports.feedback_text import render_part
from autograder.sandbox.base import CallTimeout
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.inprocess import InProcessSandbox
from autograder.sandbox.limits import Limits

SOURCE = Path(__file__).resolve().parents[1] / "source" / "loss_functions" / "loss_functions.ipynb"
MAX_EXAMPLES = 10
VALUE = hidden.MSE[0]
SLOW_CELL = "# a slow cell"
RIGHT = "import torch\ndef mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).mean()\n"
SUMS = "import torch\ndef mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).sum()\n"
ONE = torch.tensor([3.0])


class SlowSandbox(InProcessSandbox):
    """The in-process sandbox with a process sandbox's clock: a call of a function in ``delays``
    takes that long (a batch, the sum; ``inf`` never returns), a cell marked ``SLOW_CELL`` never
    ends, and a request that would outlast its deadline waits it out and times out, as
    ``ProcessSandbox`` does. Every request is logged as (op, number of calls, timeout)."""

    def __init__(self, delays: dict[str, float], log: list) -> None:
        super().__init__()
        self.delays, self.log = delays, log

    def request(self, message: dict, timeout: float | None = None) -> dict:
        calls = message.get("calls", ())
        self.log.append((message["op"], len(calls), timeout))
        cost = sum(self.delays.get(call["function"], 0.0) for call in calls)
        if SLOW_CELL in message.get("source", ""):
            cost = float("inf")
        if timeout is not None and cost > timeout:
            time.sleep(timeout)
            self.close()
            raise CallTimeout(f"timed out after {timeout:g} s (the time limit)")
        time.sleep(cost)
        return super().request(message, timeout)


def slow_factory(delays: dict[str, float], log: list):
    return lambda: SlowSandbox(delays, log)


@pytest.fixture(scope="module")
def loss_functions() -> Assignment:
    return Assignment.load("loss_functions")


def grade(assignment: Assignment, limits: Limits, delays: dict[str, float], notebook=None):
    started = time.monotonic()
    result = grade_submission("ana", assignment, notebook or read_notebook(SOURCE), slow_factory(delays, []),
                              Settings(max_examples=MAX_EXAMPLES, limits=limits))
    return result, time.monotonic() - started


def test_a_slow_function_fails_its_remaining_checks_and_the_rest_is_graded_fully(loss_functions):
    result, _ = grade(loss_functions, Limits(function_seconds=0.5), {"bce": 0.05})
    message = "ran out of time (0.5 s for this function)"
    bce = [p for p in result.parts if "bce" in p.functions]
    [bce_hidden] = [p for p in bce if p.grade_id == "bce_hidden"]
    assert bce_hidden.error == message and bce_hidden.score < bce_hidden.max_score
    cut = [c for p in bce for c in p.checks if message in c.message]
    assert cut and all(not c.passed and c.counterexample is None for c in cut)
    assert f"Could not check this part: {message}" in render_part(bce_hidden)
    others = [p for p in result.parts if "bce" not in p.functions]
    assert len(others) == 13 and all(p.score == p.max_score and p.error is None for p in others)
    assert result.status == "graded"


def test_the_submission_budget_ends_grading_promptly_with_a_result(loss_functions):
    slow = {name: 0.05 for name in loss_functions.functions}
    result, wall = grade(loss_functions, Limits(function_seconds=60, submission_seconds=1.0), slow)
    assert wall < 1.0 + 2.0  # grading all of it would wait ~0.05 s on each of hundreds of calls
    message = "ran out of time (1 s for this submission)"
    assert result.status == "graded" and result.score < result.max_score
    assert result.parts[-1].error == message  # the last plot was never requested
    assert any(message in c.message for p in result.parts for c in p.checks)


def test_cells_still_to_run_when_the_submission_budget_runs_out_are_skipped():
    log: list = []
    process = StudentProcess(slow_factory({}, log), Limits(cell_seconds=60, submission_seconds=0.3))
    started = time.monotonic()
    runs = process.run_cells((RIGHT, SLOW_CELL, "x = 1"))
    assert time.monotonic() - started < 0.3 + 0.5
    assert [r.status for r in runs] == ["ok", "error", "error"]
    assert runs[1].error == "ran out of time (0.3 s for this submission)"  # cut at the budget, not at 60 s
    assert runs[2].error == "skipped: ran out of time (0.3 s for this submission)"
    assert log[1][2] <= 0.3 and len(log) == 2
    with pytest.raises(OutOfTime):
        process.call("mse", [ONE, ONE])
    process.close()


def test_a_calls_deadline_is_clipped_to_the_budget_left_and_the_budget_is_sticky():
    log: list = []
    limits = Limits(call_seconds=30, function_seconds=0.3, submission_seconds=60)
    process = StudentProcess(slow_factory({"hang": float("inf")}, log), limits)
    process.run_cells((RIGHT + "def hang(x):\n    return x\n",))
    started = time.monotonic()
    with pytest.raises(OutOfTime, match=r"ran out of time \(0.3 s for this function\)"):
        process.call("hang", [ONE])
    assert time.monotonic() - started < 0.3 + 0.5 and 0 < log[-1][2] <= 0.3
    asked = len(log)
    with pytest.raises(OutOfTime):
        process.call("hang", [ONE])
    assert len(log) == asked  # a spent budget never reaches the sandbox
    assert process.call("mse", [ONE, ONE]).value.item() == 0.0  # another function, in a fresh sandbox
    assert log[-1][2] == 0.3 and process.restarts == 1  # its own budget, whole
    process.close()


def test_prefetched_batches_are_charged_and_clipped():
    inputs = InputCache(MAX_EXAMPLES, {VALUE: record_inputs(VALUE, MAX_EXAMPLES)})
    batch = len({digest(args) for args in inputs.of(VALUE)})

    def judge(function_seconds: float):
        log: list = []
        process = StudentProcess(slow_factory({"mse": 0.02}, log), Limits(function_seconds=function_seconds))
        process.run_cells((RIGHT,))
        subject = SandboxFunctions(process, inputs=inputs).subject("mse")
        return judge_property(VALUE, subject, max_examples=MAX_EXAMPLES, inputs=inputs), process, log

    result, process, log = judge(60)
    assert result.passed and [n for op, n, _ in log if op == "call"] == [batch]
    assert process.meter.spent["mse"] >= batch * 0.02

    started = time.monotonic()
    result, process, log = judge(batch * 0.02 / 2)  # the batch would take twice the budget
    assert time.monotonic() - started < batch * 0.02 / 2 + 0.5
    assert not result.passed and "ran out of time" in result.message and "for this function" in result.message
    assert [n for op, n, _ in log if op == "call"] == [batch] and log[-1][2] <= batch * 0.02 / 2


def test_shrinking_is_charged_and_cut_short_by_the_budget():
    first: list[int] = []  # requests made when the first failure was seen

    def counting(subject, args):
        try:
            VALUE.check(subject, args)
        except Mismatch:
            first.append(len(log))
            raise

    prop = dataclasses.replace(VALUE, check=counting)

    def search(function_seconds: float):
        process = StudentProcess(slow_factory({"mse": 0.02}, log), Limits(function_seconds=function_seconds))
        process.run_cells((SUMS,))
        return run_property(prop, SandboxFunctions(process).subject("mse"), max_examples=MAX_EXAMPLES), process

    log: list = []
    full, process = search(60)
    calls, until_failing = len(log) - 1, first[0] - 1  # the first request ran the cell
    assert not full.passed and full.counterexample is not None and calls > until_failing + 2
    assert process.meter.spent["mse"] >= calls * 0.02  # shrinking calls too

    log.clear()
    budget = 0.02 * (until_failing + (calls - until_failing) / 2)  # runs out halfway through shrinking
    cut, process = search(budget)
    assert not cut.passed and cut.counterexample is None
    assert cut.message == f"`mse` ran out of time ({budget:g} s for this function) before this check could finish"
    assert until_failing < len(log) - 1 < calls


def test_the_budgets_are_traits_and_reach_the_grading_job():
    config = Config({"SandboxedGrading": {"function_budget": 12.0, "submission_budget": 34.0}})
    job = SandboxedGrading(config=config).job("ana", "loss_functions", "loss_functions")
    assert (job.limits.function_seconds, job.limits.submission_seconds) == (12.0, 34.0)
    assert job.settings.limits == job.limits
    assert (Limits().function_seconds, Limits().submission_seconds) == (60.0, 300.0)


SLEEPY = "\nimport time\n_{0} = {0}\ndef {0}(*args):\n    time.sleep(0.2)\n    return _{0}(*args)\n"


@pytest.mark.slow
def test_a_slow_submission_in_the_real_sandbox_returns_within_its_budget(loss_functions):
    notebook = read_notebook(SOURCE)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in ("bce_solution", "bce_curve_solution"):  # no cell calls bce, one bce_curve
            cell.source += SLEEPY.format(grade_id.removesuffix("_solution"))
    limits = Limits(function_seconds=2.0, submission_seconds=4.0)
    factory = sandbox_factory(limits, None, isolate=True)
    factory().close()  # the per-grader template starts once, before the clock does
    started = time.monotonic()
    result = grade_submission("ana", loss_functions, notebook, factory,
                              Settings(max_examples=MAX_EXAMPLES, limits=limits))
    assert time.monotonic() - started < 4.0 + 6.0  # budget + the trusted side's own work
    errors = {p.grade_id: p.error for p in result.parts}
    assert errors["mse_hidden"] is None and errors["bce_hidden"] == "ran out of time (2 s for this function)"
    assert errors["plot_outlier_test"] == "ran out of time (4 s for this submission)"
    assert result.status == "graded" and 0 < result.score < result.max_score
