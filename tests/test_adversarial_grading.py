"""Student code can neither see the tests nor fool them: cheats graded by the REAL grader in REAL bwrap.

Each test grades a notebook built from the course's own notebooks with one cheat in it and
checks that the cheat earns no point it did not deserve and leaves the flag a TA needs. The
"cheater who implemented nothing" starts from the release notebook, whose stubs earn 0, so any
point is a hole. Attacks on the sandbox itself are in ``test_sandbox_attacks.py``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import cheats
from autograder.judge.grader import Assignment, Settings, grade_notebook_file, grade_submission
from autograder.judge.results import SubmissionResult
from autograder.reports.feedback_text import render_submission
from autograder.reports.records import result_to_json
from autograder.sandbox.bwrap import BwrapSandbox
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.limits import Limits
from course_copy import copy_course

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here"),
]
FAST = Limits(cell_seconds=10, call_seconds=5)
SETTINGS = Settings(max_examples=10)
TOTAL = 36.0
PARTS_OF = {  # grade ids whose checks call each function (outlier_sweep and its plot call mse and mae)
    "mse": {"mse_public", "mse_hidden", "outlier_sweep_public", "outlier_sweep_hidden", "plot_outlier_test"},
    "mae": {"mae_public", "mae_hidden", "outlier_sweep_public", "outlier_sweep_hidden", "plot_outlier_test"},
    "bce": {"bce_public", "bce_hidden"},
}


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return Assignment.load("loss_functions")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course root with a gradebook, records and two students; bob's notebook has every answer."""
    root = copy_course(tmp_path_factory.mktemp("course"))
    (root / "gradebook.db").write_bytes(b"SQLite format 3\x00 pretend gradebook")
    (root / "grading/loss_functions").mkdir(parents=True)
    (root / "grading/loss_functions/bob.json").write_text('{"score": 36}')
    for student in ("alice", "bob"):
        (root / "submitted" / student / "loss_functions").mkdir(parents=True)
    (root / "submitted/bob/loss_functions/loss_functions.ipynb").write_text(
        (root / "source/loss_functions/loss_functions.ipynb").read_text())
    return root


def grade(assignment: Assignment, nb, files: Path | None = None, limits: Limits = FAST) -> SubmissionResult:
    return grade_submission("mallory", assignment, nb, sandbox_factory(limits, files, isolate=True), SETTINGS)


def kinds(result: SubmissionResult) -> set[str]:
    return {flag.kind for flag in result.flags}


def scores(result: SubmissionResult) -> dict[str, float]:
    return {part.grade_id: part.score for part in result.parts}


def messages(result: SubmissionResult, grade_id: str) -> str:
    part = next(p for p in result.parts if p.grade_id == grade_id)
    return "\n".join([part.error or ""] + [check.message for check in part.checks if not check.passed])


