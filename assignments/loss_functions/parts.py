"""The parts registry: every autograded grade cell of the notebook, its points and its checks.

One table of points (``POINTS``), checked against the source notebook's metadata by a test, so
the hidden cells run in-kernel and the trusted grader can never disagree about a cell's worth.
The public examples are the very numbers of the visible assert cells; the hidden parts show a
failure on the simplest of ``teaching``'s hand-written inputs too.
"""
from __future__ import annotations

from typing import Callable

import torch
from hypothesis import strategies as st

from assignments.loss_functions import properties as hidden
from assignments.loss_functions import references as ref
from assignments.loss_functions.mistakes import DIAGNOSERS
from assignments.loss_functions.teaching import TEACHING
from autograder.judge.checks import show
from autograder.judge.parts import Curve, ExamplePart, FunctionPart, Part, PlotPart, SweepPicture
from autograder.judge.properties import Property

MAX_EXAMPLES = 50  # Hypothesis examples per property; ~0.5 s per property in-process

POINTS: dict[str, float] = {
    "mse_public": 1, "mse_hidden": 5, "mae_public": 1, "mae_hidden": 4, "bce_public": 1, "bce_hidden": 6,
    "mse_surface_public": 1, "mse_surface_hidden": 3, "bce_curve_public": 1, "bce_curve_hidden": 3,
    "outlier_sweep_public": 1, "outlier_sweep_hidden": 3,
    "plot_surface_test": 2, "plot_bce_test": 2, "plot_outlier_test": 2,
}
MANUAL_POINTS: dict[str, float] = {"written_bowl": 4, "written_outlier_rl": 4}


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def _all(*checks: Callable) -> Callable:
    def check(subject, args: tuple) -> None:
        for one in checks:
            one(subject, args)
    return check


def _example(function: str, arg_names: tuple[str, ...], args: tuple[torch.Tensor, ...], check: Callable,
             expected: object) -> Property:
    shown = ", ".join("[" + ", ".join(f"{v:g}" for v in a.tolist()) + "]" for a in args)
    return Property(f"{function}({shown}) gives {show(expected)}", function, st.just(args), arg_names, check)


def _loss_examples(function: str, reference: Callable, rule: str, arg_names: tuple[str, ...],
                   cases: tuple[tuple[torch.Tensor, torch.Tensor], ...]) -> ExamplePart:
    check = _all(hidden.value_check(reference, rule), hidden.scalar_check)
    return ExamplePart(f"{function}: the lesson's examples",
                       tuple(_example(function, arg_names, args, check, reference(*args)) for args in cases),
                       DIAGNOSERS[function])


def _sweep_examples(function: str, reference: Callable, labels: tuple[str, ...], arg_names: tuple[str, ...],
                    cases: tuple[tuple[torch.Tensor, ...], ...]) -> ExamplePart:
    indices = tuple(range(len(labels)))
    check = _all(hidden.sweep_shape_check(reference, labels, ""),
                 hidden.sweep_value_check(reference, labels, indices, "the lesson's numbers"))
    return ExamplePart(f"{function}: the lesson's examples",
                       tuple(_example(function, arg_names, args, check, reference(*args)) for args in cases),
                       DIAGNOSERS[function])


def _hidden(function: str, properties: list[Property], picture: SweepPicture | None = None) -> FunctionPart:
    return FunctionPart(f"{function}: hidden properties", tuple(properties), DIAGNOSERS[function], picture,
                        TEACHING[function])


_LESSON_PAIRS = ((_t(2.0, 2.5, 3.5), _t(1.5, 3.0, 4.0)), (_t(2.5, 2.8, 4.6), _t(2.0, 3.5, 5.0)))
_SURFACE_X, _SURFACE_Y = _t(0, 1, 2, 3), _t(1, 2, 2, 4)
_SURFACE_WS = torch.linspace(-1, 3, 100)
_BCE_P = torch.linspace(0.01, 0.99, 100)
_OUTLIER_Y, _OUTLIER_VALUES = _t(1, 1, 1, 10), torch.linspace(0, 20, 120)


