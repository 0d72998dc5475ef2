"""What SandboxedGrading writes into the notebook is what nbgrader's own SaveAutoGrades reads:
each test cell's score, exactly, with the feedback in place of the hidden test code."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from nbgrader.utils import determine_grade

from autograder.judge.notebook import TEST, instructor_cells, read_notebook
from autograder.judge.results import PartResult, SubmissionResult
from autograder.nbgrader_ext.preprocessor import record_path, write_outputs
from autograder.reports.feedback_text import render_part

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "loss_functions" / "loss_functions.ipynb"


def score_for(grade_id: str, points: float) -> float:
    """Full, none and awkward fractions, so the round trip through text is really tested."""
    if grade_id.endswith("_public"):
        return 0.0
    if grade_id.startswith("plot_"):
        return points
    return points / 3


@pytest.fixture
def graded():
    notebook = read_notebook(SOURCE)
    parts = tuple(
        PartResult(grade_id=c.grade_id, title=f"title of {c.grade_id}", functions=(), max_score=c.points,
                   score=score_for(c.grade_id, c.points),
                   error="the call ran past its 30 s limit" if c.grade_id == "bce_hidden" else None)
        for c in instructor_cells(notebook) if c.kind == TEST
    )
    result = SubmissionResult(student="ana", assignment="loss_functions", status="graded", parts=parts)
    before = copy.deepcopy(notebook.cells)
    write_outputs(notebook, result)
    return notebook, before, {p.grade_id: p for p in parts}


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def test_every_test_cell_gets_the_feedback_and_the_score(graded):
    notebook, _, parts = graded
    written = [cell for cell in notebook.cells if grade_id(cell) in parts]
    assert len(written) == 15
    for cell in written:
        part = parts[grade_id(cell)]
        stream, result = cell.outputs
        assert (stream.output_type, stream.name, stream.text) == ("stream", "stdout", render_part(part))
        assert result.output_type == "execute_result"
        assert float(result.data["text/plain"]) == part.score


def test_nbgraders_determine_grade_reads_exactly_the_parts_score(graded):
    notebook, _, parts = graded
    for cell in notebook.cells:
        if grade_id(cell) in parts:
            part = parts[grade_id(cell)]
            assert determine_grade(cell) == (part.score, part.max_score), grade_id(cell)


def test_hidden_test_code_is_stripped_and_public_tests_are_kept(graded):
    notebook, before, parts = graded
    for cell, original in zip(notebook.cells, before):
        if grade_id(cell) not in parts:
            continue
        assert "BEGIN HIDDEN TESTS" not in cell.source and "grade_part" not in cell.source
        if "### BEGIN HIDDEN TESTS" in original.source:
            kept = original.source.split("### BEGIN HIDDEN TESTS")[0].rstrip()
            assert cell.source == kept  # the comment that says what the hidden tests check
        else:
            assert cell.source == original.source.rstrip()


def test_cell_that_was_only_hidden_tests_keeps_a_placeholder():
    notebook = read_notebook(SOURCE)
    cell = next(c for c in notebook.cells if grade_id(c) == "mse_hidden")
    cell.source = "### BEGIN HIDDEN TESTS\ngrade_part('mse_hidden', globals())\n### END HIDDEN TESTS\n"
    part = PartResult(grade_id="mse_hidden", title="mse", functions=("mse",), max_score=5.0, score=5.0)
    write_outputs(notebook, SubmissionResult(student="a", assignment="loss_functions", status="graded",
                                             parts=(part,)))
    assert cell.source == "# Hidden tests"
    assert determine_grade(cell) == (5.0, 5.0)


def test_other_cells_are_left_alone(graded):
    notebook, before, parts = graded
    for cell, original in zip(notebook.cells, before):
        if grade_id(cell) not in parts:
            assert cell == original


def test_record_path_is_outside_every_student_writable_folder(tmp_path):
    path = record_path(tmp_path, "loss_functions", "ana")
    assert path == tmp_path / "grading" / "loss_functions" / "ana.json"
    relative = path.relative_to(tmp_path).parts
    assert not {"submitted", "autograded", "feedback", "release", "source", "exchange"} & set(relative)


def test_curve_images_reach_nbgraders_feedback_and_do_not_change_the_score():
    from autograder.judge.results import CheckResult

    notebook = read_notebook(SOURCE)
    png = b"\x89PNG\r\n\x1a\n fake image bytes"
    part = PartResult(grade_id="plot_surface_test", title="plot", functions=("mse_surface", "fig_surface"),
                      max_score=2, score=0.5,
                      checks=(CheckResult(name="draws the MSE curve", passed=False, image_png=png),))
    write_outputs(notebook, SubmissionResult(student="ana", assignment="loss_functions", status="graded",
                                             parts=(part,)))
    cell = next(c for c in notebook.cells if grade_id(c) == "plot_surface_test")
    kinds = [o.output_type for o in cell.outputs]
    assert kinds == ["stream", "display_data", "execute_result"]
    assert cell.outputs[1].data["image/png"] == "iVBORw0KGgogZmFrZSBpbWFnZSBieXRlcw=="
    assert determine_grade(cell) == (0.5, 2.0)
