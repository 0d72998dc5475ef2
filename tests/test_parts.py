"""Parts end to end over an InProcessSandbox: full marks for correct work however it is written,
lost points for each classic mistake, reproducible results and readable counterexamples."""
from __future__ import annotations

import dataclasses

import pytest

from assignments.loss_functions.parts import PARTS, POINTS
from autograder.judge.results import PartResult
from autograder.judge.subject import SandboxFunctions
from autograder.sandbox.inprocess import InProcessSandbox
from student_sources import CORRECT, PLOTS, define

MAX_EXAMPLES = 20


def grade(sources: list[str], grade_id: str, max_examples: int = MAX_EXAMPLES) -> PartResult:
    sandbox = InProcessSandbox()
    for source in sources:
        run = sandbox.run_cell(source)
        assert run.error is None, run.error
    return PARTS[grade_id].grade(SandboxFunctions(sandbox), max_score=POINTS[grade_id],
                                 max_examples=max_examples, grade_id=grade_id)


def failures(result: PartResult) -> list[str]:
    return [f"{c.name}: {c.message} {c.counterexample}" for c in result.checks if not c.passed]


@pytest.fixture(scope="module")
def correct_results() -> dict[str, PartResult]:
    sandbox = InProcessSandbox()
    for source in (CORRECT, PLOTS):
        assert sandbox.run_cell(source).error is None
    functions = SandboxFunctions(sandbox)
    return {gid: part.grade(functions, max_score=POINTS[gid], max_examples=MAX_EXAMPLES, grade_id=gid)
            for gid, part in PARTS.items()}


def test_every_autograded_cell_has_a_part_and_points():
    assert set(PARTS) == set(POINTS)
    assert sum(POINTS.values()) == 36


@pytest.mark.parametrize("grade_id", sorted(PARTS))
def test_correct_solution_scores_full_marks(correct_results, grade_id):
    result = correct_results[grade_id]
    assert result.error is None
    assert result.score == POINTS[grade_id], failures(result)
    assert result.grade_id == grade_id and result.checks


ALTERNATIVES = {
    "mse": [
        "return torch.mean(torch.square(y_pred - y_true))",
        "d = y_pred - y_true\nreturn (d * d).sum() / d.numel()",
        "return torch.pow(y_true - y_pred, 2).mean()",
        "return ((y_pred - y_true) ** 2).sum() / y_pred.numel()",
    ],
    "mae": [
        "return torch.mean(torch.abs(y_pred - y_true))",
        "d = y_pred - y_true\nreturn torch.where(d > 0, d, -d).mean()",
        "return (y_true - y_pred).abs().sum() / y_true.numel()",
        "return torch.maximum(y_pred - y_true, y_true - y_pred).mean()",
    ],
    "bce": [
        "return -torch.mean(y * torch.log(p).clamp(min=-100) + (1 - y) * torch.log1p(-p).clamp(min=-100))",
        "lp = torch.where(p > 0, torch.log(p), torch.full_like(p, -100.0)).clamp(min=-100)\n"
        "ln = torch.where(p < 1, torch.log(1 - p), torch.full_like(p, -100.0)).clamp(min=-100)\n"
        "return -(y * lp + (1 - y) * ln).sum() / p.numel()",
        "return torch.mean(-y * torch.clamp(torch.log(p), -100) - (1 - y) * torch.clamp(torch.log(1 - p), -100))",
    ],
}


@pytest.mark.parametrize("function,body", [(f, b) for f, bodies in ALTERNATIVES.items() for b in bodies])
def test_correct_alternatives_get_full_marks(function, body):
    args = "p, y" if function == "bce" else "y_pred, y_true"
    result = grade([CORRECT, define(function, args, body)], f"{function}_hidden")
    assert result.score == POINTS[f"{function}_hidden"], failures(result)


def test_sweeps_written_without_loops_get_full_marks():
    vectorised = [
        define("mse_surface", "x, y, ws", "return ((ws[:, None] * x[None, :] - y) ** 2).mean(dim=1)"),
        define("bce_curve", "p", "return -torch.log1p(-p).clamp(min=-100), -torch.log(p).clamp(min=-100)"),
        define("outlier_sweep", "y_true, values",
               "preds = y_true.repeat(len(values), 1)\npreds[:, -1] = values\n"
               "return ((preds - y_true) ** 2).mean(dim=1), (preds - y_true).abs().mean(dim=1)"),
    ]
    for grade_id in ("mse_surface_hidden", "bce_curve_hidden", "outlier_sweep_hidden"):
        result = grade([CORRECT, *vectorised], grade_id)
        assert result.score == POINTS[grade_id], failures(result)


