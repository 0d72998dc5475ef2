"""What runs and what is graded comes from the instructor's notebook, whatever the student did
to theirs: edited locked cells, deleted or duplicated grade cells, retagged or extra cells."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from autograder.judge.notebook import (
    LOCKED, MANUAL, SOLUTION, TEST, instructor_cells, plan_submission, read_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "loss_functions" / "loss_functions.ipynb"

ROLES = {
    LOCKED: {"locked": True, "solution": False, "grade": False},
    SOLUTION: {"locked": False, "solution": True, "grade": False},
    TEST: {"locked": True, "solution": False, "grade": True, "points": 2},
}


def cell(source: str, grade_id: str | None = None, role: str | None = None):
    """A code cell; with a role it carries nbgrader metadata like the real notebook's cells."""
    new = v4.new_code_cell(source)
    if grade_id is not None:
        new.metadata["nbgrader"] = {**ROLES.get(role or LOCKED, {}), "grade_id": grade_id,
                                    "schema_version": 3}
    return new


def notebook(*cells):
    return v4.new_notebook(cells=list(cells))


# The instructor's tiny notebook: setup, an answer, its test.
INSTRUCTOR_NB = notebook(
    cell("import torch", "setup", LOCKED),
    cell("def f(x):\n    return x  # solution", "f_solution", SOLUTION),
    cell("assert f(1) == 1  # instructor test", "f_test", TEST),
)
INSTRUCTOR = instructor_cells(INSTRUCTOR_NB)


def kinds(flags, kind):
    return [f for f in flags if f.kind == kind]


def test_instructor_cells_of_the_real_notebook():
    cells = instructor_cells(read_notebook(SOURCE))
    by_id = {c.grade_id: c for c in cells}
    tests = [c for c in cells if c.kind == TEST]
    manual = [c for c in cells if c.kind == MANUAL]
    assert sum(c.points for c in tests) == 36
    assert sum(c.points for c in manual) == 8
    assert {c.grade_id for c in manual} == {"written_bowl", "written_outlier_rl"}
    assert all(c.cell_type == "markdown" for c in manual)
    assert by_id["mse_hidden"].kind == TEST and by_id["mse_hidden"].points == 5
    assert by_id["bce_hidden"].points == 6
    assert by_id["setup"].kind == LOCKED
    assert by_id["mse_solution"].kind == SOLUTION
    assert by_id["plot_outlier_solution"].kind == SOLUTION
    assert len(tests) == 15
    assert len([c for c in cells if c.kind == SOLUTION]) == 9


def test_untouched_submission_runs_locked_and_solution_cells_only():
    plan = plan_submission(INSTRUCTOR, INSTRUCTOR_NB)
    assert plan.cells == ("import torch", "def f(x):\n    return x  # solution")
    assert [t.grade_id for t in plan.tests] == ["f_test"]
    assert plan.flags == ()


def test_locked_cell_runs_the_instructor_source_even_if_edited():
    submission = notebook(
        cell("import torch\nimport builtins  # edited", "setup", LOCKED),
        cell("def f(x):\n    return 2 * x", "f_solution", SOLUTION),
        cell("assert f(1) == 1", "f_test", TEST),
    )
    plan = plan_submission(INSTRUCTOR, submission)
    assert plan.cells == ("import torch", "def f(x):\n    return 2 * x")
    assert "def f(x):\n    return 2 * x" in plan.student_cells
    assert not any("builtins" in s for s in plan.cells + plan.student_cells)


def test_test_cells_never_run_even_if_the_student_rewrote_them():
    submission = notebook(
        cell("import torch", "setup", LOCKED),
        cell("def f(x):\n    return x", "f_solution", SOLUTION),
        cell("print('I passed')", "f_test", TEST),
    )
    plan = plan_submission(INSTRUCTOR, submission)
    assert not any("assert" in s or "I passed" in s for s in plan.cells)
    assert plan.tests[0].source == "assert f(1) == 1  # instructor test"


def test_deleted_test_cell_is_still_graded_and_flagged():
    submission = notebook(
        cell("import torch", "setup", LOCKED),
        cell("def f(x):\n    return x", "f_solution", SOLUTION),
    )
    plan = plan_submission(INSTRUCTOR, submission)
    assert [t.grade_id for t in plan.tests] == ["f_test"]
    missing = kinds(plan.flags, "missing-cell")
    assert len(missing) == 1 and "f_test" in missing[0].detail and "restored" in missing[0].detail


def test_deleted_solution_cell_is_flagged_and_nothing_runs_in_its_place():
    submission = notebook(cell("import torch", "setup", LOCKED), cell("x", "f_test", TEST))
    plan = plan_submission(INSTRUCTOR, submission)
    assert plan.cells == ("import torch",)
    missing = kinds(plan.flags, "missing-cell")
    assert len(missing) == 1 and "f_solution" in missing[0].detail and "missing" in missing[0].detail


