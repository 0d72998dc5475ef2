"""Ordinary nbgrader assignments (no parts.py): test cells run next to the student's code and
are scored by nbgrader's own rule, in a real child process with real IPython (the in-process
twin of the sandbox; the jail itself is exercised in test_nbgrader_yardstick.py)."""
from __future__ import annotations

import functools
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from autograder.errors import AuthoringError
from autograder.judge import test_cells
from autograder.judge.grader import Settings
from autograder.judge.notebook import plan_submission
from autograder.judge.test_cells import OrdinaryAssignment
from autograder.reports.feedback_text import render_submission
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.limits import Limits

LIMITS = Limits(cell_seconds=5, submission_seconds=60)
SETTINGS = Settings(sandboxed=False, limits=LIMITS)
HIDDEN = "### BEGIN HIDDEN TESTS\nassert double(21) == 42, 'the answer'\n### END HIDDEN TESTS"


def cell(kind: str, grade_id: str, source: str, points: float = 0, cell_type: str = "code"):
    meta = {"grade_id": grade_id, "locked": kind in ("test", "locked"), "schema_version": 3,
            "solution": kind in ("answer", "written"), "grade": kind in ("test", "written"),
            "points": points}
    make = v4.new_code_cell if cell_type == "code" else v4.new_markdown_cell
    return make(source, metadata={"nbgrader": meta})


def instructor() -> list:
    return [
        cell("locked", "setup", "import math"),
        cell("answer", "double_answer", "def double(x):\n    return 2 * x"),
        cell("test", "visible", "assert double(2) == 4\nassert double(0) == 0", points=1),
        cell("test", "hidden", "assert double(1) == 2\n" + HIDDEN, points=2),
        cell("test", "partial", "double(1) / 4", points=1),
        cell("test", "noisy", "import sys\nprint('careful', file=sys.stderr)", points=1),
        cell("written", "why", "Explain.", points=3, cell_type="markdown"),
    ]


def course(tmp_path: Path, answer: str | None = None, drop: str | None = None) -> tuple[OrdinaryAssignment, Path]:
    source = tmp_path / "source" / "hw"
    source.mkdir(parents=True)
    nbformat.write(v4.new_notebook(cells=instructor()), source / "hw.ipynb")
    (source / "data.txt").write_text("the instructor's data\n")
    submitted = tmp_path / "submitted" / "ada" / "hw"
    submitted.mkdir(parents=True)
    cells = instructor()
    if answer is not None:
        cells[1].source = answer
    cells = [c for c in cells if c.metadata.nbgrader["grade_id"] != drop]
    nbformat.write(v4.new_notebook(cells=cells), submitted / "hw.ipynb")
    (submitted / "data.txt").write_text("the student's data\n")
    return OrdinaryAssignment.load("hw", tmp_path), submitted


def grade(assignment: OrdinaryAssignment, files: Path):
    return test_cells.grade("ada", assignment, files, functools.partial(sandbox_factory, LIMITS, isolate=False),
                            SETTINGS)


def scores(result) -> dict[str, float]:
    return {p.grade_id: p.score for p in result.parts}


def test_tests_run_in_place_after_the_cells_they_follow(tmp_path: Path):
    assignment, files = course(tmp_path)
    plan = plan_submission(assignment.notebooks[0].cells, nbformat.read(files / "hw.ipynb", 4), run_tests=True)
    assert [plan.cells[i] for i in plan.test_cells] == [c.source for c in instructor()[2:6]]
    assert plan.cells.index("import math") < plan.cells.index(instructor()[1].source) < plan.test_cells[0]


def test_nbgrader_scoring_rules(tmp_path: Path):
    result = grade(*course(tmp_path))
    assert result.status == "graded"
    # full points, full points, a value of 0.5 is partial credit, stderr scores 0 (nbgrader's rule)
    assert scores(result) == {"visible": 1, "hidden": 2, "partial": 0.5, "noisy": 0}
    assert result.manual_parts == ("why",)
    noisy = {p.grade_id: p for p in result.parts}["noisy"]
    assert "stderr" in noisy.checks[0].message and "careful" in noisy.checks[0].message


def test_failures_say_where_without_showing_hidden_tests(tmp_path: Path):
    result = grade(*course(tmp_path, answer="def double(x):\n    return x + 2"))
    assert scores(result)["visible"] == 0
    assert "AssertionError, at line 2: assert double(0) == 0" in render_submission(result)
    result = grade(*course(tmp_path / "2", answer="def double(x):\n    return 2 * x if x < 20 else 0"))
    assert scores(result)["visible"] == 1 and scores(result)["hidden"] == 0
    text = render_submission(result)
    assert "AssertionError: the answer, in a hidden test" in text
    assert "double(21)" not in text and "HIDDEN" not in text


