"""Integrity flags: library losses inside graded functions, tamper attempts, sandbox walls hit —
each one raised where it should be and, just as important, never on honest work."""
from __future__ import annotations

from pathlib import Path

import pytest

from autograder.judge import integrity
from autograder.judge.notebook import SOLUTION, instructor_cells, read_notebook
from student_sources import CORRECT, PLOTS

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "loss_functions" / "loss_functions.ipynb"
GRADED = ("bce", "bce_curve", "mae", "mse", "mse_surface", "outlier_sweep")

# What a student copies from the lesson into a scratch cell to compare with their own answer.
LESSON_SCRATCH = '''
import torch
import torch.nn.functional as F
y_true = torch.tensor([2.0, 3.5, 5.0]); y_pred = torch.tensor([2.5, 2.8, 4.6])
mse_manual = ((y_pred - y_true) ** 2).mean()
mse_builtin = F.mse_loss(y_pred, y_true)
print("same?", torch.isclose(mse_manual, mse_builtin).item(), torch.allclose(mse(y_pred, y_true), mse_builtin))
print(F.binary_cross_entropy(torch.tensor([0.9]), torch.tensor([1.0])), torch.nn.MSELoss()(y_pred, y_true))
torch.testing.assert_close(mae(y_pred, y_true), F.l1_loss(y_pred, y_true))
'''


HONEST = {
    **{c.grade_id: c.source for c in instructor_cells(read_notebook(SOURCE)) if c.kind == SOLUTION},
    "student_sources.CORRECT": CORRECT, "student_sources.PLOTS": PLOTS, "lesson scratch": LESSON_SCRATCH,
}


def flagged(source: str, graded=GRADED) -> list[str]:
    return [flag.detail for flag in integrity.forbidden_uses([source], graded)]


@pytest.mark.parametrize("source, name", [
    ("import torch.nn.functional as F\ndef mse(y_pred, y_true):\n    return F.mse_loss(y_pred, y_true)", "mse_loss"),
    ("import torch\ndef mae(a, b):\n    return torch.nn.functional.l1_loss(a, b)", "l1_loss"),
    ("from torch import nn\ndef mse(a, b):\n    return nn.MSELoss()(a, b)", "MSELoss"),
    ("from torch.nn.functional import binary_cross_entropy\ndef bce(p, y):\n    return binary_cross_entropy(p, y)",
     "binary_cross_entropy"),
    ("def bce(p, y):\n    from torch.nn.functional import binary_cross_entropy as b\n"
     "    return binary_cross_entropy(p, y) if False else b(p, y)", "binary_cross_entropy"),
    ("def bce_curve(p):\n    loss = torch.nn.BCELoss(reduction='none')\n    return loss(p, 0 * p), loss(p, 1 + 0 * p)", "BCELoss"),
])
def test_library_loss_inside_a_graded_function_is_flagged(source, name):
    details = flagged(source)
    assert len(details) == 1 and name in details[0] and "by hand" in details[0]


def test_forbidden_call_flag_names_the_function_and_every_loss_once():
    source = "def mse(a, b):\n    return F.mse_loss(a, b) + F.mse_loss(b, a) + F.l1_loss(a, b)"
    [(detail)] = flagged(source)
    assert detail.startswith("mse() uses l1_loss, mse_loss")


@pytest.mark.parametrize("source", [
    LESSON_SCRATCH,
    "def my_check(a, b):\n    return F.mse_loss(a, b)",  # an ungraded helper of the student's own
    "def mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).mean()\nreference = F.mse_loss",
])
def test_library_loss_outside_graded_functions_is_not_flagged(source):
    assert flagged(source) == []


def test_helper_called_by_a_graded_function_is_left_to_the_run_time_check():
    """``mse`` calling a helper that calls ``F.mse_loss`` is not a static finding: the sandbox
    records the forbidden call while ``mse`` is being graded (see ``runtime_forbidden`` and
    ``StudentProcess.forbidden``). Only the scoping rule is pinned here."""
    source = "def helper(a, b):\n    return F.mse_loss(a, b)\ndef mse(a, b):\n    return helper(a, b)"
    assert flagged(source, graded=("mse",)) == []
    assert flagged(source, graded=("mse", "helper")) != []


def test_cells_with_ipython_magics_are_parsed():
    source = "%matplotlib inline\n!echo hi\nimport torch.nn.functional as F\ndef mse(a, b):\n    return F.mse_loss(a, b)"
    assert len(flagged(source)) == 1


