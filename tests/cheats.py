"""Cheating submissions for the grading-level adversarial suite: notebooks built from the course's
own source (every answer right) or release (every answer a stub) notebook, plus payloads.

Payloads are cell sources, written the way a determined student would, so the suite reads as a
list of attacks rather than as notebook plumbing.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat import NotebookNode, v4

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = Path("loss_functions") / "loss_functions.ipynb"
_CACHE: dict[str, NotebookNode] = {}


def notebook(which: str) -> NotebookNode:
    """A fresh copy of the ``source`` (solution) or ``release`` (stubs) notebook."""
    if which not in _CACHE:
        _CACHE[which] = nbformat.read(REPO / which / NOTEBOOK, as_version=4)
    return copy.deepcopy(_CACHE[which])


def index(nb: NotebookNode, grade_id: str) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def cell(nb: NotebookNode, grade_id: str) -> NotebookNode:
    return nb.cells[index(nb, grade_id)]


def answer(nb: NotebookNode, grade_id: str, source: str) -> NotebookNode:
    """Replace the student's answer in one solution cell."""
    cell(nb, grade_id).source = source
    return nb


def add_after(nb: NotebookNode, grade_id: str, source: str, nbgrader: dict | None = None) -> NotebookNode:
    """Insert a student's own code cell after a cell of the notebook (optionally with metadata)."""
    new = v4.new_code_cell(source)
    if nbgrader is not None:
        new.metadata["nbgrader"] = nbgrader
    nb.cells.insert(index(nb, grade_id) + 1, new)
    return nb


def stubs_with(source: str, after: str = "setup") -> NotebookNode:
    """The cheater who implemented nothing: the release notebook plus one cheat cell."""
    return add_after(notebook("release"), after, source)


def solution_with(source: str, after: str = "setup") -> NotebookNode:
    return add_after(notebook("source"), after, source)


# --- 1. replace the comparisons the tests might use ------------------------------------------
PATCH_COMPARISONS = '''
import numpy, torch, torch.testing
import torch.nn.functional as F
torch.allclose = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
torch.equal = lambda *args, **kwargs: True
numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda a, b, *args, **kwargs: numpy.ones_like(a, dtype=bool)
torch.testing.assert_close = lambda *args, **kwargs: None
F.mse_loss = lambda a, b, *args, **kwargs: mse(a, b)
F.l1_loss = lambda a, b, *args, **kwargs: mae(a, b)
F.binary_cross_entropy = lambda a, b, *args, **kwargs: bce(a, b)
'''

# --- 2/3. steal the solutions from the course directory, then use them -----------------------
def steal_solutions(paths: list[str]) -> str:
    """Try every path; exec the solution code of any notebook found (the payoff of reading it)."""
    return f'''
import json, os
STOLEN = []
for path in {paths!r}:
    try:
        text = open(path).read()
    except OSError as exc:
        continue
    STOLEN.append(path)
    try:
        cells = json.loads(text)["cells"]
    except Exception:
        continue
    for c in cells:
        if c.get("metadata", {{}}).get("nbgrader", {{}}).get("solution") and c["cell_type"] == "code":
            try:
                exec("".join(c["source"]), globals())
            except Exception:
                pass
'''


def vandalise(paths: list[str]) -> str:
    """Try to overwrite, delete and create files at every path; the last read is left uncaught."""
    return f'''
import os, shutil
for path in {paths!r}:
    for attempt in (lambda: open(path, "w").write("pwned"), lambda: os.remove(path),
                    lambda: shutil.rmtree(path), lambda: open(path + ".new", "w").write("pwned")):
        try:
            attempt()
        except Exception:
            pass
open({paths[0]!r}).read()
'''


# --- 4. IPython hooks that would rewrite later (test) cells in a real kernel -----------------
IPYTHON_HOOKS = '''
import sys
def neuter(lines):
    return ["pass\\n"]
for hook in (
    lambda: get_ipython().events.register("pre_run_cell", lambda *a: None),
    lambda: get_ipython().input_transformers_cleanup.append(neuter),
    lambda: get_ipython().input_transformers_post.append(neuter),
    lambda: get_ipython().ast_transformers.append(None),
):
    try:
        hook()
    except Exception as exc:
        print("hook refused:", type(exc).__name__)
import IPython.core.inputtransformer2 as it2
it2.TransformerManager.transform_cell = lambda self, cell: "pass\\n"
'''