MSE_ARGS, BCE_ARGS = "y_pred, y_true", "p, y"
BCE_LOG = "lp = torch.clamp(torch.log(p), min=-100)\nln = torch.clamp(torch.log(1 - p), min=-100)\n"
WRONG = {
    "mse sum instead of mean": ("mse", MSE_ARGS, "return ((y_pred - y_true) ** 2).sum()"),
    "mse takes the square root": ("mse", MSE_ARGS, "return torch.sqrt(((y_pred - y_true) ** 2).mean())"),
    "mse missing square": ("mse", MSE_ARGS, "return (y_pred - y_true).mean()"),
    "mse mean over one dim": ("mse", MSE_ARGS, "return ((y_pred - y_true) ** 2).mean(dim=0)"),
    "mse divides by len": ("mse", MSE_ARGS, "return ((y_pred - y_true) ** 2).sum() / len(y_pred)"),
    "mse .item() breaks autograd": ("mse", MSE_ARGS, "return torch.tensor(((y_pred - y_true) ** 2).mean().item())"),
    "mse numpy round-trip": ("mse", MSE_ARGS,
                             "d = y_pred.detach().numpy() - y_true.detach().numpy()\nreturn torch.tensor((d ** 2).mean())"),
    "mse in-place on input": ("mse", MSE_ARGS, "y_pred -= y_true\nreturn (y_pred ** 2).mean()"),
    "mse returns a python float": ("mse", MSE_ARGS, "return float(((y_pred - y_true) ** 2).mean())"),
    "mse returns a numpy array": ("mse", MSE_ARGS, "return ((y_pred - y_true) ** 2).mean().detach().numpy()"),
    "mse raises": ("mse", MSE_ARGS, "raise ValueError('oops')"),
    "mse stub": ("mse", MSE_ARGS, "raise NotImplementedError()"),
    "mse float32 constant dtype": ("mse", MSE_ARGS, "return ((y_pred - y_true) ** 2).mean().float()"),
    "mae missing abs": ("mae", MSE_ARGS, "return (y_pred - y_true).mean()"),
    "mae sum instead of mean": ("mae", MSE_ARGS, "return (y_pred - y_true).abs().sum()"),
    "mae squares": ("mae", MSE_ARGS, "return ((y_pred - y_true) ** 2).mean()"),
    "mae stub": ("mae", MSE_ARGS, "raise NotImplementedError()"),
    "bce swapped arguments": ("bce", BCE_ARGS, "p, y = y, p\n" + BCE_LOG + "return -(y * lp + (1 - y) * ln).mean()"),
    "bce missing minus": ("bce", BCE_ARGS, BCE_LOG + "return (y * lp + (1 - y) * ln).mean()"),
    "bce only the y=1 term": ("bce", BCE_ARGS, BCE_LOG + "return -(y * lp).mean()"),
    "bce log10": ("bce", BCE_ARGS, "return -(y * torch.log10(p).clamp(min=-100) + (1 - y) * torch.log10(1 - p).clamp(min=-100)).mean()"),
    "bce log2": ("bce", BCE_ARGS, "return -(y * torch.log2(p).clamp(min=-100) + (1 - y) * torch.log2(1 - p).clamp(min=-100)).mean()"),
    "bce no clamp": ("bce", BCE_ARGS, "return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()"),
    "bce sum instead of mean": ("bce", BCE_ARGS, BCE_LOG + "return -(y * lp + (1 - y) * ln).sum()"),
    "bce stub": ("bce", BCE_ARGS, "raise NotImplementedError()"),
    "surface sums": ("mse_surface", "x, y, ws", "return torch.stack([((w * x - y) ** 2).sum() for w in ws])"),
    "surface python list": ("mse_surface", "x, y, ws", "return [mse(w * x, y) for w in ws]"),
    "surface adds w": ("mse_surface", "x, y, ws", "return torch.stack([mse(w + x, y) for w in ws])"),
    "curve swapped": ("bce_curve", "p", "return -torch.log(p).clamp(min=-100), -torch.log(1 - p).clamp(min=-100)"),
    "curve missing minus": ("bce_curve", "p", "return torch.log(1 - p).clamp(min=-100), torch.log(p).clamp(min=-100)"),
    "curve no clamp": ("bce_curve", "p", "return -torch.log(1 - p), -torch.log(p)"),
    "curve reduced": ("bce_curve", "p", "return -torch.log(1 - p).mean(), -torch.log(p).mean()"),
    "sweep mutates y_true": ("outlier_sweep", "y_true, values",
                             "mses, maes = [], []\nfor v in values:\n    y_pred = y_true\n    y_pred[-1] = v\n"
                             "    mses.append(mse(y_pred, y_true)); maes.append(mae(y_pred, y_true))\n"
                             "return torch.stack(mses), torch.stack(maes)"),
    "sweep swapped outputs": ("outlier_sweep", "y_true, values",
                              "preds = y_true.repeat(len(values), 1)\npreds[:, -1] = values\n"
                              "return (preds - y_true).abs().mean(dim=1), ((preds - y_true) ** 2).mean(dim=1)"),
    "sweep replaces the first element": ("outlier_sweep", "y_true, values",
                                         "preds = y_true.repeat(len(values), 1)\npreds[:, 0] = values\n"
                                         "return ((preds - y_true) ** 2).mean(dim=1), (preds - y_true).abs().mean(dim=1)"),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_each_classic_mistake_loses_points(case):
    function, args, body = WRONG[case]
    result = grade([CORRECT, define(function, args, body)], f"{function}_hidden", max_examples=15)
    assert result.score < POINTS[f"{function}_hidden"]
    failed = [c for c in result.checks if not c.passed]
    assert failed and all(c.message for c in failed)


def test_grading_twice_gives_identical_results():
    sources = [CORRECT, define(*WRONG["mse sum instead of mean"][:2], WRONG["mse sum instead of mean"][2])]
    assert grade(sources, "mse_hidden") == grade(sources, "mse_hidden")


def test_counterexample_is_shrunk_and_readable():
    result = grade([CORRECT, define("mse", MSE_ARGS, "return ((y_pred - y_true) ** 2).sum()")], "mse_hidden")
    value = next(c for c in result.checks if not c.passed and "mean of the squared" in c.name)
    example = value.counterexample
    assert example is not None and [name for name, _ in example.inputs] == ["y_pred", "y_true"]
    assert all("dtype=float" in text for _, text in example.inputs)
    assert len(example.inputs[0][1]) < 80  # shrunk to a couple of simple numbers
    assert example.expected != example.got


def test_public_examples_are_all_or_nothing():
    half_right = define("mse", MSE_ARGS, "d = y_pred - y_true\nreturn (d ** 2).mean() if y_pred[1] > 2.6 else (d ** 2).sum()")
    result = grade([CORRECT, half_right], "mse_public")
    assert [c.passed for c in result.checks] == [False, True] and result.score == 0


def test_missing_function_fails_every_check_with_the_reason():
    result = grade(["import torch"], "mae_hidden", max_examples=5)
    assert result.score == 0 and all("not defined" in c.message for c in result.checks)


def plot_result(plot_cell: str, grade_id: str) -> PartResult:
    return grade([CORRECT, plot_cell], grade_id)


def test_plot_without_labels_earns_partial_credit():
    cell = ("ws = torch.linspace(-1, 3, 100)\nfig_surface, ax = plt.subplots()\n"
            "ax.plot(ws, mse_surface(torch.tensor([0., 1., 2., 3.]), torch.tensor([1., 2., 2., 4.]), ws))\n")
    result = plot_result(cell, "plot_surface_test")
    assert 0 < result.score < POINTS["plot_surface_test"]
    assert {c.name for c in result.checks if not c.passed} == {
        "the x axis is labelled", "the y axis is labelled", "the plot has a title"}


def test_wrong_curve_comes_with_a_comparison_image():
    cell = ("ws = torch.linspace(-1, 3, 100)\nfig_surface, ax = plt.subplots()\n"
            "ax.plot(ws, ws ** 2)\nax.set_xlabel('w'); ax.set_ylabel('MSE'); ax.set_title('surface')\n")
    first, second = plot_result(cell, "plot_surface_test"), plot_result(cell, "plot_surface_test")
    curve = first.checks[0]
    assert not curve.passed and curve.image_png.startswith(b"\x89PNG")
    assert curve.image_png == second.checks[0].image_png


@pytest.mark.parametrize("grade_id, wrong", [
    ("mse_surface_hidden", define("mse_surface", "x, y, ws", "return torch.stack([((w + x - y) ** 2).mean() for w in ws])")),
    ("bce_curve_hidden", define("bce_curve", "p", "return -torch.log(p), -torch.log(1 - p)")),
    ("outlier_sweep_hidden", define("outlier_sweep", "y_true, values", """out = []
for v in values:
    y_pred = y_true.clone()
    y_pred[0] = v
    out.append(y_pred)
return (torch.stack([((p - y_true) ** 2).mean() for p in out]),
        torch.stack([(p - y_true).abs().mean() for p in out]))""")),
])
def test_a_wrong_sweep_shows_its_curve_against_the_reference(correct_results, grade_id, wrong):
    result = grade([CORRECT, wrong], grade_id, max_examples=10)
    images = [c.image_png for c in result.checks if c.image_png]
    assert len(images) == 1 and images[0].startswith(b"\x89PNG")
    assert not any(c.image_png for c in correct_results[grade_id].checks)


def test_two_curve_plot_needs_both_curves_and_a_legend():
    cell = ("p = torch.linspace(0.01, 0.99, 100)\nfig_bce, ax = plt.subplots()\n"
            "ax.plot(p, bce_curve(p)[0])\nax.set_xlabel('p'); ax.set_ylabel('loss'); ax.set_title('BCE')\n")
    result = plot_result(cell, "plot_bce_test")
    failed = {c.name for c in result.checks if not c.passed}
    assert failed == {"`fig_bce` shows the y = 1 curve", "a legend names the 2 curves"}


def test_missing_figure_is_a_part_error():
    result = grade([CORRECT], "plot_outlier_test")
    assert result.score == 0 and "fig_outlier" in result.error


def test_grade_id_can_be_filled_in_later():
    result = grade([CORRECT], "mse_public")
    assert dataclasses.replace(result, grade_id="x").grade_id == "x"
