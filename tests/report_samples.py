"""Hand-built result records for the report tests: a small class with the usual troubles."""
from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from autograder.judge.results import (
    CheckResult, Counterexample, Flag, PartResult, SubmissionResult,
)

ASSIGNMENT = "loss_functions"
# grade_id -> (title, functions, points)
PARTS = {
    "mse_public": ("Mean squared error (public checks)", ("mse",), 1.0),
    "mse_hidden": ("Mean squared error", ("mse",), 5.0),
    "mae_public": ("Mean absolute error (public checks)", ("mae",), 1.0),
    "mae_hidden": ("Mean absolute error", ("mae",), 4.0),
    "bce_public": ("Binary cross-entropy (public checks)", ("bce",), 1.0),
    "bce_hidden": ("Binary cross-entropy", ("bce",), 6.0),
    "outlier_sweep_hidden": ("Outlier sweep", ("outlier_sweep",), 3.0),
    "plot_surface_test": ("Plot of the MSE surface", ("mse_surface",), 2.0),
}
MANUAL = ("written_bowl", "written_outlier_rl")
HALVED = "You divided the sum of squares by 2n instead of n (the 1/2 of some textbooks)."
NO_CLAMP = "Your log terms are not clamped at -100, so p = 0 or p = 1 gives inf or nan."
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def curve_png() -> bytes:
    fig = Figure(figsize=(3, 2), dpi=50)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2, 3], [3, 1, 0.5, 2], label="yours")
    ax.plot([0, 1, 2, 3], [3, 1, 1, 3], label="reference")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def failing(name: str, diagnosis: str | None, got: str = "tensor(0.5000)") -> CheckResult:
    example = Counterexample(inputs=(("y_pred", "tensor([0.])"), ("y_true", "tensor([1.])")),
                             expected="tensor(1.)", got=got)
    return CheckResult(name=name, passed=False, message="Values differ beyond tolerance.",
                       counterexample=example, diagnosis=diagnosis)


def part(grade_id: str, *checks: CheckResult, score: float | None = None,
         error: str | None = None) -> PartResult:
    title, functions, top = PARTS[grade_id]
    if score is None:
        score = top if all(c.passed for c in checks) and not error else 0.0
    return PartResult(grade_id=grade_id, title=title, functions=functions, max_score=top,
                      score=score, checks=checks, error=error)


def ok(grade_id: str) -> PartResult:
    return part(grade_id, CheckResult(name="matches the PyTorch reference", passed=True))


def submission(student: str, overrides: dict[str, PartResult] | None = None,
               **kw) -> SubmissionResult:
    parts = tuple((overrides or {}).get(g) or ok(g) for g in PARTS)
    return SubmissionResult(student=student, assignment=ASSIGNMENT, status="graded",
                            parts=parts, manual_parts=MANUAL, **kw)


def sample_results() -> list[SubmissionResult]:
    """Six students: perfect, two with the halved MSE, a BCE without clamping plus a flag with
    hostile markup, a timed-out part with a sweep image, and one that could not be graded."""
    halved = part("mse_hidden", CheckResult("returns a 0-d tensor", True),
                  failing("equals the mean of squared errors for any shape", HALVED),
                  score=2.5)
    sweep = part("outlier_sweep_hidden", CheckResult(
        name="MSE values of the sweep match the reference", passed=False,
        message="Your curve leaves the reference after v = 10.",
        counterexample=Counterexample((("y_true", "tensor([1., 1., 1., 10.])"),
                                       ("values", "tensor([20.])")), "tensor([25.])",
                                      "tensor([12.5000])"),
        diagnosis=None, image_png=curve_png()))
    return [
        submission("alice"),
        submission("bob", {"mse_hidden": halved}),
        submission("carol", {"mse_hidden": halved, "outlier_sweep_hidden": sweep}),
        submission("dave", {"bce_hidden": part("bce_hidden", failing(
            "finite at p = 0 and p = 1, like F.binary_cross_entropy", NO_CLAMP, got="nan"))},
                   flags=(Flag("forbidden-call", f"bce calls F.binary_cross_entropy {HOSTILE}"),)),
        submission("erin", {"mae_hidden": part("mae_hidden", error="timed out after 30 s")}),
        SubmissionResult(student="frank", assignment=ASSIGNMENT, status="ungradable",
                         reason=f"the kernel died while running cell 3 {HOSTILE}",
                         manual_parts=MANUAL),
    ]