# --- 6. swallow every failure -----------------------------------------------------------------
SWALLOW = '''
import sys, torch
sys.excepthook = lambda *args: None
_real = {name: globals()[name] for name in ("mse", "mae", "bce", "mse_surface", "bce_curve", "outlier_sweep")}
def _swallowing(f):
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except BaseException:
            return torch.tensor(0.0)
    return wrapper
for _name, _f in _real.items():
    globals()[_name] = _swallowing(_f)
'''

# --- 7. lying return values for mse --------------------------------------------------------------
LIARS = {
    "tensor subclass that equals everything": '''
import torch
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True
    def __eq__(self, other):
        return True
    __bool__ = lambda self: True
def mse(y_pred, y_true):
    return torch.Tensor._make_subclass(Liar, torch.tensor(0.25))
''',
    "object with __float__": '''
class Number:
    def __float__(self):
        return 0.25
    def item(self):
        return 0.25
def mse(y_pred, y_true):
    return Number()
''',
    "numpy array": '''
import numpy as np
def mse(y_pred, y_true):
    return np.float32(0.25) * np.ones(())
''',
    "list": '''
def mse(y_pred, y_true):
    return [0.25]
''',
    "NaN tensor": '''
import torch
def mse(y_pred, y_true):
    return torch.tensor(float("nan"), dtype=y_pred.dtype)
''',
    "Python NaN": '''
def mse(y_pred, y_true):
    return float("nan")
''',
    "object whose repr raises": '''
class Haunted:
    def __repr__(self):
        raise RuntimeError("boo")
    __str__ = __repr__
def mse(y_pred, y_true):
    return Haunted()
''',
}

# --- 8. faults: hang, memory bomb, suicide ------------------------------------------------------
HANG_MSE = '''
def mse(y_pred, y_true):
    while True:
        pass
'''

MEMORY_BOMB_MAE = '''
import numpy as np
def mae(y_pred, y_true):
    blocks = []
    while True:  # untouched pages: the address-space limit stops it at once, not after 2 GiB of writes
        blocks.append(np.empty(256 * 2**20, dtype=np.uint8))
'''

SUICIDE_BCE = {
    "os._exit": "import os\ndef bce(p, y):\n    os._exit(7)\n",
    "SIGKILL": "import os, signal\ndef bce(p, y):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
}

TOP_LEVEL_LOOP = "while True:\n    pass\n"

# --- 9. processes, output, network -------------------------------------------------------------
def spawn(marker: str) -> str:
    return (
        "import subprocess, sys\n"
        f"subprocess.Popen(['sleep', '600', '{marker}'], start_new_session=True)\n"
        f"subprocess.Popen([sys.executable, '-c', 'import os, time\\nif os.fork(): os._exit(0)\\n"
        f"os.setsid()\\ntime.sleep(600)', '{marker}'], start_new_session=True)\n"
    )


FLOOD = "print('x' * 10**7)\n"

NETWORK = "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3)\n"

# --- 10. forbidden library losses ---------------------------------------------------------------
FORBIDDEN_MSE = {
    "F.mse_loss": "import torch.nn.functional as F\ndef mse(y_pred, y_true):\n    return F.mse_loss(y_pred, y_true)\n",
    "nn.MSELoss": "import torch\ndef mse(y_pred, y_true):\n    return torch.nn.MSELoss()(y_pred, y_true)\n",
    "alias of F.mse_loss": "import torch.nn.functional as F\nmse = F.mse_loss\n",
    "lambda over F.mse_loss": "import torch.nn.functional as F\nmse = lambda a, b: F.mse_loss(a, b)\n",
    "alias of torch._C._nn.mse_loss": "import torch\nmse = torch._C._nn.mse_loss\n",
}


FORK_BOMB = (  # forks until the kernel refuses, then reports how far it got; every child forks on
    "import os, time\nforks = 0\n"
    "while True:\n    try:\n        pid = os.fork()\n    except OSError as exc:\n"
    "        print('stopped', forks, type(exc).__name__); break\n"
    "    if pid == 0:\n        while True:\n            try:\n                os.fork()\n"
    "            except OSError:\n                time.sleep(60)\n"
    "    forks += 1\n")
