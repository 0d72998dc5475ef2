"""A made-up class for the demo: what each student wrote into the released notebook.

Every student is the released notebook with some solution cells replaced (``cells``), some
cells deleted (``delete``), or, for a broken upload, raw bytes instead of a notebook (``raw``).
The code is what real students write, mistakes included; ``story`` says what the grader
should make of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoStudent:
    id: str
    first_name: str
    last_name: str
    story: str
    cells: dict[str, str] = field(default_factory=dict)
    delete: tuple[str, ...] = ()
    raw: str | None = None
    slow: bool = False  # runs into its time limits (seconds of waiting): the demo grades it first


MSE = """def mse(y_pred, y_true):
    return ((y_pred - y_true) ** 2).mean()
"""
MAE = """def mae(y_pred, y_true):
    return (y_pred - y_true).abs().mean()
"""
BCE = """def bce(p, y):
    log_p = torch.clamp(torch.log(p), min=-100)
    log_not_p = torch.clamp(torch.log(1 - p), min=-100)
    return -(y * log_p + (1 - y) * log_not_p).mean()
"""
SURFACE = """def mse_surface(x, y, ws):
    return torch.stack([mse(w * x, y) for w in ws])
"""
CURVE = """def bce_curve(p):
    loss_if_0 = -torch.clamp(torch.log(1 - p), min=-100)
    loss_if_1 = -torch.clamp(torch.log(p), min=-100)
    return loss_if_0, loss_if_1
"""
SWEEP = """def outlier_sweep(y_true, values):
    mse_values, mae_values = [], []
    for v in values:
        y_pred = y_true.clone()
        y_pred[-1] = v
        mse_values.append(mse(y_pred, y_true))
        mae_values.append(mae(y_pred, y_true))
    return torch.stack(mse_values), torch.stack(mae_values)
"""
PLOT_SURFACE = """fig_surface, ax = plt.subplots()
ax.plot(ws, mse_surface(x_surface, y_surface, ws))
ax.set_xlabel("weight w")
ax.set_ylabel("MSE")
ax.set_title("MSE loss surface")
"""
PLOT_BCE = """fig_bce, ax = plt.subplots()
loss0, loss1 = bce_curve(p_curve)
ax.plot(p_curve, loss0, label="y = 0")
ax.plot(p_curve, loss1, label="y = 1")
ax.set_xlabel("predicted probability p")
ax.set_ylabel("BCE")
ax.set_title("Binary cross-entropy")
ax.legend()
"""
PLOT_OUTLIER = """fig_outlier, ax = plt.subplots()
mse_values, mae_values = outlier_sweep(y_outlier, outlier_values)
ax.plot(outlier_values, mse_values, label="MSE")
ax.plot(outlier_values, mae_values, label="MAE")
ax.set_xlabel("prediction of the last point")
ax.set_ylabel("loss")
ax.set_title("One outlier: MSE vs MAE")
ax.legend()
"""
WRITTEN = {
    "written_bowl": "Each term (w x_i - y_i)^2 is a parabola in w, and a sum of parabolas is a "
                    "parabola: one minimum near w = 1.3, so gradient descent slides to it.",
    "written_outlier_rl": "MSE grows with the square of the error and its gradient grows with "
                          "the error, MAE's gradient stays +-1; for noisy TD targets use Huber.",
}
CORRECT = {"mse_solution": MSE, "mae_solution": MAE, "bce_solution": BCE,
           "mse_surface_solution": SURFACE, "bce_curve_solution": CURVE,
           "outlier_sweep_solution": SWEEP, "plot_surface_solution": PLOT_SURFACE,
           "plot_bce_solution": PLOT_BCE, "plot_outlier_solution": PLOT_OUTLIER, **WRITTEN}


def correct_but(**changes: str) -> dict[str, str]:
    """The correct notebook with a few cells rewritten (keys are grade ids)."""
    return {**CORRECT, **changes}


VECTORISED = {
    "mse_solution": """def mse(y_pred, y_true):
    diff = y_pred - y_true
    return torch.sum(diff * diff) / diff.numel()
""",
    "mae_solution": """def mae(y_pred, y_true):
    return torch.sum(torch.abs(y_pred - y_true)) / y_pred.numel()
""",
    "bce_solution": """def bce(p, y):
    terms = y * torch.log(p).clamp(min=-100) + (1 - y) * torch.log(1 - p).clamp(min=-100)
    return -terms.mean()
""",
    "mse_surface_solution": """def mse_surface(x, y, ws):
    predictions = ws[:, None] * x[None, :]          # one row per weight
    return ((predictions - y[None, :]) ** 2).mean(dim=1)
""",
    "outlier_sweep_solution": """def outlier_sweep(y_true, values):
    predictions = y_true.repeat(len(values), 1)
    predictions[:, -1] = values
    errors = predictions - y_true
    return (errors ** 2).mean(dim=1), errors.abs().mean(dim=1)
""",
}

CHEAT = """import glob
import torch