@pytest.mark.parametrize("source", ["def mse(a, b):\n    return F.mse_loss(a, b", "def (:", "%%bash\n(((", ""])
def test_unparseable_cells_are_skipped_without_crashing(source):
    assert flagged(source) == []


def test_no_flags_on_honest_solutions():
    assert len(HONEST) == 12  # the nine solution cells of the source notebook and three more
    assert integrity.forbidden_uses(HONEST.values(), GRADED) == []


TAMPER_CASES = [
    ("replaces a comparison function", "torch.allclose = lambda *a, **k: True"),
    ("replaces a comparison function", "np.isclose =lambda *a: True"),
    ("replaces a comparison function", "math.isclose= print"),
    ("defines comparison or conversion hooks", "class T(torch.Tensor):\n    def __eq__(self, other): return True"),
    ("defines comparison or conversion hooks", "    @classmethod\n    def __torch_function__(cls, *a): ..."),
    ("hooks into IPython's cell execution", "get_ipython().input_transformers_post.append(f)"),
    ("hooks into IPython's cell execution", "get_ipython().events.register('pre_run_cell', f)"),
    ("hooks into IPython's cell execution", "ip.ast_transformers.append(t)"),
    ("touches cell metadata", "# skip-execution"),
    ("touches cell metadata", "cell.metadata['nbgrader'] = {}"),
    ("rewrites modules or builtins", "sys.modules['torch'] = fake"),
    ("rewrites modules or builtins", "import builtins\nbuiltins.abs = lambda x: 0"),
    ("rewrites modules or builtins", "importlib.reload(torch)"),
    ("looks for course files", "open('../source/loss_functions/loss_functions.ipynb')"),
    ("looks for course files", "sqlite3.connect('gradebook.db')"),
    ("looks for course files", "os.listdir('autograded/')"),
    ("opens network connections", "import socket"),
    ("opens network connections", "urllib.request.urlopen('http://x')"),
    ("opens network connections", "requests.get('http://x')"),
    ("spawns or kills processes", "import subprocess"),
    ("spawns or kills processes", "os.system('ls')"),
    ("spawns or kills processes", "os.kill(os.getppid(), 9)"),
    ("spawns or kills processes", "os._exit(0)"),
]


@pytest.mark.parametrize("meaning, source", TAMPER_CASES)
def test_each_tamper_pattern_is_flagged(meaning, source):
    flags = integrity.tamper_signs(["x = 1", source])
    assert flags and all(f.kind == "tamper" for f in flags)
    assert any(f.detail.startswith(f"student cell 2 {meaning}: `") for f in flags), [f.detail for f in flags]


def test_every_tamper_pattern_is_covered_by_the_table():
    covered = {meaning for meaning, _ in TAMPER_CASES}
    assert covered == {meaning for _, meaning in integrity.TAMPER_PATTERNS}


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_code_raises_no_tamper_flag(name):
    assert integrity.tamper_signs([HONEST[name]]) == []


@pytest.mark.parametrize("error", [
    "PermissionError: [Errno 13] Permission denied: '/work/main/source'",
    "Traceback (most recent call last):\n  ...\nOSError: [Errno 30] Read-only file system: '/usr/lib/x'",
    "OSError: [Errno 101] Network is unreachable",
    "FileNotFoundError: [Errno 2] No such file or directory: '/course/gradebook.db'",
    "PermissionError: [Errno 1] Operation not permitted",
])
def test_sandbox_walls_in_errors_are_flagged_with_the_last_line(error):
    [flag] = integrity.escape_signs([error])
    assert flag.kind == "sandbox-escape" and flag.detail == f"blocked by the sandbox: {error.splitlines()[-1]}"


@pytest.mark.parametrize("error", [
    "NotImplementedError",
    "ValueError: shapes (3,) and (4,) differ",
    "FileNotFoundError: [Errno 2] No such file or directory: 'data.csv'",  # relative path: the student's own mistake
    "",
])
def test_ordinary_errors_are_not_escape_signs(error):
    assert integrity.escape_signs([error]) == []


def test_long_escape_error_is_truncated():
    [flag] = integrity.escape_signs(["Permission denied: '/" + "x" * 1000 + "'"])
    assert len(flag.detail) <= len("blocked by the sandbox: ") + 300


def test_runtime_forbidden_flags_each_loss_once_in_order():
    flags = integrity.runtime_forbidden("mse", ["mse_loss", "l1_loss", "mse_loss"])
    assert [f.kind for f in flags] == ["forbidden-call", "forbidden-call"]
    assert [f.detail for f in flags] == ["mse() called l1_loss while being graded",
                                         "mse() called mse_loss while being graded"]
    assert integrity.runtime_forbidden("mse", []) == []