def tree_hash(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*")) if "__pycache__" not in p.parts}


def assert_nothing_earned(result: SubmissionResult) -> None:
    assert result.status == "graded"
    assert result.max_score == TOTAL
    assert result.score == 0.0, {k: v for k, v in scores(result).items() if v}


def assert_only_lost(result: SubmissionResult, lost: set[str]) -> None:
    """A fault in one function costs the parts that call it and nothing else."""
    assert result.status == "graded" and result.max_score == TOTAL
    got = scores(result)
    assert {g for g, s in got.items() if s == 0} == lost
    assert all(got[g] == part.max_score for part in result.parts for g in [part.grade_id] if g not in lost)


# --- 1. comparisons ------------------------------------------------------------------------------
def test_replacing_comparisons_and_library_losses_earns_nothing(assignment: Assignment) -> None:
    result = grade(assignment, cheats.stubs_with(cheats.PATCH_COMPARISONS))
    assert_nothing_earned(result)
    assert "tamper" in kinds(result)


# --- 2, 3. course files and other students ------------------------------------------------------
def test_course_files_are_neither_readable_nor_writable(assignment: Assignment, course: Path) -> None:
    secrets = [course / "source/loss_functions/loss_functions.ipynb", course / "gradebook.db",
               course / "assignments/loss_functions/parts.py", course / "grading/loss_functions/bob.json",
               cheats.REPO / "source/loss_functions/loss_functions.ipynb", cheats.REPO / "gradebook.db"]
    paths = [str(p) for p in secrets] + ["../../../source/loss_functions/loss_functions.ipynb",
                                         "/opt/grader/../../work/main/source/loss_functions/loss_functions.ipynb"]
    before = tree_hash(course)
    nb = cheats.stubs_with(cheats.steal_solutions(paths))
    cheats.add_after(nb, "setup", cheats.vandalise([str(p) for p in secrets[:4]] + [str(course / "source")]))
    result = grade(assignment, nb, files=course / "submitted/alice/loss_functions")
    assert_nothing_earned(result)
    assert tree_hash(course) == before
    assert {"sandbox-escape", "tamper"} <= kinds(result)


def test_another_students_submission_is_invisible(assignment: Assignment, course: Path) -> None:
    bob = course / "submitted/bob/loss_functions/loss_functions.ipynb"
    paths = [str(bob), "../bob/loss_functions/loss_functions.ipynb", "../../bob/loss_functions/loss_functions.ipynb",
             "/home/bob/loss_functions.ipynb", "loss_functions.ipynb"]
    result = grade(assignment, cheats.stubs_with(cheats.steal_solutions(paths)),
                   files=course / "submitted/alice/loss_functions")
    assert_nothing_earned(result)


# --- 4. IPython hooks ------------------------------------------------------------------------------
def test_ipython_hooks_cannot_rewrite_the_test_cells(assignment: Assignment) -> None:
    result = grade(assignment, cheats.stubs_with(cheats.IPYTHON_HOOKS))
    assert_nothing_earned(result)
    assert "tamper" in kinds(result)


# --- 5. the notebook's structure -----------------------------------------------------------------
TESTS = [c.grade_id for c in Assignment.load("loss_functions").instructor if c.kind == "test"]


def _tag_skip(nb):
    for grade_id in TESTS:
        cheats.cell(nb, grade_id).metadata["tags"] = ["skip-execution", "raises-exception"]
    return nb


def _replace_tests(body: str):
    def edit(nb):
        for grade_id in TESTS:
            cheats.cell(nb, grade_id).source = body
        return nb
    return edit


def _delete_tests(nb):
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in TESTS]
    return nb


def _duplicate_tests(nb):
    for grade_id in TESTS:
        cheats.add_after(nb, grade_id, "1.0", dict(cheats.cell(nb, grade_id).metadata["nbgrader"]))
    return nb


def _rename_tests(nb):
    for grade_id in TESTS:
        cheats.cell(nb, grade_id).metadata["nbgrader"]["grade_id"] = grade_id + "_mine"
    return nb


def _claim_test_ids(nb):
    for grade_id in TESTS:
        meta = {"grade": True, "grade_id": grade_id, "locked": False, "solution": False, "points": 100}
        cheats.add_after(nb, "setup", "100.0", meta)
    cheats.add_after(nb, "setup", "100.0", {"grade": True, "grade_id": "bonus", "solution": False, "points": 100})
    return nb


@pytest.mark.parametrize("edit, flags", [
    (_tag_skip, set()),
    (_replace_tests("pass"), set()),
    (_replace_tests("0"), set()),
    (_replace_tests("print(6)"), set()),
    (_replace_tests("6.0"), set()),
    (_delete_tests, {"missing-cell"}),
    (_duplicate_tests, {"duplicate-cell"}),
    (_rename_tests, {"missing-cell", "unknown-cell"}),
    (_claim_test_ids, {"duplicate-cell", "unknown-cell"}),
], ids=["skip-execution", "pass", "zero", "print", "score-literal", "deleted", "duplicated", "renamed", "claimed"])
def test_test_cells_are_graded_from_the_instructor_side(assignment: Assignment, edit, flags: set[str]) -> None:
    result = grade(assignment, edit(cheats.notebook("release")))
    assert_nothing_earned(result)
    assert [p.grade_id for p in result.parts] == TESTS
    assert flags <= kinds(result)


def test_a_duplicated_test_cell_does_not_count_twice_on_a_correct_notebook(assignment: Assignment) -> None:
    result = grade(assignment, _duplicate_tests(cheats.notebook("source")))
    assert result.score == result.max_score == TOTAL
    assert "duplicate-cell" in kinds(result)


# --- 6. swallowed failures, sys.exit --------------------------------------------------------------
def test_swallowing_exceptions_earns_nothing(assignment: Assignment) -> None:
    result = grade(assignment, cheats.stubs_with(cheats.SWALLOW, after="outlier_sweep_solution"))
    assert_nothing_earned(result)


