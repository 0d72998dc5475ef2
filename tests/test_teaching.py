"""Teaching examples: the simplest hand-written input a mistake fails, with its arithmetic, found
on the trusted side through the same subject; the search's example where none fails."""
from __future__ import annotations

import pytest
import torch

from assignments.loss_functions import references as ref
from assignments.loss_functions.mistakes import CATALOGUE
from assignments.loss_functions.parts import PARTS, POINTS
from assignments.loss_functions.teaching import TEACHING
from autograder.judge.checks import reference_grads
from autograder.judge.diagnosis import close
from autograder.judge.parts import hand_written
from autograder.judge.subject import SandboxFunctions
from autograder.reports.feedback_text import render_part
from autograder.sandbox.inprocess import InProcessSandbox
from student_sources import CORRECT, define


def grade(function: str, args: str, body: str, grade_id: str):
    sandbox = InProcessSandbox()
    for source in (CORRECT, define(function, args, body)):
        assert sandbox.run_cell(source).error is None
    return PARTS[grade_id].grade(SandboxFunctions(sandbox), max_score=POINTS[grade_id], max_examples=20,
                                 grade_id=grade_id)


def test_summing_mse_is_shown_on_one_two_against_zeros():
    part = grade("mse", "y_pred, y_true", "return ((y_pred - y_true) ** 2).sum()", "mse_hidden")
    value = part.checks[0]
    assert not value.passed and value.example is not None
    assert value.example.inputs == (("y_pred", "[1., 2.]"), ("y_true", "[0., 0.]"))
    assert (value.example.expected, value.example.got) == ("2.5", "5")
    assert value.example.by_hand == "((1 - 0)² + (2 - 0)²) / 2 = 2.5"
    gradient = part.checks[2]
    assert (gradient.example.expected, gradient.example.got) == ("d/dy_pred = [1, 2]", "d/dy_pred = [2, 4]")
    assert gradient.example.by_hand == "d/dy_pred = [2·(1 - 0), 2·(2 - 0)] / 2 = [1, 2]"  # the gradient's, not the loss's
    assert gradient.diagnosis.startswith("sum instead of mean") and ".item()" not in gradient.message
    text = render_part(part)
    assert text.count("Likely mistake: sum instead of mean") == 1
    assert ".item()" not in text  # no advice beside the named mistake's


def test_a_missing_gradient_is_worked_out_as_a_gradient():
    part = grade("mse", "y_pred, y_true", "return torch.tensor(((y_pred - y_true) ** 2).mean().item())", "mse_hidden")
    gradient = part.checks[2]
    assert not gradient.passed and gradient.example.expected == "a result with requires_grad=True"
    assert gradient.example.by_hand == "d/dy_pred = [2·(1 - 0)] / 1 = [2]"
    assert ".item()" in gradient.message  # here the autograd advice is the named mistake's


def test_an_input_changed_in_place_gets_no_loss_arithmetic():
    part = grade("mae", "y_pred, y_true", "y_pred -= y_true\nreturn y_pred.abs().mean()", "mae_hidden")
    unchanged = next(c for c in part.checks if c.example is not None and c.example.expected.startswith("y_pred ="))
    assert unchanged.example.by_hand == ""  # what to expect is the input as sent: nothing to work out


def test_a_mistake_only_large_inputs_show_falls_back_to_the_search_example():
    body = "d = ((y_pred - y_true) ** 2).mean()\nreturn d if y_true.abs().max() < 100 else d * 2"
    part = grade("mse", "y_pred, y_true", body, "mse_hidden")
    value = part.checks[0]
    assert not value.passed and value.example is None and value.counterexample is not None
    assert "    Smallest failing input:" in render_part(part)


def test_correct_work_gets_no_examples_and_public_parts_need_none():
    part = grade("mse", "y_pred, y_true", "return ((y_pred - y_true) ** 2).mean()", "mse_hidden")
    assert part.score == POINTS["mse_hidden"] and all(c.example is None for c in part.checks)
    public = grade("mse", "y_pred, y_true", "return ((y_pred - y_true) ** 2).sum()", "mse_public")
    assert public.all_or_nothing and all(c.example is None for c in public.checks)


@pytest.mark.parametrize("mistake", [m for m in CATALOGUE if m.forms], ids=lambda m: m.key)
def test_every_value_mistake_fails_some_teaching_input(mistake):
    reference = getattr(ref, mistake.function)
    for form in mistake.forms:
        assert any(not _agrees(form, reference, args) for args in TEACHING[mistake.function].inputs), mistake.key


def _agrees(form, reference, args) -> bool:
    try:
        return close(form(*(a.clone() for a in args)), reference(*args), 1e-4, 1e-5)
    except Exception:  # a form that cannot run on these inputs is caught by them too
        return False


@pytest.mark.parametrize("function", ["mse", "mae", "bce"])
def test_a_gradient_is_worked_out_for_each_argument_and_ends_with_the_reference_gradient(function):
    teaching = TEACHING[function]
    for args in teaching.inputs:
        for argument in range(len(args)):
            line = teaching.gradient_by_hand(args, argument)
            want = reference_grads(getattr(ref, function), args)[argument].reshape(-1).tolist()
            assert line.endswith(" = [" + ", ".join(f"{v + 0.0:.3g}" for v in want) + "]"), line
            assert "\n" not in line and len(line) < 200 and line.count(",") == 2 * (len(want) - 1), line


@pytest.mark.parametrize("function", sorted(TEACHING))
def test_inputs_are_small_and_the_arithmetic_fits_on_a_line(function):
    teaching = TEACHING[function]
    for args in teaching.inputs:
        assert all(a.numel() <= 4 and torch.allclose(a * 10, (a * 10).round(), atol=1e-5) for a in args)
        line = teaching.by_hand(args)
        assert "\n" not in line and len(line) < 200, line
        if function in ("mse", "mae", "bce"):
            assert line.endswith(f" = {float(getattr(ref, function)(*args)):.3g}"), line
    assert hand_written(torch.tensor([[1.0, 0.5], [0.0, 2.0]])) == "[[1., 0.5], [0., 2.]]"
    assert hand_written(torch.tensor([1.0], dtype=torch.float64)) == "[1.] (float64)"
