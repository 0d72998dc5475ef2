"""Comparison helpers the properties are written with; each failure is a readable ``Mismatch``.

Tolerances scale with the magnitude of what is compared, because students' data range from
1e-6 to 1e4: an absolute 1e-5 would accept anything at 1e-6 and reject rounding at 1e4. The
reference is computed in float64 and cast, so only the student's own rounding is tolerated.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from autograder.judge.memo import Remembered, recall
from autograder.sandbox.base import Reply

# dtype -> (rtol, atol as a fraction of the compared values' magnitude)
TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-9, 1e-10)}
NO_AUTOGRAD_HINT = ("keep every step a torch operation on the input tensors: no .item(), float(), .numpy() "
                    "or torch.tensor(...) of intermediate values, which cut the autograd graph")


RESULT, GRADIENT, INPUT = "result", "gradient", "input"  # what a Mismatch's expected and got are


class Mismatch(Exception):
    """A student function disagreed with the rule; ``expected``/``got`` are already rendered.

    ``quantity`` says what they show: the function's ``RESULT``, the ``GRADIENT`` of the result
    with respect to argument number ``argument``, or that ``INPUT`` as it was after the call; a
    teaching example works out by hand the quantity its check compares, never another.
    """

    def __init__(self, message: str, expected: str = "", got: str = "", reply: Reply | None = None,
                 quantity: str = RESULT, argument: int = 0, advice: str = ""):
        super().__init__(message)
        self.message, self.expected, self.got, self.reply = message, expected, got, reply
        self.quantity, self.argument = quantity, argument
        self.advice = advice  # a general fix, said only where no known mistake is named (``failed_check``)
        self.inputs: tuple = ()  # the drawn arguments, filled in by run_property


def show(value: Any) -> str:
    """A short repr with the dtype spelled out, so float32 vs float64 mix-ups are visible."""
    if isinstance(value, torch.Tensor):
        array = value.detach().numpy()
        digits = 10 if value.dtype == torch.float64 else 6
        body = np.array2string(array, separator=", ", threshold=24, edgeitems=3, max_line_width=100,
                               formatter={"float_kind": lambda v: f"{v:.{digits}g}"})
        return f"tensor({body}, dtype={str(value.dtype).removeprefix('torch.')})"
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return f"{value!r} (a Python float)"
    return "nothing" if value is None else repr(value)


def call(subject: Any, args: Sequence[torch.Tensor], *, grad: bool = False) -> Reply:
    """Call the student's function; an exception it raised (or a sandbox fault) is a mismatch."""
    reply = subject(*args, grad=grad)
    if reply.error is not None:
        raise Mismatch(f"`{subject.name}` did not return a result: {reply.error}",
                       expected="a result", got=f"error: {reply.error}", reply=reply)
    return reply


