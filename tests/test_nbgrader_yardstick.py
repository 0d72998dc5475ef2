"""nbgrader's own material, graded through this course's configured (sandboxed) pipeline.

The yardstick of issue 12: the user-guide course shipped inside the installed ``nbgrader``
package (``ps1``, students ``bitdiddle`` and ``hacker``) must score exactly as stock nbgrader
scores it in the same run, and nbgrader's test notebooks (cheat attempts, infinite loops, a
sleeping test, side effects) must be handled at least as well as its own test suite expects.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbgrader
import pytest
from nbgrader.api import Gradebook

from tests.course_copy import REPO, copy_course

pytestmark = pytest.mark.slow
NBGRADER = Path(nbgrader.__file__).parent
USER_GUIDE = NBGRADER / "docs" / "source" / "user_guide"
TEST_FILES = NBGRADER / "tests" / "apps" / "files"


def run(course: Path, *argv: str, plain: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": str(course), "AUTOGRADER_GRADER": "plain" if plain else "sandboxed",
           "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))}  # nbgrader runs alembic
    env.pop("AUTOGRADER_SCHEDULER", None)
    done = subprocess.run(argv, cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def nbgrader_cmd(*argv: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "nbgrader", *argv)


def autograder_cmd(*argv: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "autograder", "--quiet", *argv)


def user_guide_course(dest: Path) -> Path:
    """This course with nbgrader's ps1 added as an instructor would, and its two submissions."""
    course = copy_course(dest)
    shutil.copytree(USER_GUIDE / "source" / "ps1", course / "source" / "ps1")
    shutil.copy(USER_GUIDE / "source" / "header.ipynb", course / "source" / "header.ipynb")
    for student in ("bitdiddle", "hacker"):
        shutil.copytree(USER_GUIDE / "submitted" / student / "ps1", course / "submitted" / student / "ps1")
    run(course, *nbgrader_cmd("generate_assignment", "ps1", "--IncludeHeaderFooter.header=source/header.ipynb"))
    return course


def grades(course: Path, assignment: str, student: str) -> tuple:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(assignment, student)
        cells = sorted((g.notebook.name, g.name, g.auto_score, g.max_score)
                       for nb in submission.notebooks for g in nb.grades)
        return submission.score, submission.max_score, submission.needs_manual_grade, cells


def test_user_guide_course_scores_as_stock_nbgrader(tmp_path: Path):
    stock = user_guide_course(tmp_path / "stock")
    run(stock, *nbgrader_cmd("autograde", "ps1"), plain=True)
    ours = user_guide_course(tmp_path / "ours")
    table = run(ours, *autograder_cmd("grade", "ps1", "--jobs", "1"))
    expected = {s: grades(stock, "ps1", s) for s in ("bitdiddle", "hacker")}
    assert expected["bitdiddle"][0] == 1.5 and expected["hacker"][0] == 3.0  # the user guide's grades.csv
    assert {s: grades(ours, "ps1", s) for s in expected} == expected
    assert "bitdiddle  1.5/3  graded" in table and "hacker     3/3    graded" in table
    # nbgrader's own `autograde` with the configured preprocessor, one notebook at a time, agrees.
    run(ours, *nbgrader_cmd("autograde", "ps1", "--force"))
    assert {s: grades(ours, "ps1", s) for s in expected} == expected
    run(ours, *autograder_cmd("feedback", "ps1"))
    page = (ours / "feedback" / "bitdiddle" / "ps1" / "feedback.html").read_text()
    assert "problem1.ipynb › correct_squares" in page and "assert squares(1) == [1]" in page
    run(ours, *autograder_cmd("report", "ps1"))
    assert "An ordinary nbgrader assignment" in (ours / "reports" / "ps1.html").read_text()


def assignment(course: Path, name: str, source: str, submissions: dict[str, str]) -> None:
    (course / "source" / name).mkdir(parents=True)
    shutil.copy(TEST_FILES / source, course / "source" / name / "p1.ipynb")
    for student, file in submissions.items():
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        shutil.copy(TEST_FILES / file, folder / "p1.ipynb")
    run(course, *nbgrader_cmd("generate_assignment", name))


@pytest.fixture(scope="module")
def test_notebooks(tmp_path_factory) -> Path:
    """nbgrader's test notebooks as assignments of a course copy with 2-second cells."""
    course = copy_course(tmp_path_factory.mktemp("nbgrader-tests"))
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.SandboxedGrading.cell_timeout = 2\n")
    assignment(course, "cheats", "submitted-unchanged.ipynb", {
        "foo": "submitted-unchanged.ipynb", "bar": "submitted-changed.ipynb",
        "spam": "submitted-cheat-attempt.ipynb", "eggs": "submitted-cheat-attempt-alternative.ipynb"})
    assignment(course, "loop", "infinite-loop.ipynb", {"foo": "infinite-loop.ipynb",
                                                        "bar": "infinite-loop-with-output.ipynb"})
    assignment(course, "sleepy", "timeout.ipynb", {"foo": "timeout.ipynb"})
    assignment(course, "side", "side-effects.ipynb", {"foo": "side-effects.ipynb"})
    return course


def test_cheat_attempts_score_as_nbgrader_expects(test_notebooks: Path):
    run(test_notebooks, *autograder_cmd("grade", "cheats"))
    # The numbers of nbgrader's test_grade_timestamp... test_autograde (tests/apps/test_nbgrader_autograde.py).
    expected = {"foo": (1, 7, False), "bar": (2, 7, True), "spam": (1, 7, True), "eggs": (1, 7, True)}
    assert {s: grades(test_notebooks, "cheats", s)[:3] for s in expected} == expected


def test_infinite_loops_cost_the_cell_not_the_class(test_notebooks: Path):
    table = run(test_notebooks, *autograder_cmd("grade", "loop"))
    assert "2 graded, 0 ungradable" in table  # stock nbgrader fails on the loop that prints
    for student in ("foo", "bar"):
        assert (test_notebooks / "autograded" / student / "loop" / "p1.ipynb").is_file()
        record = (test_notebooks / "grading" / "loop" / f"{student}.json").read_text()
        assert "timed out" in record


def test_a_sleeping_test_times_out_at_the_configured_limit(test_notebooks: Path):
    run(test_notebooks, *autograder_cmd("grade", "sleepy"))
    assert grades(test_notebooks, "sleepy", "foo")[0] == 0  # nbgrader's test: 0 with a 2 s timeout


def test_side_effects_stay_in_the_sandbox(test_notebooks: Path):
    run(test_notebooks, *autograder_cmd("grade", "side"))
    assert grades(test_notebooks, "side", "foo")[2] is False
    assert not list(test_notebooks.rglob("side-effect.txt"))  # stock nbgrader writes it to autograded/
    assert not list(REPO.rglob("side-effect.txt"))
