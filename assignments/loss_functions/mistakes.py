"""The typical mistakes of the loss-functions assignment, and the probe inputs that tell them apart.

Each value mistake is the reference with one thing done wrong, computed in the input's dtype as
a student would. The probes are chosen so that every variant disagrees with the reference and
with every other variant somewhere (asymmetric values, 2-D shapes, soft labels, exact 0/1
probabilities); ``tests/test_diagnosis.py`` checks that they do. ``DIAGNOSERS`` maps each
student function to the ``diagnose`` hook for ``run_property``.
"""
from __future__ import annotations

from functools import partial

import torch

from autograder.judge.diagnosis import (Diagnoser, Mistake, autograd_broken, failed_with, inputs_modified,
                                        returned_python_number, returned_type)


def _t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# --- behaviour, shared by the three losses ----------------------------------------------------

def _stub(function: str) -> Mistake:
    """The released notebook's body is ``raise NotImplementedError()``: its bare error names it."""
    return Mistake(f"{function}.stub", function, "still the stub (raises NotImplementedError)",
                   f"`{function}` raises NotImplementedError, so it is still the stub from the notebook, or it "
                   "calls a function that still is (e.g. your mse). Replace the line `raise NotImplementedError()` "
                   "with your code.",
                   detect=failed_with("NotImplementedError"))


def _returned_numpy(function: str, result: str = "the torch.Tensor") -> Mistake:
    return Mistake(f"{function}.returned_numpy", function, "returned a NumPy value instead of a tensor",
                   "The result was converted with .numpy() or computed with np.* functions. Compute it with "
                   f"torch operations on the input tensors and return {result}.",
                   detect=returned_type("numpy"))


def _returns_list(function: str, fix: str) -> Mistake:
    return Mistake(f"{function}.returns_list", function, "returns a list instead of tensors",
                   f"Collecting the losses in a Python list is fine, but {fix}", detect=returned_type("builtins.list"))


def _wrong_log_base(function: str, form) -> Mistake:
    """log10 or log2 for the natural log, with or without the clamp; ``form(..., log=, floor=)``."""
    return Mistake(f"{function}.wrong_log_base", function, "wrong logarithm base (log10 or log2)",
                   "Cross-entropy uses the natural logarithm. Use torch.log, not torch.log10 or torch.log2.",
                   variant=partial(form, log=torch.log10),
                   alternatives=(partial(form, log=torch.log10, floor=None), partial(form, log=torch.log2),
                                 partial(form, log=torch.log2, floor=None)))


def _inputs_modified(function: str, fix: str) -> Mistake:
    return Mistake(f"{function}.inputs_modified", function, "the inputs are modified in place",
                   f"An in-place operation changed the caller's tensors. {fix}", detect=inputs_modified)


def _behaviour(function: str) -> tuple[Mistake, ...]:
    return (
        _stub(function),
        _returned_numpy(function),
        Mistake(f"{function}.returned_float", function, "returned a Python float instead of a tensor",
                "Calling .item() or float() on the loss turns it into a plain number, which has no gradient. "
                "Return the 0-d tensor itself (drop the .item()).",
                detect=returned_python_number),
        Mistake(f"{function}.autograd_broken", function, "autograd is broken (.item(), .numpy() or torch.tensor(...))",
                "Somewhere the computation left PyTorch (e.g. torch.tensor(x.item()) or a NumPy detour), so "
                "loss.backward() cannot reach the inputs. Keep every step a torch operation on the input tensors.",
                detect=autograd_broken, grad=True),
        _inputs_modified(function, "Avoid -=, **=, .clamp_(), .abs_() and x[...] = ... on the arguments; build "
                                   "new tensors instead, e.g. diff = y_pred - y_true."),
    )


# --- mse and mae --------------------------------------------------------------------------------

def _square(d: torch.Tensor) -> torch.Tensor:
    return d ** 2


