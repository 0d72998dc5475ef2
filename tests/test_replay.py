"""The replayed search is the search: a student whose answers follow an earlier student's search
gets byte-for-byte the full run's result without Hypothesis, and anyone else gets a full run."""
from __future__ import annotations

import pytest
import torch

from assignments.loss_functions.properties import MSE

from autograder.judge import batched, replay
from autograder.judge.subject import SandboxFunctions
from autograder.reports.feedback_text import render_part
from autograder.sandbox.inprocess import InProcessSandbox
from test_cache_equivalence import CASES, MAX_EXAMPLES, assignment, grade_parts, inputs  # noqa: F401

SUMS = "def mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).sum()\n"
SUMS_TOO = "def mse(a, b):\n    d = a - b\n    return (d * d).sum()\n"  # another hand, same answers
ROOT_OF = "def mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).mean().sqrt()\n"


@pytest.fixture
def searches(monkeypatch) -> list[str]:
    """Empty trees, and the name of every property a full Hypothesis search ran for."""
    replay.forget()
    ran: list[str] = []
    real = batched.run_property

    def counted(prop, *args, **kwargs):
        ran.append(prop.name)
        return real(prop, *args, **kwargs)

    monkeypatch.setattr(batched, "run_property", counted)
    yield ran
    replay.forget()


def _hidden(source: str, inputs) -> list:
    return grade_parts("mse", source, inputs)


@pytest.mark.slow
def test_the_same_mistake_written_differently_is_replayed_not_searched(searches, inputs):
    first = _hidden(SUMS, inputs)
    searched = len(searches)
    assert searched > 0
    second = _hidden(SUMS_TOO, inputs)
    assert len(searches) == searched, "the second student's searches were not replayed"
    full = _hidden(SUMS_TOO, None)
    assert [render_part(p) for p in second] == [render_part(p) for p in full]
    assert second == full and [p.score for p in first] == [p.score for p in second]


@pytest.mark.slow
def test_a_search_learnt_at_other_max_examples_is_not_replayed(searches, inputs, assignment):
    from autograder.judge.input_cache import load_or_build
    _hidden(SUMS, inputs)
    searched = len(searches)
    other = grade_parts("mse", SUMS, load_or_build(assignment, MAX_EXAMPLES + 5), MAX_EXAMPLES + 5)
    assert len(searches) > searched
    assert other == grade_parts("mse", SUMS, None, MAX_EXAMPLES + 5)


@pytest.mark.slow
def test_a_different_mistake_leaves_the_known_path_and_is_searched_in_full(searches, inputs):
    _hidden(SUMS, inputs)
    searched = len(searches)
    other = _hidden(ROOT_OF, inputs)
    assert len(searches) > searched
    assert other == _hidden(ROOT_OF, None)


@pytest.mark.slow
def test_the_whole_catalogue_replayed_in_one_process_equals_full_runs(searches, inputs):
    """Every catalogued mistake, graded one after another as a class would be: each one's result
    is the full run's, and the class as a whole ran fewer searches than it failed properties."""
    failed = searched = 0
    for name, source in CASES.items():
        function = name.split(".")[0]
        before = len(searches)
        fast = grade_parts(function, source, inputs)
        searched += len(searches) - before
        full = grade_parts(function, source, None)
        assert fast == full, name
        assert [render_part(p) for p in fast] == [render_part(p) for p in full], name
        failed += sum(not check.passed for part in fast for check in part.checks)
    assert 0 < searched < failed


def test_a_tree_never_grows_past_its_bound(monkeypatch):
    """A search longer than what is left of the bound is not learnt: memory stays bounded."""
    replay.forget()
    monkeypatch.setattr(replay, "MAX_NODES", 4)
    prop = MSE[0]
    steps = [((torch.full((1,), float(i)),), None) for i in range(5)]
    replay.learn(prop, 50, steps)
    assert replay.walk(prop, 50, SandboxFunctions(InProcessSandbox()).subject("mse")) is None
    replay.learn(prop, 50, steps[:3])
    replay.learn(MSE[1], 50, steps[:3])  # 3 + 3 > 4: the second is dropped
    assert replay._nodes == 3
    replay.forget()
