"""Student implementations as cell sources, shared by the judge tests: one correct notebook and
variants that replace a single function."""
from __future__ import annotations

CORRECT = '''
import torch
import matplotlib.pyplot as plt

def mse(y_pred, y_true):
    return ((y_pred - y_true) ** 2).mean()

def mae(y_pred, y_true):
    return (y_pred - y_true).abs().mean()

def bce(p, y):
    log_p = torch.clamp(torch.log(p), min=-100)
    log_not_p = torch.clamp(torch.log(1 - p), min=-100)
    return -(y * log_p + (1 - y) * log_not_p).mean()

def mse_surface(x, y, ws):
    return torch.stack([mse(w * x, y) for w in ws])

def bce_curve(p):
    return -torch.clamp(torch.log(1 - p), min=-100), -torch.clamp(torch.log(p), min=-100)

def outlier_sweep(y_true, values):
    mses, maes = [], []
    for v in values:
        y_pred = y_true.clone()
        y_pred[-1] = v
        mses.append(mse(y_pred, y_true))
        maes.append(mae(y_pred, y_true))
    return torch.stack(mses), torch.stack(maes)
'''

PLOTS = '''
ws = torch.linspace(-1, 3, 100)
fig_surface, ax = plt.subplots()
ax.plot(ws, mse_surface(torch.tensor([0., 1., 2., 3.]), torch.tensor([1., 2., 2., 4.]), ws))
ax.set_xlabel("w"); ax.set_ylabel("MSE"); ax.set_title("MSE surface")

p = torch.linspace(0.01, 0.99, 100)
fig_bce, ax = plt.subplots()
zero, one = bce_curve(p)
ax.plot(p, zero, label="y = 0"); ax.plot(p, one, label="y = 1")
ax.set_xlabel("p"); ax.set_ylabel("loss"); ax.set_title("BCE"); ax.legend()

values = torch.linspace(0, 20, 120)
fig_outlier, ax = plt.subplots()
m, a = outlier_sweep(torch.tensor([1., 1., 1., 10.]), values)
ax.plot(values.numpy(), m.numpy(), label="MSE"); ax.plot(values.numpy(), a.numpy(), label="MAE")
ax.set_xlabel("outlier"); ax.set_ylabel("loss"); ax.set_title("one outlier"); ax.legend()
'''


def define(function: str, args: str, body: str) -> str:
    """A cell that (re)defines one student function; ``body`` lines are joined with newlines."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return f"import torch\nimport numpy as np\ndef {function}({args}):\n{indented}\n"