def _reductions(function: str, error: str, elementwise) -> tuple[Mistake, ...]:
    """Reducing the elementwise errors wrongly; the same in MSE and MAE."""
    def errors(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return elementwise(y_pred - y_true)

    return (
        Mistake(f"{function}.sum_instead_of_mean", function, "sum instead of mean",
                f"The {error}s are added up instead of averaged, so the loss grows with the number of "
                "elements. Use .mean() instead of .sum().",
                variant=lambda a, b: errors(a, b).sum()),
        Mistake(f"{function}.mean_over_one_dim", function, "mean over one dimension only",
                f"The {error}s are averaged along one dimension (e.g. .mean(0) or .mean(dim=1)), which leaves a "
                "tensor instead of one number for 2-D inputs. Average over all elements with .mean() and no dim.",
                variant=lambda a, b: errors(a, b).mean(0),
                alternatives=(lambda a, b: errors(a, b).mean(-1), lambda a, b: errors(a, b).mean(1))),
        Mistake(f"{function}.divides_by_len", function, "divides by len() instead of the number of elements",
                "len(t) is the size of the first dimension only, so the result is wrong for 2-D inputs. "
                "Use .mean(), or divide by t.numel().",
                variant=lambda a, b: errors(a, b).sum() / len(a)),
        Mistake(f"{function}.divides_by_n_minus_1", function, "divides by n - 1 instead of n",
                f"The sum of the {error}s is divided by one less than the number of elements, as for a sample "
                "variance. A loss is a plain average: use .mean(), or divide by t.numel().",
                variant=lambda a, b: errors(a, b).sum() / (a.numel() - 1),
                alternatives=(lambda a, b: errors(a, b).sum() / (len(a) - 1),)),
    )


def _signed_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).mean()


MSE = (
    *_reductions("mse", "squared error", _square),
    Mistake("mse.rmse", "mse", "square root taken (RMSE)",
            "The result is the root of the mean squared error. MSE has no square root: return the mean itself.",
            variant=lambda a, b: ((a - b) ** 2).mean().sqrt()),
    Mistake("mse.missing_square", "mse", "missing square",
            "The errors are averaged without being squared, so positive and negative errors cancel. "
            "Square each error first: ((y_pred - y_true) ** 2).mean().",
            variant=_signed_mean, alternatives=(lambda a, b: (b - a).mean(), lambda a, b: (a - b).abs().mean())),
    Mistake("mse.squared_mean_error", "mse", "squared the mean error instead of averaging squared errors",
            "The errors are averaged first and the mean is squared, so opposite errors cancel. "
            "Square each error, then take the mean: ((y_pred - y_true) ** 2).mean().",
            variant=lambda a, b: (a - b).mean() ** 2),
    *_behaviour("mse"),
)

MAE = (
    *_reductions("mae", "absolute error", torch.abs),
    Mistake("mae.missing_abs", "mae", "missing absolute value (signed mean error)",
            "The errors are averaged with their signs, so over- and under-predictions cancel. "
            "Take the absolute value of each error first: (y_pred - y_true).abs().mean().",
            variant=_signed_mean, alternatives=(lambda a, b: (b - a).mean(),)),
    Mistake("mae.abs_of_mean", "mae", "absolute value of the mean instead of mean of absolute values",
            "abs() is applied after averaging, so opposite errors still cancel. Apply it to each error "
            "before the mean: (y_pred - y_true).abs().mean().",
            variant=lambda a, b: (a - b).mean().abs()),
    Mistake("mae.squared", "mae", "errors squared in MAE",
            "Squaring the errors computes the MSE. MAE uses the absolute value: (y_pred - y_true).abs().mean().",
            variant=lambda a, b: ((a - b) ** 2).mean()),
    *_behaviour("mae"),
)

REGRESSION_PROBES = (
    (_t([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]]), _t([[0.0, 2.5, 1.0], [1.0, 1.0, -2.0]])),
    (_t([[0.5, 3.0], [-2.0, 1.5], [4.0, 0.0]]), _t([[1.0, 1.0], [0.0, -0.5], [1.5, 2.0]])),
    (_t([2.0, 2.5, 3.5]), _t([1.5, 3.0, 4.0])),
)


# --- bce ----------------------------------------------------------------------------------------

def _bce_terms(p: torch.Tensor, y: torch.Tensor, log=torch.log, floor: float | None = -100.0):
    """The two log terms of BCE, each clamped at ``floor`` like PyTorch (or not, if None)."""
    positive, negative = log(p), log(1 - p)
    if floor is not None:
        positive, negative = positive.clamp(min=floor), negative.clamp(min=floor)
    return y * positive, (1 - y) * negative


