"""Hidden cells under plain nbgrader: ``grade_part`` in the student's own kernel returns the
points, prints feedback to stdout and never writes to stderr (which would zero the cell)."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import nbformat
import pytest

from assignments.loss_functions.parts import POINTS
from autograder.inkernel import grade_part
from student_sources import CORRECT, PLOTS, define

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "loss_functions" / "loss_functions.ipynb"


def kernel_namespace(*sources: str) -> dict:
    namespace: dict = {"__name__": "__main__"}
    for source in sources:
        exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


def test_correct_functions_earn_the_points_quietly(capfd):
    namespace = kernel_namespace(CORRECT)
    assert grade_part("mse_hidden", namespace, max_examples=20) == POINTS["mse_hidden"]
    out, err = capfd.readouterr()
    assert err == "" and "mse: hidden properties [mse_hidden]: 5 / 5 points" in out and "PASS" in out


def test_wrong_function_loses_points_and_shows_the_counterexample(capfd):
    namespace = kernel_namespace(CORRECT, define("mae", "y_pred, y_true", "return (y_pred - y_true).abs().sum()"))
    score = grade_part("mae_hidden", namespace, max_examples=20)
    out, err = capfd.readouterr()
    assert err == "" and score < POINTS["mae_hidden"]
    assert "FAIL" in out and "y_pred = tensor(" in out and "Expected (PyTorch reference):" in out


def test_student_prints_and_warnings_do_not_reach_stderr(capfd):
    noisy = define("mse", "y_pred, y_true",
                   "import sys, warnings\nwarnings.warn('careful')\nprint('hi', file=sys.stderr)\n"
                   "return ((y_pred - y_true) ** 2).mean()")
    assert grade_part("mse_hidden", kernel_namespace(CORRECT, noisy), max_examples=10) == POINTS["mse_hidden"]
    assert capfd.readouterr().err == ""


def test_plots_are_graded_without_changing_the_kernels_backend(capfd):
    backend = matplotlib.get_backend()
    namespace = kernel_namespace(CORRECT, PLOTS)
    assert grade_part("plot_bce_test", namespace) == POINTS["plot_bce_test"]
    assert matplotlib.get_backend() == backend and capfd.readouterr().err == ""


@pytest.mark.slow
def test_source_notebook_hidden_cells_score_full_marks_in_a_real_kernel(monkeypatch):
    """The instructor notebook under nbclient, as plain nbgrader's autograde would execute it."""
    from nbclient import NotebookClient

    notebook = nbformat.read(SOURCE, as_version=4)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("AUTOGRADER_MAX_EXAMPLES", "20")
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(SOURCE.parent)}}).execute()
    graded = {c.metadata.nbgrader["grade_id"]: c for c in notebook.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    hidden = [gid for gid, cell in graded.items() if "grade_part" in cell.source]
    assert set(hidden) == {gid for gid in POINTS if not gid.endswith("_public")}
    for grade_id, cell in graded.items():
        if cell.cell_type != "code":
            continue
        streams = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not streams and not errors, (grade_id, streams, errors)
        results = [o for o in cell.outputs if o.output_type == "execute_result"]
        if "grade_part" in cell.source:
            assert float(results[-1].data["text/plain"]) == POINTS[grade_id], grade_id
