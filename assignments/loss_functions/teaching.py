"""Inputs a student can check by hand, per function, and the reference's arithmetic on them.

A shrunk counterexample such as ``y_true = [6.6e-08, 6.6e-08]`` is minimal for Hypothesis, not
for a person. These are small integers, one decimal, probabilities 0, 0.5 and 1, ordered
simplest first, so the first one a submission fails is the one its feedback shows. They are
chosen so that each typical mistake of ``mistakes`` fails one of them (a one-element input
cannot tell a sum from a mean, so two-element ones follow). The result after ``=`` is the
reference's own value, so the arithmetic shown can never disagree with the grader. A gradient
rule's example works out the gradient (``gradient_by_hand``), from the reference's autograd.
"""
from __future__ import annotations

import math

import torch

from assignments.loss_functions import references as ref
from autograder.judge.checks import reference_grads
from autograder.judge.parts import Teaching, hand_written


def _t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def _n(v: float) -> str:
    """A number as written by hand: 2.5, 0.693, 100."""
    return f"{float(v):.3g}"


def _flat(t: torch.Tensor) -> list[float]:
    return t.reshape(-1).tolist()


def _gradient(reference, args: tuple, argument: int, terms: list[str]) -> str:
    """``[term, ...] / n = [values]``: one term per element, divided by the element count (the
    losses are means), equal to the reference's own gradient."""
    values = _flat(reference_grads(reference, args)[argument])
    return f"[{', '.join(terms)}] / {len(terms)} = [{', '.join(_n(v + 0.0) for v in values)}]"  # no -0


def _regression(square: bool) -> Teaching:
    reference = ref.mse if square else ref.mae

    def by_hand(args: tuple) -> str:
        y_pred, y_true = (_flat(a) for a in args)
        terms = [f"({_n(p)} - {_n(t)})²" if square else f"|{_n(p)} - {_n(t)}|" for p, t in zip(y_pred, y_true)]
        return f"({' + '.join(terms)}) / {len(terms)} = {_n(reference(*args))}"

    def gradient_by_hand(args: tuple, argument: int) -> str:
        """d/dy_pred of (y_pred - y_true)² is 2·(y_pred - y_true), of |y_pred - y_true| its sign;
        d/dy_true is minus that."""
        sign = "" if argument == 0 else "-"
        outer = "2·" if square else "sign"
        terms = [f"{sign}{outer}({_n(p)} - {_n(t)})" for p, t in zip(*(_flat(a) for a in args))]
        return _gradient(reference, args, argument, terms)

    inputs = ((_t(1.0), _t(0.0)), (_t(0.0), _t(1.0)), (_t(1.0, 2.0), _t(0.0, 0.0)), (_t(0.0, 0.0), _t(1.0, 2.0)),
              (_t(0.5, 1.5), _t(1.0, 1.0)), (_t([1.0, 2.0], [3.0, 4.0]), _t([0.0, 0.0], [0.0, 0.0])),
              (_t(1.0, 2.0).double(), _t(0.0, 0.0).double()))
    return Teaching(inputs, by_hand, gradient_by_hand)


def _log(x: float) -> str:
    return "(-100, clamped)" if x == 0 else f"ln {_n(x)}"


def _bce_term(p: float, y: float) -> str:
    if y == 1:
        return _log(p)
    if y == 0:
        return _log(1 - p)
    return f"{_n(y)}·{_log(p)} + {_n(1 - y)}·{_log(1 - p)}"


def _bce_by_hand(args: tuple) -> str:
    terms = [_bce_term(p, y) for p, y in zip(_flat(args[0]), _flat(args[1]))]
    return f"-({' + '.join(terms)}) / {len(terms)} = {_n(ref.bce(*args))}"