def _bce_variant(p: torch.Tensor, y: torch.Tensor, *, log=torch.log, floor: float | None = -100.0,
                 sign: float = -1.0, terms: str = "both", reduce: str = "mean", dim: int | None = None) -> torch.Tensor:
    positive, negative = _bce_terms(p, y, log, floor)
    total = {"both": positive + negative, "positive": positive, "negative": negative}[terms]
    return sign * (getattr(total, reduce)() if dim is None else getattr(total, reduce)(dim))


def _with_and_without_clamp(**kwargs) -> dict:
    """A BCE mistake written with the -100 clamp and without it (the two usual spellings)."""
    return {"variant": partial(_bce_variant, **kwargs),
            "alternatives": (partial(_bce_variant, floor=None, **kwargs),)}


def _over_positives(p: torch.Tensor, y: torch.Tensor, *, floor: float | None = -100.0, masked: bool = True):
    """-log p averaged over the examples with y = 1: selected with y == 1, or weighted by y and divided by y.sum()."""
    log_p = torch.log(p) if floor is None else torch.log(p).clamp(min=floor)
    return -log_p[y == 1].mean() if masked else -(y * log_p).sum() / y.sum()


def _eps_clamped(p: torch.Tensor, y: torch.Tensor, *, eps: float, add: bool) -> torch.Tensor:
    if add:
        log_p, log_not_p = torch.log(p + eps), torch.log(1 - p + eps)
    else:
        log_p, log_not_p = torch.log(p.clamp(eps, 1 - eps)), torch.log(1 - p.clamp(eps, 1 - eps))
    return -(y * log_p + (1 - y) * log_not_p).mean()


_EPSILONS = (1e-7, 1e-8, 1e-6, 1e-5, 1e-9, 1e-10, 1e-12, 1e-15)
_EPS_FORMS = tuple(partial(_eps_clamped, eps=eps, add=add) for eps in _EPSILONS for add in (False, True))
_ONE_DIM_FORMS = tuple(partial(_bce_variant, dim=dim, floor=floor) for dim in (-1, 0, 1) for floor in (-100.0, None))

BCE = (
    Mistake("bce.missing_minus", "bce", "missing minus sign",
            "log p is negative for p < 1, so without the leading minus the loss comes out negative. "
            "Put a minus in front: -(y * log p + (1 - y) * log(1 - p)).mean().",
            **_with_and_without_clamp(sign=1.0)),
    Mistake("bce.only_positive_term", "bce", "only the y·log(p) term",
            "The (1 - y)·log(1 - p) term is missing, so examples with target 0 cost nothing. "
            "Add both terms: -(y * log p + (1 - y) * log(1 - p)).mean().",
            **_with_and_without_clamp(terms="positive")),
    Mistake("bce.only_negative_term", "bce", "only the (1 - y)·log(1 - p) term",
            "The y·log(p) term is missing, so examples with target 1 cost nothing. "
            "Add both terms: -(y * log p + (1 - y) * log(1 - p)).mean().",
            **_with_and_without_clamp(terms="negative")),
    _wrong_log_base("bce", _bce_variant),
    Mistake("bce.swapped_arguments", "bce", "p and y swapped",
            "The formula takes the log of the targets instead of the probabilities. The signature is bce(p, y): "
            "the logs apply to p, i.e. -(y * log p + (1 - y) * log(1 - p)).mean().",
            variant=lambda p, y: _bce_variant(y, p), alternatives=(lambda p, y: _bce_variant(y, p, floor=None),)),
    Mistake("bce.no_clamp", "bce", "log terms not clamped at -100",
            "log(0) is -inf, so p = 0 or p = 1 gives inf or nan. Like PyTorch, clamp each log term: "
            "torch.log(p).clamp(min=-100) and torch.log(1 - p).clamp(min=-100).",
            variant=partial(_bce_variant, floor=None)),
    Mistake("bce.eps_clamped_probabilities", "bce", "probabilities clamped with eps instead of clamping the logs",
            "p.clamp(eps, 1 - eps) or log(p + eps) keeps the loss finite but differs from PyTorch at p = 0 or 1 "
            "(e.g. 16.1 instead of 100). Clamp the log terms instead: torch.log(p).clamp(min=-100).",
            variant=_EPS_FORMS[0], alternatives=_EPS_FORMS[1:]),
    Mistake("bce.sum_instead_of_mean", "bce", "sum instead of mean",
            "The per-element losses are added up instead of averaged. Use .mean() instead of .sum().",
            **_with_and_without_clamp(reduce="sum")),
    Mistake("bce.mean_over_one_dim", "bce", "mean over one dimension only",
            "The per-element losses are averaged along one dimension (e.g. .mean(dim=-1), as Keras does), which "
            "leaves a tensor instead of one number for 2-D inputs. Average over all elements with .mean() and no dim.",
            variant=_ONE_DIM_FORMS[0], alternatives=_ONE_DIM_FORMS[1:]),
    Mistake("bce.mean_over_positives", "bce", "averaged over the examples with y = 1 only",
            "Only the examples whose target is 1 are counted (p[y == 1], or a division by y.sum()), so the "
            "examples with target 0 cost nothing. Average both terms over ALL elements: "
            "-(y * log p + (1 - y) * log(1 - p)).mean().",
            variant=_over_positives,
            alternatives=(partial(_over_positives, floor=None), partial(_over_positives, masked=False),
                          partial(_over_positives, floor=None, masked=False))),
    *_behaviour("bce"),
)