def test_deleted_test_cell_is_restored_and_flagged(tmp_path: Path):
    result = grade(*course(tmp_path, drop="hidden"))
    assert scores(result)["hidden"] == 2
    assert [f.kind for f in result.flags] == ["missing-cell", "no-sandbox"]


def test_instructor_files_overwrite_the_students(tmp_path: Path):
    assignment, files = course(tmp_path)
    nb = nbformat.read(files / "hw.ipynb", 4)
    nb.cells.insert(2, v4.new_code_cell("print(open('data.txt').read())\nassert 'instructor' in open('data.txt').read()"))
    nbformat.write(nb, files / "hw.ipynb")
    result = grade(assignment, files)
    assert result.cell_errors == ()
    assert (files / "data.txt").read_text() == "the student's data\n"  # the submission is never written


def test_a_crash_costs_only_the_tests_that_needed_the_dead_process(tmp_path: Path):
    assignment, files = course(tmp_path, answer="def double(x):\n    return 2 * x\nimport os\nos._exit(3)")
    result = grade(assignment, files)
    # The answer's cell died, so it is not replayed: `double` is undefined for the tests.
    assert scores(result)["visible"] == 0
    assert any("double_answer" in e for e in result.cell_errors)


def with_test(tmp_path: Path, index: int, source: str):
    """The class graded after the instructor rewrote the test cell at ``index``."""
    _, files = course(tmp_path)
    nb = nbformat.read(tmp_path / "source" / "hw" / "hw.ipynb", 4)
    nb.cells[index].source = source
    nbformat.write(nb, tmp_path / "source" / "hw" / "hw.ipynb")
    return grade(OrdinaryAssignment.load("hw", tmp_path), files)


def test_a_hanging_test_cell_times_out_and_the_rest_is_graded(tmp_path: Path):
    result = with_test(tmp_path, 2, "while True:\n    pass")
    assert scores(result) == {"visible": 0, "hidden": 2, "partial": 0.5, "noisy": 0}
    assert "timed out" in {p.grade_id: p for p in result.parts}["visible"].checks[0].message


def test_a_value_above_the_points_costs_the_part_with_a_reason(tmp_path: Path):
    result = with_test(tmp_path, 4, "7")
    part = {p.grade_id: p for p in result.parts}["partial"]
    assert part.score == 0 and "more than its 1 points" in part.checks[0].message


def test_missing_and_unreadable_notebooks(tmp_path: Path):
    assignment, files = course(tmp_path)
    (files / "hw.ipynb").unlink()
    missing = grade(assignment, files)
    assert missing.status == "graded" and missing.score == 0
    assert all("hw.ipynb was not submitted" in p.error for p in missing.parts)
    (files / "hw.ipynb").write_text("{not json")
    broken = grade(assignment, files)
    assert broken.status == "ungradable" and "not a readable notebook" in broken.reason


def test_a_property_assignment_without_its_parts_is_refused(tmp_path: Path):
    source = tmp_path / "source" / "lf"
    source.mkdir(parents=True)
    nbformat.write(v4.new_notebook(cells=[cell("test", "t", "from autograder.inkernel import grade_part\n"
                                                             "grade_part('t')", points=1)]), source / "lf.ipynb")
    with pytest.raises(AuthoringError, match="parts.py is missing"):
        OrdinaryAssignment.load("lf", tmp_path)


def test_autotest_lines_are_refused_not_passed(tmp_path: Path):
    source = tmp_path / "source" / "auto"
    source.mkdir(parents=True)
    nbformat.write(v4.new_notebook(cells=[cell("test", "t", "### AUTOTEST squares(1)", points=1)]),
                   source / "p1.ipynb")
    with pytest.raises(AuthoringError, match="AUTOTEST"):
        OrdinaryAssignment.load("auto", tmp_path)


def test_odd_files_in_a_submission_are_left_out(tmp_path: Path):
    import os

    assignment, files = course(tmp_path)
    os.mkfifo(files / "pipe")
    (files / "link").symlink_to("/etc/passwd")
    nb = nbformat.read(files / "hw.ipynb", 4)
    nb.cells.insert(2, v4.new_code_cell("import os\nassert not {'pipe', 'link'} & set(os.listdir('.')), os.listdir('.')"))
    nbformat.write(nb, files / "hw.ipynb")
    assert grade(assignment, files).cell_errors == ()
