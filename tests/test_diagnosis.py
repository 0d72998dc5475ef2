"""Every catalogued mistake is diagnosed BY NAME from a student implementation that makes it.

Each case is student source run in an ``InProcessSandbox``; the function's hidden properties run
with its ``Diagnoser`` hooked in, exactly as grading does. Correct submissions (written several
ways) and unlisted wrong ones must get no diagnosis at all.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import pytest
import torch

from assignments.loss_functions import properties, references
from assignments.loss_functions.parts import PARTS
from assignments.loss_functions.mistakes import CATALOGUE, DIAGNOSERS
from autograder.judge.diagnosis import Diagnoser, Mistake, close
from autograder.judge.properties import run_property
from autograder.judge.subject import SandboxFunctions, Subject
from autograder.sandbox.inprocess import InProcessSandbox

HEADER = "import torch\nimport numpy as np\n"
PROPERTIES = {"mse": properties.MSE, "mae": properties.MAE, "bce": properties.BCE,
              "mse_surface": properties.MSE_SURFACE, "bce_curve": properties.BCE_CURVE,
              "outlier_sweep": properties.OUTLIER_SWEEP}
MAX_EXAMPLES = 20

CLAMP = ".clamp(min=-100)"
BCE_LOGS = f"lp, ln = torch.log(p){CLAMP}, torch.log(1 - p){CLAMP}\n    "
SWEEP = ("def outlier_sweep(y_true, values):\n    mses, maes = [], []\n    for v in values:\n"
         "        pred = {copy}\n        {change}\n"
         "        mses.append(((pred - y_true) ** 2).mean()); maes.append((pred - y_true).abs().mean())\n"
         "    return {result}\n")


def loss(function: str, args: str, body: str) -> str:
    return f"def {function}({args}):\n    {body}\n"


def mse(body: str) -> str:
    return loss("mse", "y_pred, y_true", body)


def mae(body: str) -> str:
    return loss("mae", "y_pred, y_true", body)


def bce(body: str) -> str:
    return loss("bce", "p, y", body)


def surface(body: str) -> str:
    return loss("mse_surface", "x, y, ws", body)


def curve(body: str) -> str:
    return loss("bce_curve", "p", body)


def sweep(change: str = "pred[-1] = v", result: str = "torch.stack(mses), torch.stack(maes)",
          copy: str = "y_true.clone()") -> str:
    return SWEEP.format(change=change, result=result, copy=copy)


def vector_sweep(result: str = "(d ** 2).mean(1), d.abs().mean(1)") -> str:
    """outlier_sweep on all values at once: row i of ``d`` holds the errors when the last prediction is values[i]."""
    return ("def outlier_sweep(y_true, values):\n    pred = y_true.repeat(len(values), 1)\n"
            f"    pred[:, -1] = values\n    d = pred - y_true\n    return {result}\n")


STUB = "raise NotImplementedError()"
MSE_RIGHT = mse("return ((y_pred - y_true) ** 2).mean()")
MAE_RIGHT = mae("return (y_pred - y_true).abs().mean()")
BCE_RIGHT = bce(BCE_LOGS + "return -(y * lp + (1 - y) * ln).mean()")


MISTAKEN = {  # case id ("<key>" or "<key>/<another spelling>") -> student source
    "mse.sum_instead_of_mean": mse("return ((y_pred - y_true) ** 2).sum()"),
    "mse.mean_over_one_dim": mse("return ((y_pred - y_true) ** 2).mean(dim=0)"),
    "mse.mean_over_one_dim/dim1": mse("return torch.mean((y_pred - y_true) ** 2, dim=1)"),
    "mse.divides_by_len": mse("return ((y_pred - y_true) ** 2).sum() / len(y_pred)"),
    "mse.rmse": mse("return torch.sqrt(torch.mean((y_pred - y_true) ** 2))"),
    "mse.missing_square": mse("return (y_pred - y_true).mean()"),
    "mse.missing_square/reversed": mse("return torch.mean(y_true - y_pred)"),
    "mse.squared_mean_error": mse("return (y_pred - y_true).mean() ** 2"),
    "mse.returned_numpy": mse("return np.mean((y_pred.detach().numpy() - y_true.detach().numpy()) ** 2)"),
    "mse.returned_float": mse("return ((y_pred - y_true) ** 2).mean().item()"),
    "mse.autograd_broken": mse("return torch.tensor(((y_pred - y_true) ** 2).mean().item(), dtype=y_pred.dtype)"),
    "mse.inputs_modified": mse("y_pred -= y_true\n    return (y_pred ** 2).mean()"),
    "mae.sum_instead_of_mean": mae("return torch.abs(y_pred - y_true).sum()"),
    "mae.mean_over_one_dim": mae("return (y_pred - y_true).abs().mean(-1)"),
    "mae.divides_by_len": mae("return (y_pred - y_true).abs().sum() / len(y_true)"),
    "mae.missing_abs": mae("return (y_pred - y_true).mean()"),
    "mae.abs_of_mean": mae("return torch.abs(torch.mean(y_pred - y_true))"),
    "mae.squared": mae("return ((y_pred - y_true) ** 2).mean()"),
    "mae.returned_numpy": mae("return (y_pred - y_true).abs().mean().detach().numpy()"),
    "mae.returned_float": mae("return float((y_pred - y_true).abs().mean())"),
    "mae.autograd_broken": mae("d = y_pred.detach().numpy() - y_true.detach().numpy()\n"
                               "    return torch.tensor(np.abs(d), dtype=y_pred.dtype).mean()"),
    "mae.inputs_modified": mae("y_pred.sub_(y_true).abs_()\n    return y_pred.mean()"),
    "bce.missing_minus": bce(BCE_LOGS + "return (y * lp + (1 - y) * ln).mean()"),
    "bce.only_positive_term": bce(BCE_LOGS + "return -(y * lp).mean()"),
    "bce.only_negative_term": bce(BCE_LOGS + "return -((1 - y) * ln).mean()"),
    "bce.wrong_log_base": bce(f"return -(y * torch.log10(p){CLAMP} + (1 - y) * torch.log10(1 - p){CLAMP}).mean()"),
    "bce.wrong_log_base/log2": bce("return -(y * torch.log2(p) + (1 - y) * torch.log2(1 - p)).mean()"),
    "bce.swapped_arguments": bce(f"return -(p * torch.log(y){CLAMP} + (1 - p) * torch.log(1 - y){CLAMP}).mean()"),
    "bce.no_clamp": bce("return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()"),
    "bce.eps_clamped_probabilities": bce("p = p.clamp(1e-7, 1 - 1e-7)\n"
                                         "    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()"),
    "bce.eps_clamped_probabilities/added": bce("eps = 1e-8\n"
                                               "    return -(y * torch.log(p + eps) + (1 - y) * torch.log(1 - p + eps)).mean()"),
    "bce.sum_instead_of_mean": bce(BCE_LOGS + "return -(y * lp + (1 - y) * ln).sum()"),
    "bce.returned_numpy": bce(BCE_LOGS + "return -(y * lp + (1 - y) * ln).mean().detach().numpy()"),
    "bce.returned_float": bce(BCE_LOGS + "return -(y * lp + (1 - y) * ln).mean().item()"),
    "bce.autograd_broken": bce(BCE_LOGS + "return torch.tensor(-(y * lp + (1 - y) * ln).mean().tolist(), dtype=p.dtype)"),
    "bce.inputs_modified": bce("p.clamp_(1e-12, 1 - 1e-12)\n"
                               f"    return -(y * torch.log(p){CLAMP} + (1 - y) * torch.log(1 - p){CLAMP}).mean()"),
    "mse_surface.wrong_axis": surface("return ((ws[:, None] * x - y) ** 2).mean(0)"),
    "mse_surface.wrong_axis/everything": surface("return ((ws[:, None] * x - y) ** 2).mean()"),
    "mse_surface.missing_mean": surface("return torch.stack([((w * x - y) ** 2).sum() for w in ws])"),
    "mse_surface.w_plus_x": surface("return torch.stack([((w + x - y) ** 2).mean() for w in ws])"),
    "mse_surface.returns_list": surface("return [((w * x - y) ** 2).mean() for w in ws]"),
    "mse_surface.returned_numpy": surface("return np.array([((w * x - y) ** 2).mean().item() for w in ws])"),
    "bce_curve.swapped": curve(f"return -torch.log(p){CLAMP}, -torch.log(1 - p){CLAMP}"),
    "bce_curve.missing_minus": curve(f"return torch.log(1 - p){CLAMP}, torch.log(p){CLAMP}"),
    "bce_curve.no_clamp": curve("return -torch.log(1 - p), -torch.log(p)"),
    "bce_curve.returns_list": curve(f"return [-torch.log(1 - p){CLAMP}, -torch.log(p){CLAMP}]"),
    "outlier_sweep.first_element": sweep(change="pred[0] = v"),
    "outlier_sweep.adds_value": sweep(change="pred[-1] += v"),
    "outlier_sweep.swapped": sweep(result="torch.stack(maes), torch.stack(mses)"),
    "outlier_sweep.inputs_modified": sweep(copy="y_true"),
    "outlier_sweep.returns_list": sweep(result="mses, maes"),
    # the stub left in, and the wrong normalisers, orders, eps and reductions of issue 10
    "mse.stub": mse(STUB),
    "mse.divides_by_n_minus_1": mse("d = y_pred - y_true\n    return (d ** 2).sum() / (d.numel() - 1)"),
    "mse.divides_by_n_minus_1/len": mse("return ((y_pred - y_true) ** 2).sum() / (len(y_pred) - 1)"),
    "mae.stub": mae(STUB),
    "mae.divides_by_n_minus_1": mae("return torch.abs(y_pred - y_true).sum() / (y_true.numel() - 1)"),
    "bce.stub": bce(STUB),
    "bce.mean_over_one_dim": bce(BCE_LOGS + "return -(y * lp + (1 - y) * ln).mean(dim=-1)"),
    "bce.mean_over_one_dim/dim0": bce("return -torch.mean(y * torch.log(p) + (1 - y) * torch.log(1 - p), dim=0)"),
    "bce.mean_over_positives": bce(f"return -torch.log(p[y == 1]){CLAMP}.mean()"),
    "bce.mean_over_positives/divided_by_y_sum": bce(BCE_LOGS + "return -(y * lp).sum() / y.sum()"),
    "mse_surface.divides_by_n_minus_1": surface("return torch.stack([((w * x - y) ** 2).sum() / (len(x) - 1)\n"
                                                "                        for w in ws])"),
    "mse_surface.missing_square": surface("return torch.stack([(w * x - y).mean() for w in ws])"),
    "mse_surface.missing_square/abs": surface("return (ws[:, None] * x - y).abs().mean(dim=1)"),
    "mse_surface.squared_mean_error": surface("return torch.stack([(w * x - y).mean() ** 2 for w in ws])"),
    "mse_surface.stub": surface(STUB),
    "mse_surface.stub/calls_the_mse_stub": mse(STUB) + surface("return torch.stack([mse(w * x, y) for w in ws])"),
    "bce_curve.eps_clamped_probabilities": curve("return -torch.log(1 - p + 1e-7), -torch.log(p + 1e-7)"),
    "bce_curve.eps_clamped_probabilities/clamped": curve("q = torch.clamp(p, 1e-6, 1 - 1e-6)\n"
                                                         "    return -torch.log(1 - q), -torch.log(q)"),
    "bce_curve.wrong_log_base": curve(f"return -torch.log2(1 - p){CLAMP}, -torch.log2(p){CLAMP}"),
    "bce_curve.averaged": curve(f"return -torch.log(1 - p){CLAMP}.mean(), -torch.log(p){CLAMP}.mean()"),
    "bce_curve.averaged/via_bce": BCE_RIGHT + curve("return bce(p, torch.zeros_like(p)), bce(p, torch.ones_like(p))"),
    "bce_curve.returned_numpy": curve(f"return (-torch.log(1 - p){CLAMP}).numpy(), (-torch.log(p){CLAMP}).numpy()"),
    "bce_curve.stub": curve(STUB),
    "outlier_sweep.sum_instead_of_mean": vector_sweep("(d ** 2).sum(1), d.abs().sum(1)"),
    "outlier_sweep.sum_instead_of_mean/outlier_only": ("def outlier_sweep(y_true, values):\n"
                                                       "    d = values - y_true[-1]\n    return d ** 2, d.abs()\n"),
    "outlier_sweep.wrong_axis": vector_sweep("(d ** 2).mean(0), d.abs().mean(0)"),
    "outlier_sweep.wrong_axis/everything": vector_sweep("(d ** 2).mean(), d.abs().mean()"),
    "outlier_sweep.returned_numpy": sweep(result="torch.stack(mses).numpy(), torch.stack(maes).numpy()"),
    "outlier_sweep.stub": loss("outlier_sweep", "y_true, values", STUB),
}

CORRECT = {  # function -> several correct ways to write it
    "mse": [MSE_RIGHT,
            mse("d = y_true - y_pred\n    return (d * d).sum() / d.numel()"),
            mse("return torch.mean(torch.square(y_pred - y_true))"),
            mse("d = (y_pred - y_true).flatten()\n    return d.dot(d) / len(d)")],
    "mae": [MAE_RIGHT,
            mae("return torch.mean(torch.abs(y_true - y_pred))"),
            mae("return (y_pred - y_true).abs().sum() / y_pred.numel()")],
    "bce": [BCE_RIGHT,
            bce("terms = y * torch.clamp(torch.log(p), min=-100) + (1 - y) * torch.clamp(torch.log1p(-p), min=-100)\n"
                "    return -terms.mean()"),
            bce("floor = torch.tensor(-100.0, dtype=p.dtype)\n"
                "    terms = y * torch.maximum(torch.log(p), floor) + (1 - y) * torch.maximum(torch.log(1 - p), floor)\n"
                "    return -terms.flatten().sum() / p.numel()")],
    "mse_surface": [surface("return torch.stack([((w * x - y) ** 2).mean() for w in ws])"),
                    surface("return ((ws.unsqueeze(1) * x.unsqueeze(0) - y) ** 2).mean(dim=1)"),
                    surface("return ((torch.outer(ws, x) - y) ** 2).sum(dim=1) / len(x)"),
                    MSE_RIGHT + surface("return torch.stack([mse(w * x, y) for w in ws])")],
    "bce_curve": [curve(f"return -torch.log(1 - p){CLAMP}, -torch.log(p){CLAMP}"),
                  curve("return -torch.clamp(torch.log1p(-p), min=-100), -torch.clamp(torch.log(p), min=-100)"),
                  curve("return (-torch.log(1 - p)).clamp(max=100), (-torch.log(p)).clamp(max=100)")],
    "outlier_sweep": [sweep(), vector_sweep(),
                      MSE_RIGHT + MAE_RIGHT + "def outlier_sweep(y_true, values):\n"
                      "    preds = [torch.cat([y_true[:-1], v.reshape(1)]) for v in values]\n"
                      "    return (torch.stack([mse(p, y_true) for p in preds]),\n"
                      "            torch.stack([mae(p, y_true) for p in preds]))\n"],
}

UNLISTED = {  # function -> a wrong implementation no catalogue entry describes
    "mse": mse("return y_pred.mean() * 0 + 7"),
    "mae": mae("return (y_pred - y_true).abs().max()"),
    "bce": bce("return p.mean() * 0 + 7"),
    "mse_surface": surface("return ws * 0 + 7"),
    "bce_curve": curve("return p * 0 + 7, p * 0 + 7"),
    "outlier_sweep": sweep(result="torch.stack(mses) * 0 + 7, torch.stack(maes)"),
}

BY_KEY = {m.key: m for m in CATALOGUE}


@contextlib.contextmanager
def student(function: str, source: str) -> Iterator[Subject]:
    with InProcessSandbox() as sandbox:
        run = sandbox.run_cell(HEADER + source)
        assert run.status == "ok", run.error
        yield Subject(function, sandbox)


def grade(function: str, source: str):
    """Run the function's hidden properties on ``source`` with its Diagnoser, as grading does."""
    with student(function, source) as subject:
        return [run_property(p, subject, max_examples=MAX_EXAMPLES, diagnose=DIAGNOSERS[function])
                for p in PROPERTIES[function]]