def as_tensor(value: Any, reply: Reply, *, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    fix = " (drop the .item() / float(...))" if isinstance(value, float) else ""
    raise Mismatch(f"{what} must be a torch.Tensor, but it is {show(value)}{fix}",
                   expected="a torch.Tensor", got=show(value), reply=reply)


def expect_shape(got: torch.Tensor, shape: tuple[int, ...], reply: Reply, *, what: str, fix: str = "") -> None:
    if tuple(got.shape) != tuple(shape):
        raise Mismatch(f"{what} has shape {tuple(got.shape)}, expected {tuple(shape)}{fix}",
                       expected=f"shape {tuple(shape)}", got=f"shape {tuple(got.shape)}", reply=reply)


def expect_dtype(got: torch.Tensor, dtype: torch.dtype, reply: Reply, *, what: str) -> None:
    if got.dtype != dtype:
        raise Mismatch(f"{what} is {got.dtype} but the inputs are {dtype}: compute with the input tensors "
                       "instead of creating new ones with a fixed dtype",
                       expected=str(dtype), got=str(got.dtype), reply=reply)


def close_mask(got: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype,
               scale: float | None = None) -> np.ndarray:
    """Elementwise ``|got - expected| <= atol + rtol * |expected|``; NaN is never close. In NumPy
    (the same float64 arithmetic as torch's): called for every input of every check, where torch's
    per-operation overhead on a handful of numbers was most of the cost."""
    rtol, atol_fraction = TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    mine, want = got.detach().double().numpy(), expected.detach().double().numpy()
    with np.errstate(all="ignore"):  # inf - inf and NaN compare as not close, without a warning
        if scale is None:
            scale = float(np.abs(want).max()) if want.size else 0.0
        atol = atol_fraction * scale + torch.finfo(dtype).tiny
        return np.asarray(np.abs(mine - want) <= atol + rtol * np.abs(want))


def agrees(got: object, expected: torch.Tensor, scale: float | None = None) -> bool:
    """Whether ``got`` passes ``expect_close`` against ``expected``: a tensor of as many elements,
    no NaN, close at the looser of the two dtypes."""
    if not isinstance(got, torch.Tensor) or got.numel() != expected.numel():
        return False
    got_flat = got.reshape(expected.shape)
    dtype = torch.float64 if got.dtype == expected.dtype == torch.float64 else torch.float32
    return not bool(torch.isnan(got_flat).any()) and bool(close_mask(got_flat, expected, dtype, scale).all())


def expect_close(got: torch.Tensor, expected: torch.Tensor, reply: Reply, *, what: str, rule: str,
                 scale: float | None = None) -> None:
    """Values must agree (shape is checked elsewhere, so a (1,)-shaped scalar still earns this)."""
    if got.numel() != expected.numel():
        raise Mismatch(f"{what} has {got.numel()} element(s), expected {expected.numel()} ({rule})",
                       expected=show(expected), got=show(got), reply=reply)
    got_flat = got.reshape(expected.shape)
    if torch.isnan(got_flat).any():
        raise Mismatch(f"{what} contains NaN, expected {rule}; NaN usually comes from log(0), 0 * inf or "
                       "sqrt of a negative number", expected=show(expected), got=show(got), reply=reply)
    dtype = torch.float64 if got.dtype == expected.dtype == torch.float64 else torch.float32  # the looser one
    if not bool(close_mask(got_flat, expected, dtype, scale).all()):
        raise Mismatch(f"{what} is wrong: expected {rule}", expected=show(expected), got=show(got), reply=reply)


def reference_grads(reference: Callable[..., torch.Tensor], args: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Gradients of ``reference(*args).sum()`` by autograd, in float64, cast to each input's dtype
    (remembered with the reference's outputs when the reference is ``Remembered``)."""
    def compute() -> tuple[torch.Tensor, ...]:
        leaves = [a.detach().double().requires_grad_(True) for a in args]
        grads = torch.autograd.grad(reference(*leaves).sum(), leaves, allow_unused=True)
        return tuple(torch.zeros_like(a) if g is None else g.to(a.dtype) for g, a in zip(grads, args))

    if isinstance(reference, Remembered):
        return recall(f"{reference.name}.grads", args, compute)
    return compute()


def expect_grads(reply: Reply, expected: Sequence[torch.Tensor], arg_names: Sequence[str], *, name: str,
                 where: Sequence[torch.Tensor] | None = None, result_right: bool = True) -> None:
    """The server's autograd gradients must match the reference's where ``where`` holds and both are finite.

    ``result_right``: whether the result itself was right on these inputs. The advice (said only
    where no known mistake is named) follows: a wrong result's gradient is wrong with its formula;
    a right result's may be a formula right only here, or a computation that left autograd.
    """
    if reply.grads is None:
        raise Mismatch(f"the result of `{name}` does not carry gradients back to its inputs: {NO_AUTOGRAD_HINT}",
                       expected="a result with requires_grad=True", got="no gradient", reply=reply,
                       quantity=GRADIENT)
    for index, (arg, want) in enumerate(zip(arg_names, expected)):
        got = reply.grads[index] if index < len(reply.grads) else None
        got = torch.zeros_like(want) if got is None else got
        mask = torch.isfinite(want) if where is None else torch.isfinite(want) & where[index]
        ok = close_mask(got, want, want.dtype, float(want[mask].abs().max()) if mask.any() else 0.0)
        if not bool(ok[mask.numpy()].all()):
            advice = ("autograd differentiates the formula you wrote: if it is the loss's (a formula can be "
                      f"right here and wrong elsewhere), the computation left autograd somewhere: {NO_AUTOGRAD_HINT}"
                      if result_right else "the result is wrong too, and autograd differentiates the formula you "
                      "wrote: once the result is right, its gradient is too")
            raise Mismatch(f"the gradient of `{name}` with respect to `{arg}` is wrong (autograd of your result "
                           "differs from the true loss's)", expected=f"d/d{arg} = {show(want)}",
                           got=f"d/d{arg} = {show(got)}", reply=reply, quantity=GRADIENT, argument=index, advice=advice)


def expect_inputs_unchanged(reply: Reply, args: Sequence[torch.Tensor], arg_names: Sequence[str], *, name: str) -> None:
    for index, (arg, sent, after) in enumerate(zip(arg_names, args, reply.inputs_after)):
        if after.dtype != sent.dtype or after.shape != sent.shape or not torch.equal(after, sent):
            raise Mismatch(f"`{name}` changed its input `{arg}` in place: work on a new tensor (e.g. "
                           f"`{arg} - other` or `{arg}.clone()`) instead of `-=`, `[...] =` or `_` methods",
                           expected=f"{arg} = {show(sent)}", got=f"{arg} = {show(after)}", reply=reply,
                           quantity=INPUT, argument=index)