def test_sys_exit_in_a_cell_costs_nothing_else(assignment: Assignment) -> None:
    nb = cheats.solution_with("import sys\nsys.exit(0)\n", after="mse_solution")
    cheats.add_after(nb, "setup", "raise SystemExit('bye')\n")
    result = grade(assignment, nb)
    assert result.score == TOTAL


# --- 7. lying return values -------------------------------------------------------------------------
@pytest.mark.parametrize("liar", sorted(cheats.LIARS))
def test_a_lying_return_value_fails_with_a_clear_message(assignment: Assignment, liar: str) -> None:
    nb = cheats.answer(cheats.notebook("release"), "mse_solution", cheats.LIARS[liar])
    result = grade(assignment, nb)
    assert_nothing_earned(result)
    message = messages(result, "mse_public")
    assert "expected a torch.Tensor" in message or "must be a torch.Tensor" in message or "NaN" in message, message
    assert "Traceback" not in message


# --- 8. hangs, memory bombs, kernel deaths --------------------------------------------------------
def test_a_hanging_mse_costs_only_the_parts_that_call_it(assignment: Assignment) -> None:
    result = grade(assignment, cheats.answer(cheats.notebook("source"), "mse_solution", cheats.HANG_MSE))
    assert_only_lost(result, PARTS_OF["mse"])
    assert "timed out after 5 s" in messages(result, "mse_hidden")


def test_a_memory_bomb_in_mae_costs_only_the_parts_that_call_it(assignment: Assignment) -> None:
    result = grade(assignment, cheats.answer(cheats.notebook("source"), "mae_solution", cheats.MEMORY_BOMB_MAE))
    assert_only_lost(result, PARTS_OF["mae"])
    assert "memory" in messages(result, "mae_public").lower()


@pytest.mark.parametrize("how", sorted(cheats.SUICIDE_BCE))
def test_a_kernel_killed_inside_bce_costs_only_bce(assignment: Assignment, how: str) -> None:
    result = grade(assignment, cheats.answer(cheats.notebook("source"), "bce_solution", cheats.SUICIDE_BCE[how]))
    assert_only_lost(result, PARTS_OF["bce"])
    assert "the kernel died" in messages(result, "bce_public")


@pytest.fixture(scope="module")
def looping_cell(assignment: Assignment) -> SubmissionResult:
    return grade(assignment, cheats.solution_with(cheats.TOP_LEVEL_LOOP, after="mae_solution"))


def test_an_infinite_loop_at_the_top_of_a_cell_costs_nothing_else(looping_cell: SubmissionResult) -> None:
    assert looping_cell.score == TOTAL


def test_a_cell_that_timed_out_is_reported_to_the_student(looping_cell: SubmissionResult) -> None:
    assert any("timed out" in error for error in looping_cell.cell_errors)
    assert "timed out" in render_submission(looping_cell)


# --- 9. processes, output, network ----------------------------------------------------------------
def test_no_spawned_process_survives_grading(assignment: Assignment) -> None:
    marker = f"ADVERSARIAL-GRADING-{os.getpid()}"
    result = grade(assignment, cheats.solution_with(cheats.spawn(marker), after="bce_solution"))
    assert result.score == TOTAL
    assert "tamper" in kinds(result)
    survivors = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and marker in Path(entry.path, "cmdline").read_bytes().decode(errors="replace"):
                if "\nState:\tZ" not in Path(entry.path, "status").read_text():
                    survivors.append(entry.name)
        except OSError:
            continue
    assert survivors == []


def test_a_flood_of_output_is_graded_normally(assignment: Assignment) -> None:
    result = grade(assignment, cheats.solution_with(cheats.FLOOD, after="mse_solution"))
    assert result.score == TOTAL


def test_a_network_connection_fails_and_is_flagged(assignment: Assignment) -> None:
    result = grade(assignment, cheats.solution_with(cheats.NETWORK))
    assert result.score == TOTAL
    assert "sandbox-escape" in kinds(result)
    assert any("unreachable" in f.detail.lower() for f in result.flags if f.kind == "sandbox-escape")


# --- 10. forbidden library losses ------------------------------------------------------------------
@pytest.mark.parametrize("variant", sorted(cheats.FORBIDDEN_MSE))
def test_a_library_loss_is_correct_but_flagged(assignment: Assignment, variant: str) -> None:
    result = grade(assignment, cheats.answer(cheats.notebook("source"), "mse_solution", cheats.FORBIDDEN_MSE[variant]))
    if not variant.startswith("alias of torch._C"):  # the raw op takes no keywords: only the flag matters
        assert result.score == TOTAL
    details = [f.detail for f in result.flags if f.kind == "forbidden-call"]
    assert any("mse" in d for d in details), result.flags
    if variant in ("F.mse_loss", "nn.MSELoss"):
        assert any("while being graded" in d for d in details) and any("by hand" in d for d in details)


