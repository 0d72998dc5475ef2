"""What the student functions should return, built on PyTorch's own losses.

Computed in float64 and cast back to the input dtype, so the only rounding a student's float32
answer is compared against is their own. Every reference is differentiable, so its autograd
gradient is the gradient reference too. Callers pass same-shaped inputs: ``F.mse_loss``
broadcasts (and warns) otherwise. ``Remembered``: the input cache keeps their outputs on the
inputs every submission is asked, so they are computed once per class, not per submission.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.judge.memo import Remembered


def _float64(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(torch.float64) for t in tensors]


@Remembered
def mse(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(*_float64(y_pred, y_true)).to(y_pred.dtype)


@Remembered
def mae(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(*_float64(y_pred, y_true)).to(y_pred.dtype)


@Remembered
def bce(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean BCE; PyTorch clamps each log term at -100, so p = 0 or 1 stays finite."""
    return F.binary_cross_entropy(*_float64(p, y)).to(p.dtype)


@Remembered
def mse_surface(x: torch.Tensor, y: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
    """MSE of the model ŷ = w·x against y, one value per w."""
    x64, y64, ws64 = _float64(x, y, ws)
    predictions = ws64[:, None] * x64[None, :]
    return F.mse_loss(predictions, y64.expand_as(predictions), reduction="none").mean(dim=1).to(x.dtype)


@Remembered
def bce_curve(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unreduced BCE of each p when the target is 0 and when it is 1."""
    (p64,) = _float64(p)
    losses = tuple(F.binary_cross_entropy(p64, torch.full_like(p64, target), reduction="none").to(p.dtype)
                   for target in (0.0, 1.0))
    return losses[0], losses[1]


def outlier_predictions(y_true: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """One row per value: y_true with its last element replaced by that value."""
    rows = y_true.to(torch.float64).repeat(values.numel(), 1)
    rows[:, -1] = values.to(torch.float64)
    return rows


@Remembered
def outlier_sweep(y_true: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(MSE, MAE) of each outlier prediction against y_true."""
    predictions = outlier_predictions(y_true, values)
    target = y_true.to(torch.float64).expand_as(predictions)
    return tuple(loss(predictions, target, reduction="none").mean(dim=1).to(y_true.dtype)
                 for loss in (F.mse_loss, F.l1_loss))
