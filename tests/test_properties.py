"""The property runner, strategies and comparison helpers, on tiny student functions."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from assignments.loss_functions import properties as hidden
from autograder.judge import strategies as ts
from autograder.judge.checks import Mismatch, show
from autograder.judge.properties import Property, run_property
from autograder.judge.subject import SandboxFunctions, Subject
from autograder.sandbox.base import CallTimeout, Sandbox
from autograder.sandbox.inprocess import InProcessSandbox


def subject_for(source: str, name: str) -> Subject:
    sandbox = InProcessSandbox()
    assert sandbox.run_cell("import torch\nimport numpy as np\n" + source).error is None
    return SandboxFunctions(sandbox).subject(name)


def drawn(strategy: st.SearchStrategy, count: int = 200) -> list:
    found = []

    @settings(max_examples=count, derandomize=True, database=None)
    @given(strategy)
    def collect(value):
        found.append(value)

    collect()
    return found


def test_pairs_share_shape_and_dtype_and_cover_scalars_to_4d():
    pairs = drawn(ts.pairs_like())
    assert all(a.shape == b.shape and a.dtype == b.dtype for a, b in pairs)
    assert {a.dim() for a, _ in pairs} >= {0, 4} and {a.dtype for a, _ in pairs} == {torch.float32, torch.float64}
    assert all(torch.isfinite(a).all() for a, _ in pairs)


def test_probabilities_include_exact_edges_and_stay_in_the_unit_interval():
    values = torch.cat([p.flatten().double() for p, _ in drawn(ts.probability_pairs())])
    assert ((values >= 0) & (values <= 1)).all() and (values == 0).any() and (values == 1).any()
    inside = torch.cat([p.flatten().double() for p, _ in drawn(ts.probability_pairs(include_edges=False, margin=1e-3))])
    assert ((inside >= 1e-3 - 1e-9) & (inside <= 1 - 1e-3 + 1e-9)).all()


def test_show_spells_out_the_dtype():
    assert show(torch.tensor(0.25)) == "tensor(0.25, dtype=float32)"
    assert show(torch.tensor([1.0, 2.0], dtype=torch.float64)) == "tensor([1, 2], dtype=float64)"
    assert "Python float" in show(0.5)


def test_passing_property():
    result = run_property(hidden.MSE[0], subject_for("def mse(a, b):\n    return ((a - b) ** 2).mean()", "mse"),
                          max_examples=20)
    assert result.passed and result.counterexample is None


def test_failure_is_silent_and_shrunk(capfd):
    result = run_property(hidden.MSE[0], subject_for("def mse(a, b):\n    return ((a - b) ** 2).sum()", "mse"),
                          max_examples=30)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert not result.passed and "mean of the squared errors" in result.message
    assert result.counterexample.inputs[0][0] == "y_pred" and result.counterexample.got.startswith("tensor(")


@pytest.mark.parametrize("body,words", [
    ("return float(((a - b) ** 2).mean())", "Python float"),
    ("return ((a - b) ** 2).mean().numpy()", "torch.Tensor"),
    ("raise ZeroDivisionError('boom')", "ZeroDivisionError"),
])
def test_non_tensor_results_fail_with_a_clear_message(body, words):
    result = run_property(hidden.MSE[0], subject_for(f"def mse(a, b):\n    {body}", "mse"), max_examples=5)
    assert not result.passed and words in result.message


def test_item_breaks_the_gradient_property():
    subject = subject_for("def mse(a, b):\n    return torch.tensor(((a - b) ** 2).mean().item())", "mse")
    result = run_property(hidden.MSE[2], subject, max_examples=5)
    assert not result.passed and ".item()" in result.message


@pytest.mark.parametrize("body", [
    "return ((a - b) ** 2).sum()",  # sum instead of mean: the formula is wrong, and its gradient with it
    "return ((a - b) ** 2).mean() * 2",
])
def test_a_wrong_formula_gets_formula_advice_for_its_gradient_not_autograd_advice(body):
    result = run_property(hidden.MSE[2], subject_for(f"def mse(a, b):\n    {body}", "mse"), max_examples=20)
    assert not result.passed and result.counterexample.expected.startswith("d/dy_pred")
    assert "the result is wrong too" in result.message  # no mistake is named here: the general advice
    assert ".item()" not in result.message and "autograd graph" not in result.message


def test_a_right_result_with_a_wrong_gradient_is_told_the_computation_left_autograd():
    body = "d = a - b.detach()\n    return (d ** 2).mean()"  # right value; no gradient reaches b
    result = run_property(hidden.MSE[2], subject_for(f"def mse(a, b):\n    {body}", "mse"), max_examples=20)
    assert not result.passed and result.counterexample.expected.startswith("d/dy_true")
    assert "the computation left autograd somewhere" in result.message and ".item()" in result.message


def test_a_named_mistake_replaces_the_general_advice_of_a_gradient_rule():
    subject = subject_for("def mse(a, b):\n    return ((a - b) ** 2).sum()", "mse")
    result = run_property(hidden.MSE[2], subject, max_examples=20, diagnose=lambda *_: "sum instead of mean")
    assert result.diagnosis == "sum instead of mean"
    assert result.message.endswith("is wrong (autograd of your result differs from the true loss's)")


def test_diagnose_hook_sees_the_shrunk_call():
    seen = []

    def diagnose(subject, args, reply):
        seen.append((subject.name, args, reply))
        return "you summed"

    subject = subject_for("def mse(a, b):\n    return ((a - b) ** 2).sum()", "mse")
    result = run_property(hidden.MSE[0], subject, max_examples=20, diagnose=diagnose)
    assert result.diagnosis == "you summed" and len(seen) == 1 and seen[0][2] is not None


class TimingOut(Sandbox):
    def __init__(self):
        self.requests = 0

    def request(self, message, timeout=None):
        self.requests += 1
        raise CallTimeout("`mse` ran longer than 2 s")

    def close(self):
        pass


def test_sandbox_fault_is_sticky():
    sandbox = TimingOut()
    subject = SandboxFunctions(sandbox).subject("mse")
    result = run_property(hidden.MSE[0], subject, max_examples=30)
    assert not result.passed and "longer than 2 s" in result.message
    assert sandbox.requests == 1 and subject.fault == "`mse` ran longer than 2 s"


def test_grader_bugs_are_not_student_failures():
    def broken(subject, args):
        raise KeyError("bug in the grader")

    prop = Property("broken", "mse", st.just((torch.zeros(1), torch.zeros(1))), ("a", "b"), broken)
    with pytest.raises(KeyError):
        run_property(prop, subject_for("def mse(a, b):\n    return a.sum()", "mse"), max_examples=5)


def test_mismatch_keeps_rendered_values():
    mismatch = Mismatch("why", expected="1", got="2")
    assert (str(mismatch), mismatch.expected, mismatch.got) == ("why", "1", "2")


def test_results_are_deterministic():
    subject = subject_for("def mae(a, b):\n    return (a - b).abs().sum()", "mae")
    assert run_property(hidden.MAE[0], subject, max_examples=30) == run_property(hidden.MAE[0], subject, max_examples=30)