def test_deleted_locked_cell_is_restored_and_flagged():
    submission = notebook(cell("def f(x):\n    return x", "f_solution", SOLUTION))
    plan = plan_submission(INSTRUCTOR, submission)
    assert plan.cells == ("import torch", "def f(x):\n    return x")
    assert [f.detail for f in kinds(plan.flags, "missing-cell")][0].startswith("cell 'setup'")


def test_duplicated_grade_cell_is_flagged_and_the_first_answer_runs_once():
    submission = notebook(
        cell("import torch", "setup", LOCKED),
        cell("def f(x):\n    return x  # first", "f_solution", SOLUTION),
        cell("def f(x):\n    return 0  # second", "f_solution", SOLUTION),
        cell("assert True", "f_test", TEST),
        cell("assert True", "f_test", TEST),
    )
    plan = plan_submission(INSTRUCTOR, submission)
    assert plan.cells == ("import torch", "def f(x):\n    return x  # first")
    assert len(kinds(plan.flags, "duplicate-cell")) == 2
    assert [t.grade_id for t in plan.tests] == ["f_test"]


def test_unknown_grade_id_is_flagged_and_runs_as_student_code():
    submission = notebook(
        cell("import torch", "setup", LOCKED),
        cell("def f(x):\n    return x", "f_solution", SOLUTION),
        cell("bonus = 1", "f_hidden_bonus", TEST),
        cell("assert True", "f_test", TEST),
    )
    plan = plan_submission(INSTRUCTOR, submission)
    assert plan.cells == ("import torch", "def f(x):\n    return x", "bonus = 1")
    assert "bonus = 1" in plan.student_cells
    unknown = kinds(plan.flags, "unknown-cell")
    assert len(unknown) == 1 and "f_hidden_bonus" in unknown[0].detail
    assert [t.grade_id for t in plan.tests] == ["f_test"]


def test_scratch_cells_keep_their_place_after_the_instructor_cell_they_followed():
    submission = notebook(
        cell("before = 0"),
        cell("import torch", "setup", LOCKED),
        cell("after_setup = 1"),
        cell("def f(x):\n    return x", "f_solution", SOLUTION),
        cell("assert True", "f_test", TEST),
        cell("after_test = 2"),
    )
    plan = plan_submission(INSTRUCTOR, submission)
    assert plan.cells == ("before = 0", "import torch", "after_setup = 1",
                          "def f(x):\n    return x", "after_test = 2")
    assert set(plan.student_cells) == {"before = 0", "after_setup = 1", "after_test = 2",
                                       "def f(x):\n    return x"}
    assert plan.flags == ()


def test_markdown_cells_are_ignored():
    submission = notebook(
        v4.new_markdown_cell("# my notes"),
        *INSTRUCTOR_NB.cells,
        v4.new_markdown_cell("import os  # not code"),
    )
    plan = plan_submission(INSTRUCTOR, submission)
    assert plan.cells == plan_submission(INSTRUCTOR, INSTRUCTOR_NB).cells
    assert not any("notes" in s or "import os" in s for s in plan.student_cells)


def test_manual_parts_of_the_real_notebook_are_listed_and_never_run():
    source = read_notebook(SOURCE)
    plan = plan_submission(instructor_cells(source), source)
    assert [c.grade_id for c in plan.manual] == ["written_bowl", "written_outlier_rl"]
    assert plan.flags == ()
    assert not any("grade_part" in s for s in plan.cells)


@pytest.mark.parametrize("content, reason", [
    ("{not json", "JSON"),
    ('{"metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "cells"),
    ('{"cells": [], "metadata": {}, "nbformat": 3, "nbformat_minor": 0}', "worksheets"),
    ('{"cells": [], "metadata": {}, "nbformat": 5, "nbformat_minor": 0}', "nbformat"),
])
def test_read_notebook_bad_files_raise_value_error_with_path_and_reason(tmp_path, content, reason):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    with pytest.raises(ValueError) as info:
        read_notebook(path)
    message = str(info.value)
    assert str(path) in message and "not a readable notebook" in message
    assert reason.lower() in message.lower(), message


def test_read_notebook_upgrades_a_valid_nbformat_3_notebook(tmp_path):
    """nbformat converts a well-formed v3 file to v4, as nbgrader does; it has no grade ids, so
    grading it flags every instructor cell as missing rather than failing."""
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps({
        "metadata": {"name": ""}, "nbformat": 3, "nbformat_minor": 0,
        "worksheets": [{"metadata": {}, "cells": [
            {"cell_type": "code", "input": "x = 1", "language": "python", "metadata": {},
             "outputs": [], "collapsed": False}]}],
    }))
    upgraded = read_notebook(path)
    assert upgraded.nbformat == 4 and upgraded.cells[0].source == "x = 1"
    plan = plan_submission(INSTRUCTOR, upgraded)
    assert len(kinds(plan.flags, "missing-cell")) == 3


def test_read_notebook_round_trip(tmp_path):
    path = tmp_path / "ok.ipynb"
    nbformat.write(INSTRUCTOR_NB, str(path))
    assert [c.grade_id for c in instructor_cells(read_notebook(path))] == ["setup", "f_solution", "f_test"]