# --- 11. malformed files --------------------------------------------------------------------------
NBFORMAT3 = ('{"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [{"cells": '
             '[{"cell_type": "code", "input": "def mse(a, b):\\n    return 0", "language": "python", '
             '"metadata": {}, "outputs": [], "collapsed": false}], "metadata": {}}]}')


@pytest.mark.parametrize("text, reason", [
    ("{ this is not json", "JSON"),
    ('{"metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "cells"),
    ("", "JSON"),
], ids=["bad-json", "no-cells", "empty"])
def test_a_malformed_notebook_is_ungradable_with_a_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "mallory.ipynb"
    path.write_text(text)
    result = grade_notebook_file(path, "loss_functions", limits=FAST, settings=SETTINGS)
    assert result.status == "ungradable" and result.parts == ()
    assert reason in (result.reason or ""), result.reason


def test_an_nbformat_3_notebook_is_upgraded_and_every_answer_flagged_missing(tmp_path: Path) -> None:
    """As nbgrader does (see test_notebook_plan): not ungradable, but never a silent zero."""
    path = tmp_path / "mallory.ipynb"
    path.write_text(NBFORMAT3)
    result = grade_notebook_file(path, "loss_functions", limits=FAST, settings=SETTINGS)
    assert result.status == "graded" and result.score == 0.0
    missing = [f.detail for f in result.flags if f.kind == "missing-cell"]
    assert sum("mse_solution" in d for d in missing) == 1 and len(missing) >= 9


# --- 12. determinism --------------------------------------------------------------------------------
def test_grading_a_cheat_twice_gives_identical_results(assignment: Assignment) -> None:
    nb = cheats.answer(cheats.notebook("source"), "mae_solution",
                       "def mae(y_pred, y_true):\n    return (y_pred - y_true).abs().sum()\n")
    cheats.add_after(nb, "setup", cheats.PATCH_COMPARISONS)
    first, second = grade(assignment, nb), grade(assignment, nb)
    assert 0 < first.score < TOTAL
    assert result_to_json(first) == result_to_json(second)


# --- 13. the three entry points and plain nbgrader agree on honest notebooks ----------------------
def _autograde(root: Path, student: str, nb, *, plain: bool) -> float:
    """Score of one submission from a real ``nbgrader autograde`` in the course at ``root``."""
    import subprocess

    import nbformat
    from nbgrader.api import Gradebook

    target = root / "submitted" / student / "loss_functions" / "loss_functions.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    env = dict(os.environ, PATH=f"{cheats.REPO / '.venv/bin'}{os.pathsep}{os.environ['PATH']}",
               AUTOGRADER_MAX_EXAMPLES="10", AUTOGRADER_EXCHANGE=str(root / "exchange"))
    env["AUTOGRADER_GRADER"] = "plain" if plain else "sandboxed"
    done = subprocess.run(["nbgrader", "autograde", "loss_functions", "--student", student, "--force", "--create",
                           "--SandboxedGrading.max_examples=10"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission("loss_functions", student)
        return round(submission.code_score, 6)


def test_the_entry_points_and_plain_nbgrader_agree(assignment: Assignment, tmp_path: Path) -> None:
    import subprocess

    import nbformat

    root = copy_course(tmp_path / "course")
    env = dict(os.environ, PATH=f"{cheats.REPO / '.venv/bin'}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["nbgrader", "generate_assignment", "loss_functions", "--force"], cwd=root, env=env,
                   check=True, capture_output=True, timeout=300)
    wrong = cheats.answer(cheats.notebook("source"), "mae_solution",
                          "def mae(y_pred, y_true):\n    return (y_pred - y_true).abs().sum()\n")
    for student, nb in (("honest", cheats.notebook("source")), ("sloppy", wrong)):
        direct = grade(assignment, nb, limits=Limits()).score
        path = tmp_path / f"{student}.ipynb"
        nbformat.write(nb, path)
        from_file = grade_notebook_file(path, "loss_functions", settings=SETTINGS).score
        sandboxed = _autograde(root, student, nb, plain=False)
        plain = _autograde(root, student + "_plain", nb, plain=True)
        assert direct == from_file == sandboxed == plain, (student, direct, from_file, sandboxed, plain)
    assert direct < TOTAL
