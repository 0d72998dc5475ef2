"""The hidden properties of each student function, in the words a student reads in feedback.

Every check is handed the function under test (a ``Subject``) and plain tensors; nothing here
imports or sees student code. The three losses share one set of rules (value, 0-d of the
inputs' dtype, gradient, inputs untouched); BCE adds the probabilities exactly 0 and 1.
"""
from __future__ import annotations

from typing import Callable

import torch
from hypothesis import strategies as st

from assignments.loss_functions import references as ref
from autograder.judge import strategies as ts
from autograder.judge.checks import (Mismatch, agrees, as_tensor, show, call, expect_close, expect_dtype,
                                     expect_grads, expect_inputs_unchanged, expect_shape, reference_grads)
from autograder.judge.properties import Property
from autograder.judge.subject import Subject

Check = Callable[[Subject, tuple], None]
SWEEP_MAGNITUDES = (1e-3, 1.0, 1e2)


def value_check(reference: Callable, rule: str, scale: Callable[[tuple], float] | None = None) -> Check:
    def check(subject: Subject, args: tuple) -> None:
        reply = call(subject, args)
        got = as_tensor(reply.value, reply, what=f"the result of `{subject.name}`")
        expect_close(got, reference(*args), reply, what=f"the result of `{subject.name}`", rule=rule,
                     scale=scale(args) if scale else None)
    return check


def scalar_check(subject: Subject, args: tuple) -> None:
    reply = call(subject, args)
    got = as_tensor(reply.value, reply, what=f"the result of `{subject.name}`")
    expect_shape(got, (), reply, what=f"the result of `{subject.name}`",
                 fix=": average over all elements with .mean() (no dim=, no keepdim) to get a 0-d tensor")
    expect_dtype(got, args[0].dtype, reply, what=f"the result of `{subject.name}`")


def only_if_correct(value: Check, rule: Check) -> Check:
    """A structural rule (shape, dtype, inputs untouched) earns credit only beside a right value
    on the same input: otherwise ``return torch.tensor(0.)`` would collect it for doing nothing."""
    def check(subject: Subject, args: tuple) -> None:
        try:
            value(subject, args)
        except Mismatch as failure:
            raise Mismatch("This rule counts only where the result is right, and here it is not: "
                           + failure.message, failure.expected, failure.got, failure.reply) from None
        rule(subject, args)
    return check


def unchanged_check(arg_names: tuple[str, ...]) -> Check:
    def check(subject: Subject, args: tuple) -> None:
        expect_inputs_unchanged(call(subject, args), args, arg_names, name=subject.name)
    return check


def gradient_check(reference: Callable, arg_names: tuple[str, ...],
                   where: Callable[[tuple], tuple[torch.Tensor, ...]] | None = None,
                   scale: Callable[[tuple], float] | None = None) -> Check:
    """Autograd's gradients of the result match the reference's; the message says whether the
    result was right too (``scale`` as for its value check), since the advice differs."""
    def check(subject: Subject, args: tuple) -> None:
        reply = call(subject, args, grad=True)
        got = as_tensor(reply.value, reply, what=f"the result of `{subject.name}`")
        expect_grads(reply, reference_grads(reference, args), arg_names, name=subject.name,
                     where=where(args) if where else None, result_right=agrees(got, reference(*args), scale(args) if scale else None))
    return check


def _log_scale(args: tuple) -> float:
    """A float32 ``1 - p`` is off by up to eps before the log, so BCE errors are absolute, O(eps)."""
    return 1.0


def _where_errors_nonzero(args: tuple) -> tuple[torch.Tensor, ...]:
    """|d| has no single slope at d = 0, so any subgradient there is right."""
    differs = args[0] != args[1]
    return differs, differs


def loss_properties(name: str, reference: Callable, rule: str, arg_names: tuple[str, ...], *,
                    values: st.SearchStrategy, grad_values: st.SearchStrategy,
                    grad_where: Callable | None = None, scale: Callable | None = None) -> list[Property]:
    """The rules every reduced loss obeys, for one function."""
    a, b = (f"`{n}`" for n in arg_names)
    right = value_check(reference, rule, scale)
    return [
        Property(f"`{name}` returns {rule} for any shape (0-d to 4-d), float32 or float64, values from "
                 "1e-6 to 1e4", name, values, arg_names, right, weight=3),
        Property(f"`{name}` returns a 0-d tensor of the inputs' dtype", name, values, arg_names,
                 only_if_correct(right, scalar_check)),
        Property(f"autograd gradients of `{name}` with respect to {a} and {b} match the true loss's",
                 name, grad_values, arg_names, gradient_check(reference, arg_names, grad_where, scale)),
        Property(f"`{name}` leaves {a} and {b} unchanged", name, values, arg_names,
                 only_if_correct(right, unchanged_check(arg_names))),
    ]