def _curve(label: str, x: torch.Tensor, y: torch.Tensor) -> Curve:
    return Curve(label, x.double().numpy(), y.double().numpy())


_BCE_LOSSES = ref.bce_curve(_BCE_P)
_OUTLIER_LOSSES = ref.outlier_sweep(_OUTLIER_Y, _OUTLIER_VALUES)
_SURFACE_CURVES = (_curve("MSE", _SURFACE_WS, ref.mse_surface(_SURFACE_X, _SURFACE_Y, _SURFACE_WS)),)
_BCE_CURVES = (_curve("y = 0", _BCE_P, _BCE_LOSSES[0]), _curve("y = 1", _BCE_P, _BCE_LOSSES[1]))
_OUTLIER_CURVES = (_curve("MSE", _OUTLIER_VALUES, _OUTLIER_LOSSES[0]), _curve("MAE", _OUTLIER_VALUES, _OUTLIER_LOSSES[1]))

PARTS: dict[str, Part] = {
    "mse_public": _loss_examples("mse", ref.mse, "the lesson's value", ("y_pred", "y_true"), _LESSON_PAIRS),
    "mse_hidden": _hidden("mse", hidden.MSE),
    "mae_public": _loss_examples("mae", ref.mae, "the lesson's value", ("y_pred", "y_true"), _LESSON_PAIRS),
    "mae_hidden": _hidden("mae", hidden.MAE),
    "bce_public": _loss_examples("bce", ref.bce, "F.binary_cross_entropy's value", ("p", "y"), (
        (_t(0.9, 0.2, 0.6), _t(1.0, 0.0, 1.0)), (_t(0.0, 1.0), _t(0.0, 1.0)), (_t(0.0, 1.0), _t(1.0, 0.0)))),
    "bce_hidden": _hidden("bce", hidden.BCE),
    "mse_surface_public": _sweep_examples("mse_surface", ref.mse_surface, ("the result of `mse_surface`",),
                                          ("x", "y", "ws"), ((_SURFACE_X, _SURFACE_Y, _t(0.0, 1.0, 2.0)),)),
    "mse_surface_hidden": _hidden("mse_surface", hidden.MSE_SURFACE, SweepPicture(
        "mse_surface", (_SURFACE_X, _SURFACE_Y, _SURFACE_WS), _SURFACE_CURVES)),
    "bce_curve_public": _sweep_examples("bce_curve", ref.bce_curve, ("loss_if_y_is_0", "loss_if_y_is_1"), ("p",),
                                        ((_t(0.5),), (_t(0.01, 0.99),))),
    "bce_curve_hidden": _hidden("bce_curve", hidden.BCE_CURVE, SweepPicture("bce_curve", (_BCE_P,), _BCE_CURVES)),
    "outlier_sweep_public": _sweep_examples("outlier_sweep", ref.outlier_sweep, ("mse_values", "mae_values"),
                                            ("y_true", "values"), ((_OUTLIER_Y, _t(10.0, 20.0)),)),
    "outlier_sweep_hidden": _hidden("outlier_sweep", hidden.OUTLIER_SWEEP, SweepPicture(
        "outlier_sweep", (_OUTLIER_Y, _OUTLIER_VALUES), _OUTLIER_CURVES)),
    "plot_surface_test": PlotPart("plot: the MSE surface", "fig_surface", _SURFACE_CURVES, plots="mse_surface"),
    "plot_bce_test": PlotPart("plot: BCE for y = 0 and y = 1", "fig_bce", _BCE_CURVES, plots="bce_curve"),
    "plot_outlier_test": PlotPart("plot: MSE vs MAE under one outlier", "fig_outlier", _OUTLIER_CURVES,
                                  plots="outlier_sweep"),
}