@pytest.mark.parametrize("case", sorted(MISTAKEN))
def test_mistake_is_named_on_the_probes(case: str) -> None:
    """Fast: with each probe as the failing input, only this mistake is ever named, and at least once."""
    mistake = BY_KEY[case.split("/")[0]]
    diagnoser = DIAGNOSERS[mistake.function]
    with student(mistake.function, MISTAKEN[case]) as subject:
        found = [diagnoser.find(subject, args, subject(*args)) for args in diagnoser.probes]
    assert mistake in found and set(found) <= {mistake, None}, f"{case}: {[m and m.key for m in found]}"


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(MISTAKEN))
def test_mistake_is_diagnosed_by_name(case: str) -> None:
    mistake = BY_KEY[case.split("/")[0]]
    results = grade(mistake.function, MISTAKEN[case])
    failed = [r for r in results if not r.passed]
    assert failed, f"no property caught {case}"
    diagnoses = {r.diagnosis for r in failed}
    assert mistake.text in diagnoses, f"{case}: got {diagnoses}"
    assert diagnoses <= {mistake.text, None}, f"{case}: another mistake was also named: {diagnoses}"


CORRECT_CASES = [(f, s) for f, sources in CORRECT.items() for s in sources]


@pytest.mark.parametrize("function, source", CORRECT_CASES)
def test_correct_submission_gets_no_diagnosis_on_the_probes(function: str, source: str) -> None:
    diagnoser = DIAGNOSERS[function]
    with student(function, source) as subject:
        for args in diagnoser.probes:
            assert diagnoser(subject, args, subject(*args)) is None


