"""The instructor notebook runs cleanly in a real kernel and its own solutions pass its tests.

nbgrader scores a test cell 0 on any error *or any stderr output*, so a stray warning in the
source would silently cost every student points; these tests execute the notebook the way
nbgrader does (a fresh kernel, cwd outside the repo) and look at every output.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.preprocessors import ClearHiddenTests

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "loss_functions" / "loss_functions.ipynb"
INKERNEL = ROOT / "autograder" / "inkernel.py"

pytestmark = pytest.mark.slow


def _execute(nb, cwd: Path, monkeypatch) -> nbformat.NotebookNode:
    # The kernel inherits the environment: the hidden cells import `autograder` from the repo.
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def _problems(nb) -> list[str]:
    """Every error and every stderr write, named by cell id."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"{cell.id}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                found.append(f"{cell.id} wrote to stderr: {out.text[:500]}")
    return found


def _graded_code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


def test_public_tests_pass_against_the_solutions(tmp_path, monkeypatch):
    """Runs without the in-kernel grader: the hidden-test regions are stripped as in release/."""
    nb = nbformat.read(SOURCE, as_version=4)
    nb, _ = ClearHiddenTests().preprocess(nb, {})
    nb = _execute(nb, tmp_path, monkeypatch)
    assert _problems(nb) == []
    for cell in _graded_code_cells(nb):
        if cell.id.endswith("_public"):
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert "public test passed" in printed, f"{cell.id} did not report success: {cell.outputs}"


@pytest.mark.skipif(not INKERNEL.exists(),
                    reason="autograder/inkernel.py (grade_part, imported by the hidden test cells) is not written yet")
def test_source_notebook_runs_clean_and_solutions_earn_full_marks(tmp_path, monkeypatch):
    nb = _execute(nbformat.read(SOURCE, as_version=4), tmp_path, monkeypatch)
    assert _problems(nb) == []
    for cell in _graded_code_cells(nb):
        results = [o for o in cell.outputs if o.output_type == "execute_result"]
        if cell.source.count("grade_part("):
            points = float(cell.metadata["nbgrader"]["points"])
            assert len(results) == 1, f"{cell.id}: grade_part should return the earned points, got {cell.outputs}"
            earned = float(results[0].data["text/plain"])
            assert earned == points, f"{cell.id}: the reference solution earned {earned} of {points}: {cell.outputs}"
