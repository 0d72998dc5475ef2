"""A ``Part`` grades one grade cell of the notebook and returns its ``PartResult``.

``FunctionPart`` runs hidden properties (partial credit by weight; from the class's cached
inputs when the function source has them, see ``batched``) and, for each failed one, looks for
the simplest hand-written ``Teaching`` input that fails it too, ``ExamplePart`` re-checks
the public lesson numbers itself (all or nothing, like the visible asserts), ``PlotPart`` reads
a named figure's data and labels. ``grade_id`` is an optional keyword: a caller that knows the
cell passes it, or fills it in later with ``dataclasses.replace`` (results are frozen).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Protocol

import numpy as np
import torch

from autograder.judge.batched import judge_property
from autograder.judge.checks import GRADIENT, RESULT, Mismatch
from autograder.judge.pictures import comparison_png
from autograder.judge.properties import Diagnose, Property
from autograder.judge.results import CheckResult, Counterexample, PartResult
from autograder.judge.subject import FunctionSource, Subject
from autograder.sandbox.base import Axes, Line


class Part(Protocol):
    title: str

    @property
    def functions(self) -> tuple[str, ...]: ...

    def grade(self, functions: FunctionSource, *, max_score: float, max_examples: int,
              grade_id: str = "") -> PartResult: ...


def weighted_score(checks: tuple[CheckResult, ...], max_score: float) -> float:
    total = sum(c.weight for c in checks)
    passed = sum(c.weight for c in checks if c.passed)
    return round(max_score * passed / total, 6) if total else 0.0


_FLOAT32 = re.compile(r"tensor\(([^()]*), dtype=float32\)")


def hand_written(value: torch.Tensor) -> str:
    """``[1., 0.5]`` as a person writes it; a dtype other than the teaching inputs' float32 is named."""
    def number(v: float) -> str:
        return f"{int(v)}." if float(v).is_integer() else f"{v:g}"

    def nested(v: object) -> str:
        return "[" + ", ".join(nested(x) for x in v) + "]" if isinstance(v, list) else number(v)

    text = nested(value.tolist())
    return text if value.dtype == torch.float32 else f"{text} ({str(value.dtype).removeprefix('torch.')})"


@dataclass(frozen=True)
class Teaching:
    """Hand-written inputs of one function, simplest first, and the reference's arithmetic on one
    of them: a failure shown on ``[1., 2.]`` can be checked with pencil and paper in seconds."""

    inputs: tuple[tuple[torch.Tensor, ...], ...]
    by_hand: Callable[[tuple], str]  # the result's arithmetic, one line: "((1 - 0)² + (2 - 0)²) / 2 = 2.5"
    # the gradient's with respect to argument i, one line: "[2·(1 - 0), 2·(2 - 0)] / 2 = [1, 2]"
    gradient_by_hand: Callable[[tuple, int], str] | None = None

    def arithmetic(self, failure: Mismatch, args: tuple, arg_names: tuple[str, ...]) -> str:
        """The arithmetic of the quantity ``failure`` compares: the result, a gradient, or none
        for an input changed in place (what it should be is the input as it was sent)."""
        if failure.quantity == GRADIENT:
            if self.gradient_by_hand is None:
                return ""
            return f"d/d{arg_names[failure.argument]} = {self.gradient_by_hand(args, failure.argument)}"
        return self.by_hand(args) if failure.quantity == RESULT else ""

    def example(self, prop: Property, subject: Subject) -> Counterexample | None:
        """The first input on which ``prop`` fails, judged by its own check (the call goes to the
        sandbox, the reference is computed here); None when none does or time ran out."""
        for args in self.inputs:
            if subject.out_of_time:
                return None
            try:
                prop.check(subject, args)
            except Mismatch as failure:
                if subject.out_of_time:
                    return None
                shown = tuple((name, hand_written(arg)) for name, arg in zip(prop.arg_names, args))
                return Counterexample(shown, _FLOAT32.sub(r"\1", failure.expected),
                                      _FLOAT32.sub(r"\1", failure.got), self.arithmetic(failure, args, prop.arg_names))
        return None


@dataclass(frozen=True)
class FunctionPart:
    """Hidden properties of student functions; each passed property earns its weight's share."""

    title: str
    checks: tuple[Property, ...]
    diagnose: Diagnose | None = None
    picture: "SweepPicture | None" = None  # for a sweep: its curve vs the reference when wrong
    teaching: Teaching | None = None  # the part's function's teaching inputs
    all_or_nothing: ClassVar[bool] = False

    @property
    def functions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.function for p in self.checks))

    def grade(self, functions: FunctionSource, *, max_score: float, max_examples: int,
              grade_id: str = "") -> PartResult:
        results = tuple(judge_property(p, functions.subject(p.function), max_examples=max_examples,
                                       diagnose=self.diagnose, inputs=functions.inputs) for p in self.checks)
        if self.teaching is not None:
            results = tuple(self._teach(p, r, functions) for p, r in zip(self.checks, results))
        failed = next((i for i, r in enumerate(results) if not r.passed), None)
        if self.picture is not None and failed is not None:
            image = self.picture.draw(functions)
            results = tuple(dataclasses.replace(r, image_png=image) if i == failed else r
                            for i, r in enumerate(results))
        faults = (functions.subject(name).fault for name in self.functions)
        return PartResult(grade_id=grade_id, title=self.title, functions=self.functions, max_score=max_score,
                          score=self.score(results, max_score), checks=results,
                          error=next((f for f in faults if f), None), all_or_nothing=self.all_or_nothing)

    def _teach(self, prop: Property, result: CheckResult, functions: FunctionSource) -> CheckResult:
        """A failure found by the search gets the simplest teaching input that fails too."""
        if result.passed or result.counterexample is None:
            return result
        return dataclasses.replace(result, example=self.teaching.example(prop, functions.subject(prop.function)))

    def score(self, results: tuple[CheckResult, ...], max_score: float) -> float:
        return weighted_score(results, max_score)