@pytest.mark.slow
@pytest.mark.parametrize("function, source", CORRECT_CASES)
def test_correct_submission_passes_every_property(function: str, source: str) -> None:
    assert [r.name for r in grade(function, source) if not r.passed] == []


@pytest.mark.parametrize("function", sorted(UNLISTED))
def test_unlisted_mistake_gets_no_diagnosis_on_the_probes(function: str) -> None:
    diagnoser = DIAGNOSERS[function]
    with student(function, UNLISTED[function]) as subject:
        assert [diagnoser(subject, args, subject(*args)) for args in diagnoser.probes] == [None] * len(diagnoser.probes)


@pytest.mark.slow
@pytest.mark.parametrize("function", sorted(UNLISTED))
def test_unlisted_mistake_gets_no_diagnosis(function: str) -> None:
    failed = [r for r in grade(function, UNLISTED[function]) if not r.passed]
    assert failed
    assert {r.diagnosis for r in failed} == {None}


@pytest.mark.slow
@pytest.mark.parametrize("grade_id, case", [("mse_public", "mse.sum_instead_of_mean"),
                                            ("bce_hidden", "bce.no_clamp"),
                                            ("outlier_sweep_public", "outlier_sweep.first_element")])
def test_parts_registry_hooks_the_diagnosers_in(grade_id: str, case: str) -> None:
    with InProcessSandbox() as sandbox:
        assert sandbox.run_cell(HEADER + MISTAKEN[case]).status == "ok"
        result = PARTS[grade_id].grade(SandboxFunctions(sandbox), max_score=1.0, max_examples=MAX_EXAMPLES)
    assert BY_KEY[case].text in {c.diagnosis for c in result.checks if not c.passed}


