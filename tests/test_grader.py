"""The one grader: assignments load or fail with an instructor-readable reason, the source
notebook earns every point and the release none, and a bug in a part costs nobody points."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from autograder.errors import AuthoringError
from autograder.judge.grader import Assignment, Settings, grade_submission, ungradable
from autograder.judge.notebook import instructor_cells, read_notebook
from autograder.judge.results import PartResult
from autograder.sandbox.inprocess import InProcessSandbox

ROOT = Path(__file__).resolve().parents[1]
FAST = Settings(max_examples=10)

TINY_PARTS = '''
from autograder.judge.results import PartResult

class Doubles:
    title = "double(x) doubles"
    functions = ("double",)

    def grade(self, functions, *, max_score, max_examples, grade_id):
        ok = functions.subject("double").fault is None
        return PartResult(grade_id=grade_id, title=self.title, functions=self.functions,
                          max_score=max_score, score=max_score if ok else 0.0)

PARTS = {"double_test": Doubles()}
'''


def graded_cell(source: str, grade_id: str, **meta):
    cell = v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, "locked": False,
                                 "solution": False, "grade": False, **meta}
    return cell


def tiny_notebook(*extra_tests: str):
    return v4.new_notebook(cells=[
        graded_cell("import torch", "setup", locked=True),
        graded_cell("def double(x):\n    return 2 * x", "double_solution", solution=True),
        *(graded_cell("# hidden", gid, grade=True, locked=True, points=2) for gid in ("double_test", *extra_tests)),
    ])


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A temporary course root with its own ``assignments`` package, imported in place of the
    repository's for the length of one test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [n for n in sys.modules if n == "assignments" or n.startswith("assignments.")]:
        monkeypatch.delitem(sys.modules, name)
    (tmp_path / "assignments" / "tiny").mkdir(parents=True)
    (tmp_path / "assignments" / "__init__.py").write_text("")
    (tmp_path / "assignments" / "tiny" / "__init__.py").write_text("")
    (tmp_path / "source" / "tiny").mkdir(parents=True)
    yield tmp_path
    for name in [n for n in sys.modules if n == "assignments" or n.startswith("assignments.")]:
        del sys.modules[name]


def write_course(root: Path, notebook, parts: str | None = TINY_PARTS) -> None:
    nbformat.write(notebook, str(root / "source" / "tiny" / "tiny.ipynb"))
    if parts is not None:
        (root / "assignments" / "tiny" / "parts.py").write_text(parts)


def test_load_without_a_source_notebook_names_the_path(tmp_path):
    (tmp_path / "assignments" / "nothing_here").mkdir(parents=True)
    (tmp_path / "assignments" / "nothing_here" / "parts.py").write_text("PARTS = {}\n")
    with pytest.raises(AuthoringError) as info:
        Assignment.load("nothing_here", tmp_path)
    assert str(tmp_path / "source" / "nothing_here" / "nothing_here.ipynb") in str(info.value)


def test_load_without_parts_module_says_which_file(course):
    write_course(course, tiny_notebook(), parts=None)
    with pytest.raises(AuthoringError, match=r"no assignments/tiny/parts.py, so it is an ordinary nbgrader"):
        Assignment.load("tiny", course)


def test_load_lists_grade_cells_without_a_check(course):
    write_course(course, tiny_notebook("triple_test", "half_test"))
    with pytest.raises(AuthoringError) as info:
        Assignment.load("tiny", course)
    message = str(info.value)
    assert "['triple_test', 'half_test']" in message and "assignments/tiny/parts.py" in message
    assert "double_test" not in message


def test_load_and_grade_a_tiny_assignment(course):
    write_course(course, tiny_notebook())
    assignment = Assignment.load("tiny", course)
    assert assignment.functions == ("double",)
    assert [c.grade_id for c in assignment.instructor] == ["setup", "double_solution", "double_test"]
    result = grade_submission("ana", assignment, tiny_notebook(), InProcessSandbox, FAST)
    assert (result.score, result.max_score, result.flags) == (2.0, 2.0, ())


@pytest.fixture(scope="module")
def loss_functions() -> Assignment:
    return Assignment.load("loss_functions")


def test_source_notebook_earns_every_autograded_point(loss_functions):
    result = grade_submission("instructor", loss_functions,
                              read_notebook(ROOT / "source" / "loss_functions" / "loss_functions.ipynb"),
                              InProcessSandbox, FAST)
    assert result.status == "graded"
    assert (result.score, result.max_score) == (36.0, 36.0), [(p.grade_id, p.score, p.error) for p in result.parts]
    assert len(result.parts) == 15 and all(p.error is None for p in result.parts)
    assert result.manual_parts == ("written_bowl", "written_outlier_rl")
    assert result.flags == () and result.sandboxed


def test_release_notebook_earns_nothing_and_raises_no_flag(loss_functions):
    result = grade_submission("blank", loss_functions,
                              read_notebook(ROOT / "release" / "loss_functions" / "loss_functions.ipynb"),
                              InProcessSandbox, FAST)
    assert (result.score, result.max_score) == (0.0, 36.0)
    assert result.flags == ()


def test_without_the_sandbox_every_result_says_so(loss_functions):
    result = grade_submission("x", loss_functions, v4.new_notebook(), InProcessSandbox,
                              Settings(max_examples=10, sandboxed=False))
    assert not result.sandboxed
    assert "no-sandbox" in [f.kind for f in result.flags]
    assert result.score == 0.0


@dataclass
class FakePart:
    """A part whose ``grade`` either raises (a grader bug) or returns a fixed score."""

    score: float = 0.0
    bug: Exception | None = None
    title: str = "fake part"
    functions: tuple[str, ...] = ("double",)

    def grade(self, functions, *, max_score, max_examples, grade_id) -> PartResult:
        if self.bug is not None:
            raise self.bug
        return PartResult(grade_id=grade_id, title=self.title, functions=self.functions,
                          max_score=99.0, score=self.score)


def fake_assignment(part: FakePart) -> Assignment:
    return Assignment(name="tiny", instructor=instructor_cells(tiny_notebook()),
                      parts={"double_test": part}, functions=("double",))


def grade_tiny(part: FakePart):
    return grade_submission("ana", fake_assignment(part), tiny_notebook(), InProcessSandbox, FAST)


def test_grader_bug_in_a_part_is_recorded_and_scores_zero():
    result = grade_tiny(FakePart(bug=KeyError("weights")))
    [part] = result.parts
    assert part.score == 0.0 and part.max_score == 2.0
    assert "internal grader error" in part.error and "KeyError" in part.error and "course staff" in part.error
    assert (part.title, part.functions) == ("fake part", ("double",))
    assert result.status == "graded"


@pytest.mark.parametrize("score, expected", [(5.0, 2.0), (-1.0, 0.0), (1.25, 1.25), (2.0, 2.0)])
def test_scores_are_clamped_to_the_cells_points(score, expected):
    [part] = grade_tiny(FakePart(score=score)).parts
    assert (part.score, part.max_score) == (expected, 2.0)


def test_forbidden_library_loss_in_a_graded_function_is_flagged():
    submission = tiny_notebook()
    submission.cells[1].source = ("import torch.nn.functional as F\n"
                                  "def double(x):\n    return x + x + 0 * F.l1_loss(x, x)")
    assignment = fake_assignment(FakePart(score=2.0))
    flags = grade_submission("ana", assignment, submission, InProcessSandbox, FAST).flags
    assert [f.kind for f in flags] == ["forbidden-call"]  # the fake part never calls double()
    assert "double() uses l1_loss" in flags[0].detail


def test_ungradable_is_a_result_with_its_reason():
    result = ungradable("ana", "loss_functions", "x.ipynb is not a readable notebook: JSON", sandboxed=False)
    assert result.status == "ungradable" and result.reason.endswith("JSON")
    assert (result.parts, result.score, result.max_score, result.sandboxed) == ((), 0.0, 0.0, False)