BCE_PROBES = (
    (_t([0.9, 0.2, 0.6, 0.35]), _t([1.0, 0.0, 1.0, 0.0])),
    (_t([0.0, 1.0, 0.0, 1.0, 0.3, 0.8]), _t([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])),
    (_t([0.25, 0.7, 0.9]), _t([0.6, 0.1, 0.5])),
    # float64: 1 - 1e-15 is 1.0 in float32, so only here does a tiny eps differ from no clamp at all
    (_t([0.0, 1.0, 0.4]).double(), _t([1.0, 0.0, 0.5]).double()),
    # 2-D and not square: a mean over either dimension alone has its own shape
    (_t([[0.9, 0.2, 0.6], [0.35, 0.7, 0.05]]), _t([[1.0, 0.0, 0.3], [0.0, 1.0, 1.0]])),
)


# --- the sweeps ---------------------------------------------------------------------------------

def _signed(d: torch.Tensor) -> torch.Tensor:
    """The error as it is, neither squared nor made absolute."""
    return d


def _surface(x: torch.Tensor, y: torch.Tensor, ws: torch.Tensor, *, combine=torch.mul, error=_square, dim=1,
             reduce="mean"):
    errors = error(combine(ws[:, None], x[None, :]) - y[None, :])
    return getattr(errors, reduce)() if dim is None else getattr(errors, reduce)(dim)


MSE_SURFACE = (
    Mistake("mse_surface.wrong_axis", "mse_surface", "mean over the wrong axis",
            "The squared errors are averaged over the weights (or over everything) instead of over the data "
            "points, so the result does not have one value per w. For each w average over x: the result has "
            "len(ws) values.",
            variant=partial(_surface, dim=0), alternatives=(partial(_surface, dim=None),)),
    Mistake("mse_surface.missing_mean", "mse_surface", "sums instead of means",
            "Each w gets the sum of its squared errors, not their mean. Divide by the number of data points, "
            "e.g. with .mean(dim=1), or call your mse.",
            variant=partial(_surface, reduce="sum")),
    Mistake("mse_surface.divides_by_n_minus_1", "mse_surface", "divides by n - 1 instead of n",
            "Each w's squared errors are summed and divided by len(x) - 1, as for a sample variance. MSE is a "
            "plain average: divide by len(x), e.g. with .mean(dim=1), or call your mse.",
            variant=lambda x, y, ws: _surface(x, y, ws, reduce="sum") / (x.numel() - 1)),
    Mistake("mse_surface.missing_square", "mse_surface", "missing square",
            "The errors w·x - y are averaged without being squared, so positive and negative errors cancel. "
            "Square each error first: ((w * x - y) ** 2).mean(), or call your mse.",
            variant=partial(_surface, error=_signed),
            alternatives=(partial(_surface, error=torch.neg), partial(_surface, error=torch.abs))),
    Mistake("mse_surface.squared_mean_error", "mse_surface",
            "squared the mean error instead of averaging squared errors",
            "For each w the errors w·x - y are averaged first and the mean is squared, so opposite errors "
            "cancel. Square each error, then take the mean: ((w * x - y) ** 2).mean().",
            variant=lambda x, y, ws: _surface(x, y, ws, error=_signed) ** 2),
    Mistake("mse_surface.w_plus_x", "mse_surface", "model w + x instead of w·x",
            "The prediction of the model is ŷ = w·x (a product), not w + x.",
            variant=partial(_surface, combine=torch.add)),
    _returns_list("mse_surface", "return torch.stack(losses), a 1-D tensor, not the list."),
    _returned_numpy("mse_surface"),
    _stub("mse_surface"),
)