# --- the catalogue itself ------------------------------------------------------------------------

def test_every_catalogue_entry_has_a_case() -> None:
    assert {case.split("/")[0] for case in MISTAKEN} == set(BY_KEY)


def test_keys_are_unique_and_entries_complete() -> None:
    assert len(BY_KEY) == len(CATALOGUE)
    for mistake in CATALOGUE:
        assert mistake.key.startswith(f"{mistake.function}."), mistake.key
        assert mistake.title.strip() and mistake.explanation.strip(), mistake.key
        assert (mistake.variant is None) != (mistake.detect is None), mistake.key
        assert mistake in DIAGNOSERS[mistake.function].mistakes


def _outputs(form, probes):
    outputs = []
    for args in probes:
        try:
            outputs.append(form(*args))
        except Exception as error:
            outputs.append(error)
    return outputs


def _same(a, b) -> bool:
    return all(isinstance(x, Exception) and isinstance(y, Exception)
               or not isinstance(x, Exception) and not isinstance(y, Exception) and close(x, y, 1e-4, 1e-5)
               for x, y in zip(a, b))


@pytest.mark.parametrize("function", sorted(DIAGNOSERS))
def test_probes_tell_every_variant_apart(function: str) -> None:
    """On the probes alone, no variant equals the reference or a variant of another mistake."""
    diagnoser = DIAGNOSERS[function]
    reference = _outputs(getattr(references, function), diagnoser.probes)
    forms = [(m.key, _outputs(f, diagnoser.probes)) for m in diagnoser.mistakes for f in m.forms]
    for key, outputs in forms:
        assert not _same(outputs, reference), f"{key} equals the reference on every probe"
        clashes = [other for other, theirs in forms if other != key and _same(outputs, theirs)]
        assert not clashes, f"{key} is indistinguishable from {clashes}"


# --- the engine's own rules ----------------------------------------------------------------------

def test_a_mistake_needs_exactly_one_way_to_be_recognised() -> None:
    with pytest.raises(ValueError):
        Mistake("f.x", "f", "t", "e")
    with pytest.raises(ValueError):
        Mistake("f.x", "f", "t", "e", variant=lambda a: a, detect=lambda r, a: True)
    with pytest.raises(ValueError):
        Diagnoser([BY_KEY["mse.rmse"], BY_KEY["mae.squared"]])


def test_close_compares_structure_shape_and_nan() -> None:
    nan = torch.tensor(float("nan"))
    assert close(nan, nan, 1e-4, 1e-5)
    assert not close(torch.zeros(2), torch.zeros(1, 2), 1e-4, 1e-5)
    assert not close(torch.zeros(2), (torch.zeros(2),), 1e-4, 1e-5)
    assert close((torch.ones(2), 1.0), (torch.ones(2), torch.tensor(1.0)), 1e-4, 1e-5)
    assert close(torch.tensor(1e-12), torch.tensor(1e-12 * (1 + 1e-6)), 1e-4, 1e-5)
    assert not close(torch.tensor(2e-12), torch.tensor(1e-12), 1e-4, 1e-5)