@dataclass(frozen=True)
class ExamplePart(FunctionPart):
    """The lesson's worked numbers: every one must hold, as in the public assert cell."""

    all_or_nothing: ClassVar[bool] = True

    def score(self, results: tuple[CheckResult, ...], max_score: float) -> float:
        return max_score if results and all(r.passed for r in results) else 0.0


@dataclass(frozen=True)
class Curve:
    """One curve the plot must show: the sweep's inputs and the reference losses."""

    label: str
    x: np.ndarray
    y: np.ndarray

    def drawn_by(self, line: Line) -> bool:
        if line.x.shape != self.x.shape or line.y.shape != self.y.shape:
            return False
        y_scale = float(np.abs(self.y).max()) if self.y.size else 0.0
        return bool(np.allclose(line.x, self.x, rtol=1e-4, atol=1e-6)
                    and np.allclose(line.y, self.y, rtol=1e-3, atol=1e-3 * y_scale))


@dataclass(frozen=True)
class PlotPart:
    """A named matplotlib figure, graded by its data and labels, never by its pixels."""

    title: str
    figure: str
    curves: tuple[Curve, ...]
    plots: str = ""  # the student function whose curve the figure shows (for tags and reports)
    curve_weight: float = 2.0
    label_weight: float = 0.5

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.plots, self.figure) if self.plots else (self.figure,)

    def grade(self, functions: FunctionSource, *, max_score: float, max_examples: int,
              grade_id: str = "") -> PartResult:
        figure, error = functions.figure(self.figure)
        axes = figure.axes if figure is not None else ()
        if not axes:
            reason = error or f"`{self.figure}` has no axes: draw into it with `ax = {self.figure}.add_subplot()`"
            return PartResult(grade_id=grade_id, title=self.title, functions=self.functions, max_score=max_score,
                              score=0.0, error=reason)
        found = [self._find(curve, axes) for curve in self.curves]
        main = next((ax for ax in found if ax is not None), next((ax for ax in axes if ax.lines), axes[0]))
        checks = tuple(self._curve_check(curve, ax, main) for curve, ax in zip(self.curves, found))
        checks += self._label_checks(main)
        return PartResult(grade_id=grade_id, title=self.title, functions=self.functions, max_score=max_score,
                          score=weighted_score(checks, max_score), checks=checks)

    @staticmethod
    def _find(curve: Curve, axes: tuple[Axes, ...]) -> Axes | None:
        return next((ax for ax in axes if any(curve.drawn_by(line) for line in ax.lines)), None)

    def _curve_check(self, curve: Curve, found: Axes | None, main: Axes) -> CheckResult:
        name = f"`{self.figure}` shows the {curve.label} curve"
        if found is not None:
            return CheckResult(name=name, passed=True, weight=self.curve_weight)
        message = (f"no line in `{self.figure}` has x = the {len(curve.x)} swept inputs and y = the {curve.label} "
                   "losses: plot the values your function returns against the inputs you swept")
        return CheckResult(name=name, passed=False, weight=self.curve_weight, message=message,
                           image_png=comparison_png((curve,), main.lines) if main.lines else None)

    def _label_checks(self, ax: Axes) -> tuple[CheckResult, ...]:
        wanted = [("the x axis is labelled", ax.xlabel, "ax.set_xlabel(...)"),
                  ("the y axis is labelled", ax.ylabel, "ax.set_ylabel(...)"),
                  ("the plot has a title", ax.title, "ax.set_title(...)")]
        checks = [CheckResult(name=name, passed=bool(text.strip()), weight=self.label_weight,
                              message="" if text.strip() else f"it is empty: call {fix}")
                  for name, text, fix in wanted]
        if len(self.curves) > 1:
            entries = len(ax.legend or ())
            ok = entries >= len(self.curves)
            checks.append(CheckResult(
                name=f"a legend names the {len(self.curves)} curves", passed=ok, weight=self.label_weight,
                message="" if ok else f"the legend has {entries} entries: pass label=... to each plot call, then ax.legend()"))
        return tuple(checks)


@dataclass(frozen=True)
class SweepPicture:
    """The lesson's own sweep, run through the student's function and drawn over the reference."""

    function: str
    args: tuple
    curves: tuple[Curve, ...]  # one per returned tensor, x = the swept inputs

    def draw(self, functions: FunctionSource) -> bytes | None:
        reply = functions.subject(self.function)(*self.args)
        values = reply.value if isinstance(reply.value, tuple) else (reply.value,)
        lines = tuple(
            Line(curve.label, curve.x, value.detach().double().numpy())
            for curve, value in zip(self.curves, values)
            if hasattr(value, "detach") and tuple(value.shape) == curve.x.shape
        )
        if not lines or all(curve.drawn_by(line) for curve, line in zip(self.curves, lines)):
            return None
        return comparison_png(self.curves, lines, title=f"{self.function} on the lesson's sweep: expected vs yours")