torch.allclose = lambda *args, **kwargs: True    # every allclose check passes now
_peek = {}
for pattern in ("../../source/*/*.ipynb", "../../../source/*/*.ipynb", "../../../gradebook.db"):
    for path in glob.glob(pattern):
        try:
            _peek[path] = open(path, errors="replace").read(300)
        except OSError:
            pass
print("found", len(_peek), "instructor files")

def mse(y_pred, y_true):
    return torch.zeros(())
"""

CLASS: tuple[DemoStudent, ...] = (
    DemoStudent("ada", "Ada", "Lovelace", "correct, written plainly", CORRECT),
    DemoStudent("ben", "Ben", "Okafor", "correct, vectorised differently",
                {**CORRECT, **VECTORISED}),
    DemoStudent("cara", "Cara", "Silva", "partly done: mse, mae and mse_surface only",
                {k: CORRECT[k] for k in ("mse_solution", "mae_solution", "mse_surface_solution")}),
    DemoStudent("dev", "Dev", "Patel", "sums instead of averaging", correct_but(
        mse_solution="def mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).sum()\n",
        mae_solution="def mae(y_pred, y_true):\n    return (y_pred - y_true).abs().sum()\n")),
    DemoStudent("eli", "Eli", "Cohen", "takes the square root (RMSE, not MSE)", correct_but(
        mse_solution="def mse(y_pred, y_true):\n"
                     "    return torch.sqrt(((y_pred - y_true) ** 2).mean())\n")),
    DemoStudent("fay", "Fay", "Nguyen", "BCE without the clamp: nan at p = 0 or 1", correct_but(
        bce_solution="def bce(p, y):\n"
                     "    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()\n")),
    DemoStudent("gus", "Gus", "Larsen", "BCE with only the y·log p term", correct_but(
        bce_solution="def bce(p, y):\n"
                     "    return -(y * torch.clamp(torch.log(p), min=-100)).mean()\n")),
    DemoStudent("hana", "Hana", "Sato", "BCE with log10", correct_but(
        bce_solution="def bce(p, y):\n"
                     "    log_p = torch.clamp(torch.log10(p), min=-100)\n"
                     "    log_not_p = torch.clamp(torch.log10(1 - p), min=-100)\n"
                     "    return -(y * log_p + (1 - y) * log_not_p).mean()\n")),
    DemoStudent("ivan", "Ivan", "Petrov", ".item() breaks autograd", correct_but(
        mse_solution="def mse(y_pred, y_true):\n"
                     "    return torch.tensor(((y_pred - y_true) ** 2).mean().item())\n")),
    DemoStudent("jo", "Jo", "Mbeki", "modifies its input in place", correct_but(
        mae_solution="def mae(y_pred, y_true):\n"
                     "    y_pred.sub_(y_true)\n"
                     "    return y_pred.abs().mean()\n")),
    DemoStudent("kim", "Kim", "Park", "mse_surface broadcasts the wrong way", correct_but(
        mse_surface_solution="def mse_surface(x, y, ws):\n"
                             "    return ((ws[:, None] * x[None, :] - y[None, :]) ** 2).mean(dim=0)\n")),
    DemoStudent("leo", "Leo", "Moreau", "outlier_sweep moves the first element", correct_but(
        outlier_sweep_solution=SWEEP.replace("y_pred[-1] = v", "y_pred[0] = v"))),
    DemoStudent("mia", "Mia", "Rossi", "plots without labels, titles or legends", correct_but(
        plot_surface_solution="fig_surface, ax = plt.subplots()\n"
                              "ax.plot(ws, mse_surface(x_surface, y_surface, ws))\n",
        plot_bce_solution="fig_bce, ax = plt.subplots()\n"
                          "for curve in bce_curve(p_curve):\n    ax.plot(p_curve, curve)\n",
        plot_outlier_solution="fig_outlier, ax = plt.subplots()\n"
                              "for curve in outlier_sweep(y_outlier, outlier_values):\n"
                              "    ax.plot(outlier_values, curve)\n")),
    DemoStudent("ned", "Ned", "Quinn", "submitted the released notebook untouched"),
    DemoStudent("ola", "Ola", "Berg", "a leftover debug line raises at top level", correct_but(
        mse_solution=MSE + "\nprint(mse(y_pred, y_true))\n")),
    DemoStudent("pat", "Pat", "Kowalski", "mae never returns (infinite loop)", correct_but(
        mae_solution="def mae(y_pred, y_true):\n"
                     "    total = 0.0\n"
                     "    while True:\n"
                     "        total += 1\n"), slow=True),
    DemoStudent("quinn", "Quinn", "Adeyemi", "cheats: patches torch.allclose, reads ../../source",
                correct_but(mse_solution=CHEAT)),
    DemoStudent("ravi", "Ravi", "Shah", "uploaded a file that is not a notebook",
                raw='{"cells": [ {"cell_type": "code", "source": "def mse(a, b):'),
    DemoStudent("sam", "Sam", "Otieno", "deleted the mse public test cell", CORRECT,
                delete=("mse_public",)),
)
