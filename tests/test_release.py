"""The committed student notebook is exactly what nbgrader makes of the source, and leaks nothing.

`release/` is committed so students and CI see the same file; these tests stop it drifting from
`source/` and catch a solution or hidden test that escaped its markers.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = Path("loss_functions") / "loss_functions.ipynb"
SOURCE = ROOT / "source" / NOTEBOOK
RELEASE = ROOT / "release" / NOTEBOOK

# The grade table of the assignment (docs: notes/preamble "Grade cells").
AUTOGRADED = {
    "mse_public": 1, "mse_hidden": 5, "mae_public": 1, "mae_hidden": 4, "bce_public": 1, "bce_hidden": 6,
    "mse_surface_public": 1, "mse_surface_hidden": 3, "bce_curve_public": 1, "bce_curve_hidden": 3,
    "outlier_sweep_public": 1, "outlier_sweep_hidden": 3,
    "plot_surface_test": 2, "plot_bce_test": 2, "plot_outlier_test": 2,
}
MANUAL = {"written_bowl": 4, "written_outlier_rl": 4}
SOLUTION_CELLS = {
    "mse_solution", "mae_solution", "bce_solution", "mse_surface_solution", "bce_curve_solution",
    "outlier_sweep_solution", "plot_surface_solution", "plot_bce_solution", "plot_outlier_solution",
}
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "grade_part", "autograder.inkernel")
REGIONS = (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _comparable(nb) -> list[tuple]:
    return [(c.get("id"), c.cell_type, c.source, _nbgrader(c)) for c in nb.cells]


def _split_regions(source: str) -> tuple[list[str], list[str]]:
    """(lines inside solution or hidden-test regions, lines outside them), stripped, blanks dropped."""
    inside, outside, in_region = [], [], False
    for line in source.splitlines():
        if any(begin in line for begin, _ in REGIONS):
            in_region = True
        elif any(end in line for _, end in REGIONS):
            in_region = False
        elif line.strip():
            (inside if in_region else outside).append(line.strip())
    return inside, outside


@pytest.mark.slow
def test_regenerating_the_release_gives_the_committed_notebook(tmp_path):
    shutil.copytree(ROOT / "source", tmp_path / "source")
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    # nbgrader runs `alembic` by name to set up the gradebook: the venv's bin must be on PATH.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "loss_functions", "--force"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, f"nbgrader generate_assignment failed:\n{run.stdout}\n{run.stderr}"
    generated, committed = _read(tmp_path / "release" / NOTEBOOK), _read(RELEASE)
    assert generated.metadata == committed.metadata
    assert _comparable(generated) == _comparable(committed), (
        "release/ is stale: run `nbgrader generate_assignment loss_functions --force` at the course "
        "root (with .venv/bin on PATH) and commit release/loss_functions/loss_functions.ipynb"
    )


def test_release_contains_no_solution_or_hidden_test():
    release_text = "\n".join(c.source for c in _read(RELEASE).cells)
    for marker in MARKERS:
        assert marker not in release_text, f"release notebook contains {marker!r}"

    secret, public = set(), set()
    for cell in _read(SOURCE).cells:
        inside, outside = _split_regions(cell.source)
        secret.update(inside)
        public.update(outside)
    secret -= public  # lines such as `ax.grid(True)` also appear in released worked examples
    assert secret, "found no solution or hidden-test regions in the source notebook"
    release_lines = {line.strip() for line in release_text.splitlines()}
    leaked = sorted(secret & release_lines)
    assert not leaked, f"solution or hidden-test lines leaked into release/: {leaked}"


@pytest.mark.parametrize("path", [SOURCE, RELEASE], ids=["source", "release"])
def test_grade_ids_and_points_match_the_grade_table(path):
    cells = _read(path).cells
    graded = {_nbgrader(c)["grade_id"]: (c.cell_type, _nbgrader(c)["points"]) for c in cells if _nbgrader(c).get("grade")}
    assert {g: p for g, (kind, p) in graded.items() if kind == "code"} == AUTOGRADED
    assert {g: p for g, (kind, p) in graded.items() if kind == "markdown"} == MANUAL
    assert sum(AUTOGRADED.values()) == 36 and sum(MANUAL.values()) == 8
    solutions = {_nbgrader(c)["grade_id"] for c in cells if _nbgrader(c).get("solution") and not _nbgrader(c).get("grade")}
    assert solutions == SOLUTION_CELLS
    for cell in cells:
        meta = _nbgrader(cell)
        if meta:
            assert meta["schema_version"] == 3 and cell.id == meta["grade_id"], f"cell {cell.id}: {meta}"
            assert meta["locked"] == (not meta["solution"]), f"cell {cell.id}: locked must be the opposite of solution"


def _release_cell(grade_id: str) -> str:
    return next(c.source for c in _read(RELEASE).cells if _nbgrader(c).get("grade_id") == grade_id)


STUB_CALLS = {
    "mse": ("mse_solution", ([1.0, 2.0], [1.5, 2.5])),
    "mae": ("mae_solution", ([1.0, 2.0], [1.5, 2.5])),
    "bce": ("bce_solution", ([0.2, 0.9], [0.0, 1.0])),
    "mse_surface": ("mse_surface_solution", ([0.0, 1.0], [1.0, 2.0], [0.5, 1.5])),
    "bce_curve": ("bce_curve_solution", ([0.2, 0.9],)),
    "outlier_sweep": ("outlier_sweep_solution", ([1.0, 10.0], [0.0, 5.0])),
}


@pytest.mark.parametrize("name", sorted(STUB_CALLS))
def test_released_function_stub_raises_not_implemented(name):
    import torch

    grade_id, args = STUB_CALLS[name]
    namespace = {"torch": torch}
    exec(_release_cell(grade_id), namespace)
    with pytest.raises(NotImplementedError):
        namespace[name](*(torch.tensor(a) for a in args))


@pytest.mark.parametrize("grade_id", ["plot_surface_solution", "plot_bce_solution", "plot_outlier_solution"])
def test_released_plot_stub_raises_not_implemented(grade_id):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        with pytest.raises(NotImplementedError):
            exec(_release_cell(grade_id), {"plt": plt})
    finally:
        plt.close("all")