MSE = loss_properties("mse", ref.mse, "the mean of the squared errors", ("y_pred", "y_true"),
                      values=ts.pairs_like(), grad_values=ts.pairs_like())
MAE = loss_properties("mae", ref.mae, "the mean of the absolute errors", ("y_pred", "y_true"),
                      values=ts.pairs_like(), grad_values=ts.pairs_like(), grad_where=_where_errors_nonzero)
BCE = loss_properties("bce", ref.bce, "the mean binary cross-entropy, like F.binary_cross_entropy", ("p", "y"),
                      values=ts.probability_pairs(), grad_values=ts.probability_pairs(include_edges=False, margin=1e-3), scale=_log_scale)
BCE.insert(1, Property(
    "`bce` is finite and right at probabilities exactly 0 and 1 (each log term clamped at -100, like PyTorch)",
    "bce", ts.probability_pairs(edges_only=True), ("p", "y"),
    value_check(ref.bce, "each log term clamped at -100, as F.binary_cross_entropy does", _log_scale), weight=2))


def _as_tuple(value: object) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _outputs(subject: Subject, args: tuple, labels: tuple[str, ...]) -> tuple:
    """The reply and its tensors, after checking the result is shaped like ``labels`` says."""
    reply = call(subject, args)
    value = reply.value if len(labels) > 1 else (reply.value,)
    if not isinstance(value, tuple) or len(value) != len(labels):
        wanted = f"a tuple ({', '.join(labels)})"
        raise Mismatch(f"`{subject.name}` must return {wanted}, but returned {show(reply.value)}",
                       expected=wanted, got=show(reply.value), reply=reply)
    return reply, tuple(as_tensor(v, reply, what=label) for v, label in zip(value, labels))


def sweep_shape_check(reference: Callable, labels: tuple[str, ...], fix: str) -> Check:
    def check(subject: Subject, args: tuple) -> None:
        reply, got = _outputs(subject, args, labels)
        for label, tensor, want in zip(labels, got, _as_tuple(reference(*args))):
            expect_shape(tensor, tuple(want.shape), reply, what=label, fix=fix)
    return check


def sweep_value_check(reference: Callable, labels: tuple[str, ...], indices: tuple[int, ...], rule: str,
                      scale: Callable[[tuple], float] | None = None) -> Check:
    """The outputs at ``indices`` equal the reference's, elementwise."""
    def check(subject: Subject, args: tuple) -> None:
        reply, got = _outputs(subject, args, labels)
        want = _as_tuple(reference(*args))
        for index in indices:
            expect_close(got[index], want[index], reply, what=labels[index], rule=rule,
                         scale=scale(args) if scale else None)
    return check


def _vectors(*lengths: int, magnitudes: tuple[float, ...] = SWEEP_MAGNITUDES) -> st.SearchStrategy[tuple]:
    """Same-dtype 1-D tensors; equal ``lengths`` labels share a length (x and y of one data set)."""
    spec = st.tuples(ts.dtypes(), st.sampled_from(magnitudes), st.lists(st.integers(1, 8), min_size=max(lengths) + 1,
                                                                         max_size=max(lengths) + 1))
    return spec.flatmap(lambda s: st.tuples(*(ts.float_tensors((s[2][k],), s[0], s[1]) for k in lengths)))


def _surface_scale(args: tuple) -> float:
    """w·x is rounded before y is subtracted, so the tolerance follows the size of w·x and y."""
    x, y, ws = args
    return float(ws.abs().max() * x.abs().max() + y.abs().max()) ** 2