SURFACE_PROBES = (
    (_t([0.0, 1.0, 2.0, 3.0]), _t([1.0, 2.0, 2.0, 4.0]), _t([0.0, 1.0, 2.0])),
    (_t([0.5, -1.0, 2.0]), _t([1.0, 0.0, -2.0]), _t([-1.0, 0.5, 1.5, 3.0, 4.0])),
)


def _curve(p: torch.Tensor, *, floor: float | None = -100.0, sign: float = -1.0, swap: bool = False, log=torch.log):
    if_zero, if_one = log(1 - p), log(p)
    if floor is not None:
        if_zero, if_one = if_zero.clamp(min=floor), if_one.clamp(min=floor)
    curves = (sign * if_zero, sign * if_one)
    return curves[::-1] if swap else curves


def _curve_means(p: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Each curve averaged to one number: what calling bce(p, zeros) and bce(p, ones) gives."""
    if_zero, if_one = _curve(p, **kwargs)
    return if_zero.mean(), if_one.mean()


def _curve_eps(p: torch.Tensor, *, eps: float, add: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if add:
        return -torch.log(1 - p + eps), -torch.log(p + eps)
    clamped = p.clamp(eps, 1 - eps)
    return -torch.log(1 - clamped), -torch.log(clamped)


_CURVE_EPS_FORMS = tuple(partial(_curve_eps, eps=eps, add=add) for eps in _EPSILONS for add in (False, True))


BCE_CURVE = (
    Mistake("bce_curve.swapped", "bce_curve", "the two curves swapped",
            "The first curve must be the loss when the target is 0, i.e. -log(1 - p), and the second the loss "
            "when the target is 1, i.e. -log(p). Return them in that order.",
            variant=partial(_curve, swap=True), alternatives=(partial(_curve, swap=True, floor=None),)),
    Mistake("bce_curve.missing_minus", "bce_curve", "missing minus sign",
            "log p is negative, so without the minus both curves come out below zero. Return -log(1 - p) "
            "and -log(p).",
            variant=partial(_curve, sign=1.0), alternatives=(partial(_curve, sign=1.0, floor=None),)),
    Mistake("bce_curve.no_clamp", "bce_curve", "log terms not clamped at -100",
            "At p = 0 or p = 1 one curve is -log(0) = inf. Clamp each log at -100 like PyTorch: "
            "-torch.log(p).clamp(min=-100).",
            variant=partial(_curve, floor=None)),
    Mistake("bce_curve.eps_clamped_probabilities", "bce_curve",
            "probabilities clamped with eps instead of clamping the logs",
            "p.clamp(eps, 1 - eps) or log(p + eps) keeps the curves finite but differs from PyTorch at p = 0 or 1 "
            "(e.g. 16.1 instead of 100). Clamp the logs instead: -torch.log(p).clamp(min=-100).",
            variant=_CURVE_EPS_FORMS[0], alternatives=_CURVE_EPS_FORMS[1:]),
    _wrong_log_base("bce_curve", _curve),
    Mistake("bce_curve.averaged", "bce_curve", "each curve averaged to a single number",
            "bce_curve returns one loss per probability (two tensors the shape of p), not the mean loss: "
            "calling bce(p, zeros) averages them away. Return -log(1 - p) and -log(p) without .mean().",
            variant=_curve_means, alternatives=(partial(_curve_means, floor=None),)),
    _returns_list("bce_curve", "return a tuple of two tensors: `return loss_if_y_is_0, loss_if_y_is_1`."),
    _returned_numpy("bce_curve", "the two tensors"),
    _stub("bce_curve"),
)

CURVE_PROBES = ((_t([0.1, 0.5, 0.8]),), (_t([0.0, 1.0, 0.3]),))


def _sweep(y_true: torch.Tensor, values: torch.Tensor, *, index: int = -1, add: bool = False, swap: bool = False,
           reduce: str = "mean", dim: int | None = 1):
    predictions = y_true.repeat(values.numel(), 1)
    predictions[:, index] = values + (y_true[index] if add else 0)
    errors = predictions - y_true
    losses = tuple(getattr(e, reduce)() if dim is None else getattr(e, reduce)(dim)
                   for e in (errors ** 2, errors.abs()))
    return losses[::-1] if swap else losses


OUTLIER_SWEEP = (
    Mistake("outlier_sweep.first_element", "outlier_sweep", "changes the first element instead of the last",
            "The outlier is the LAST element: the prediction equals y_true except that prediction[-1] = v.",
            variant=partial(_sweep, index=0)),
    Mistake("outlier_sweep.adds_value", "outlier_sweep", "adds v to the last element instead of replacing it",
            "v is the predicted value itself, not an error to add: set prediction[-1] = v (not y_true[-1] + v).",
            variant=partial(_sweep, add=True)),
    Mistake("outlier_sweep.swapped", "outlier_sweep", "returns (mae, mse) instead of (mse, mae)",
            "The MSE values come first and the MAE values second: return (mse_values, mae_values).",
            variant=partial(_sweep, swap=True)),
    Mistake("outlier_sweep.sum_instead_of_mean", "outlier_sweep", "sum instead of mean (only the outlier's error)",
            "Each loss is the sum of the errors, which here is just the outlier's own error, since the other "
            "predictions are exact. Average over all len(y_true) elements: use .mean(), or call your mse and mae.",
            variant=partial(_sweep, reduce="sum")),
    Mistake("outlier_sweep.wrong_axis", "outlier_sweep", "mean over the wrong axis",
            "The errors are averaged over the values (or over everything) instead of over the elements of each "
            "prediction, so there is not one loss per v. For each v average over y_true's elements, e.g. "
            ".mean(dim=1) on a (len(values), len(y_true)) tensor.",
            variant=partial(_sweep, dim=0), alternatives=(partial(_sweep, dim=None),)),
    _inputs_modified("outlier_sweep", "`pred = y_true` does not copy: setting pred[-1] changes y_true too (and "
                                      "every loss becomes 0). Copy first: pred = y_true.clone()."),
    _returns_list("outlier_sweep", "return a tuple of two 1-D tensors: "
                                   "`return torch.stack(mse_values), torch.stack(mae_values)`."),
    _returned_numpy("outlier_sweep", "the two tensors"),
    _stub("outlier_sweep"),
)

SWEEP_PROBES = (
    (_t([1.0, 1.0, 1.0, 10.0]), _t([0.0, 10.0, 20.0])),
    (_t([2.0, -1.0, 0.5, 4.0, 3.0]), _t([-2.0, 0.0, 7.0])),
)


CATALOGUE: tuple[Mistake, ...] = (*MSE, *MAE, *BCE, *MSE_SURFACE, *BCE_CURVE, *OUTLIER_SWEEP)

DIAGNOSERS: dict[str, Diagnoser] = {
    "mse": Diagnoser(MSE, REGRESSION_PROBES),
    "mae": Diagnoser(MAE, REGRESSION_PROBES),
    "bce": Diagnoser(BCE, BCE_PROBES),
    "mse_surface": Diagnoser(MSE_SURFACE, SURFACE_PROBES),
    "bce_curve": Diagnoser(BCE_CURVE, CURVE_PROBES),
    "outlier_sweep": Diagnoser(OUTLIER_SWEEP, SWEEP_PROBES),
}