def _bce_gradient_by_hand(args: tuple, argument: int) -> str:
    """d/dp of -(y·ln p + (1 - y)·ln(1 - p)) is (p - y) / (p·(1 - p)), the denominator at least
    1e-12 as in PyTorch; d/dy is -(ln p - ln(1 - p))."""
    pairs = list(zip(*(_flat(a) for a in args)))
    if argument == 0:
        terms = [f"({_n(p)} - {_n(y)}) / " + (f"({_n(p)}·{_n(1 - p)})" if 0 < p < 1 else "1e-12")
                 for p, y in pairs]
    else:
        terms = [f"-(ln {_n(p)} - ln {_n(1 - p)})" for p, _ in pairs]
    return _gradient(ref.bce, args, argument, terms)


BCE = Teaching(((_t(0.5), _t(1.0)), (_t(0.5), _t(0.0)), (_t(0.8, 0.5), _t(1.0, 0.0)), (_t(0.2, 0.9), _t(0.0, 1.0)),
                (_t(1.0, 0.0), _t(1.0, 0.0)), (_t(0.0, 1.0), _t(1.0, 0.0)), (_t(0.5, 0.8), _t(0.5, 0.5)),
                (_t([0.8, 0.5], [0.2, 0.9]), _t([1.0, 0.0], [0.0, 1.0])),
                (_t(0.8, 0.5).double(), _t(1.0, 0.0).double())), _bce_by_hand, _bce_gradient_by_hand)


def _surface_by_hand(args: tuple) -> str:
    x, y, ws = (_flat(a) for a in args)
    losses = _flat(ref.mse_surface(*args))
    rows = [f"w = {_n(w)}: ({' + '.join(f'({_n(w)}·{_n(a)} - {_n(b)})²' for a, b in zip(x, y))}) / {len(x)} = {_n(m)}"
            for w, m in zip(ws, losses)]
    return "; ".join(rows)


MSE_SURFACE = Teaching(((_t(1.0), _t(2.0), _t(1.0)), (_t(1.0, 2.0), _t(1.0, 2.0), _t(0.0, 1.0)),
                        (_t(0.0, 1.0, 2.0), _t(1.0, 2.0, 2.0), _t(0.0, 1.0, 2.0))), _surface_by_hand)


def _curve_by_hand(args: tuple) -> str:
    p = _flat(args[0])
    zero, one = (_flat(c) for c in ref.bce_curve(*args))
    return ("y = 0: " + ", ".join(f"-{_log(1 - v)} = {_n(c)}" for v, c in zip(p, zero))
            + "; y = 1: " + ", ".join(f"-{_log(v)} = {_n(c)}" for v, c in zip(p, one)))


BCE_CURVE = Teaching(((_t(0.5),), (_t(0.2),), (_t(0.2, 0.5),), (_t(0.0, 1.0),), (_t(0.2, 0.5).double(),)),
                     _curve_by_hand)


def _outlier_by_hand(args: tuple) -> str:
    y_true, values = args
    mses, maes = (_flat(c) for c in ref.outlier_sweep(*args))
    rows = []
    for v, m, a in zip(_flat(values), mses, maes):
        pred = y_true.clone()
        pred[-1] = v
        errors = [p - t for p, t in zip(_flat(pred), _flat(y_true))]
        n = len(errors)
        rows.append(f"v = {_n(v)}: y_pred = {hand_written(pred)}, MSE = ({' + '.join(f'{_n(e)}²' for e in errors)})"
                    f" / {n} = {_n(m)}, MAE = ({' + '.join(_n(math.fabs(e)) for e in errors)}) / {n} = {_n(a)}")
    return "; ".join(rows)


OUTLIER_SWEEP = Teaching(((_t(1.0, 1.0), _t(3.0)), (_t(0.0, 1.0), _t(3.0)), (_t(0.0, 1.0), _t(0.0, 3.0)),
                          (_t(0.0, 1.0).double(), _t(3.0).double())), _outlier_by_hand)

TEACHING: dict[str, Teaching] = {"mse": _regression(square=True), "mae": _regression(square=False), "bce": BCE,
                                 "mse_surface": MSE_SURFACE, "bce_curve": BCE_CURVE, "outlier_sweep": OUTLIER_SWEEP}