_SURFACE = ("the result of `mse_surface`",)
_CURVE = ("loss_if_y_is_0", "loss_if_y_is_1")
_OUTLIER = ("mse_values", "mae_values")
_SURFACE_ARGS = _vectors(0, 0, 1)
_CURVE_SPEC = st.tuples(ts.shapes(min_dims=1, max_dims=1, max_side=8), ts.dtypes())
_CURVE_ARGS = _CURVE_SPEC.flatmap(lambda s: st.tuples(ts.probabilities(*s, include_edges=False, margin=1e-6)))
_CURVE_EDGES = _CURVE_SPEC.flatmap(lambda s: st.tuples(ts.edge_probabilities(*s)))
_OUTLIER_ARGS = _vectors(0, 1)

_SURFACE_RIGHT = sweep_value_check(ref.mse_surface, _SURFACE, (0,), "mse(w * x, y) for each w in ws", _surface_scale)
_CURVE_RIGHT = sweep_value_check(ref.bce_curve, _CURVE, (0, 1), "-log(1 - p) and -log(p) for every p", _log_scale)
_OUTLIER_RIGHT = sweep_value_check(ref.outlier_sweep, _OUTLIER, (0, 1), "the MSE and MAE with y_pred[-1] = v")

MSE_SURFACE = [
    Property("`mse_surface` returns one loss per weight: a 1-D tensor of length len(ws)", "mse_surface",
             _SURFACE_ARGS, ("x", "y", "ws"), only_if_correct(_SURFACE_RIGHT, sweep_shape_check(
                 ref.mse_surface, _SURFACE, ": one MSE per w in ws"))),
    Property("each element of `mse_surface` is the MSE of the model w·x against y, for its w", "mse_surface",
             _SURFACE_ARGS, ("x", "y", "ws"),
             _SURFACE_RIGHT, weight=3),
    Property("`mse_surface` leaves x, y and ws unchanged", "mse_surface", _SURFACE_ARGS, ("x", "y", "ws"),
             only_if_correct(_SURFACE_RIGHT, unchanged_check(("x", "y", "ws")))),
]
BCE_CURVE = [
    Property("`bce_curve` returns a tuple of two tensors, each the shape of p", "bce_curve", _CURVE_ARGS, ("p",),
             only_if_correct(_CURVE_RIGHT, sweep_shape_check(ref.bce_curve, _CURVE,
                                                             ": one unreduced loss per probability, no mean"))),
    Property("the first curve of `bce_curve` is -log(1 - p), the loss when y = 0", "bce_curve",
             _CURVE_ARGS, ("p",), sweep_value_check(ref.bce_curve, _CURVE, (0,), "-log(1 - p) for every p", _log_scale), weight=1.5),
    Property("the second curve of `bce_curve` is -log(p), the loss when y = 1", "bce_curve", _CURVE_ARGS, ("p",),
             sweep_value_check(ref.bce_curve, _CURVE, (1,), "-log(p) for every p", _log_scale), weight=1.5),
    Property("`bce_curve` gives 100, not inf, at p exactly 0 and 1 (logs clamped at -100 like `bce`)", "bce_curve",
             _CURVE_EDGES, ("p",), sweep_value_check(ref.bce_curve, _CURVE, (0, 1), "the clamped loss (0 or 100)", _log_scale)),
]
OUTLIER_SWEEP = [
    Property("`outlier_sweep` returns (mse_values, mae_values), each a 1-D tensor of length len(values)",
             "outlier_sweep", _OUTLIER_ARGS, ("y_true", "values"),
             only_if_correct(_OUTLIER_RIGHT, sweep_shape_check(ref.outlier_sweep, _OUTLIER, ": one loss per value"))),
    Property("mse_values[i] is the MSE when the last prediction is values[i] and the rest equal y_true",
             "outlier_sweep", _OUTLIER_ARGS, ("y_true", "values"),
             sweep_value_check(ref.outlier_sweep, _OUTLIER, (0,), "mse(y_pred, y_true) with y_pred[-1] = v"), weight=2),
    Property("mae_values[i] is the MAE when the last prediction is values[i] and the rest equal y_true",
             "outlier_sweep", _OUTLIER_ARGS, ("y_true", "values"),
             sweep_value_check(ref.outlier_sweep, _OUTLIER, (1,), "mae(y_pred, y_true) with y_pred[-1] = v"), weight=2),
    Property("`outlier_sweep` leaves y_true and values unchanged (copy y_true before setting the outlier)",
             "outlier_sweep", _OUTLIER_ARGS, ("y_true", "values"),
             only_if_correct(_OUTLIER_RIGHT, unchanged_check(("y_true", "values")))),
]
