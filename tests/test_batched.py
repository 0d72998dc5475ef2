"""The batched fast path: passing properties are judged from cached inputs in one batch per round
without a search, failures fall back to Hypothesis, a fault while prefetching is not sticky, and
the server reseeds every call so a remembered reply equals a fresh one."""
from __future__ import annotations

import pytest
import torch

from assignments.loss_functions import properties as hidden
from autograder.judge import batched
from autograder.judge.input_cache import InputCache, record_inputs
from autograder.judge.memo import digest
from autograder.judge.properties import run_property
from autograder.judge.subject import SandboxFunctions
from autograder.sandbox.base import Call, SandboxDied
from autograder.sandbox.inprocess import InProcessSandbox

MAX_EXAMPLES = 15
VALUE, SCALAR, GRADIENT, UNCHANGED = hidden.MSE  # the four rules of a reduced loss
RIGHT = "def mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).mean()\n"
SUMS = "def mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).sum()\n"


class CountingSandbox(InProcessSandbox):
    """Counts round trips; ``fail_batches`` makes every call of more than one function call die."""

    def __init__(self, fail_batches: bool = False) -> None:
        super().__init__()
        self.fail_batches = fail_batches
        self.batches: list[int] = []

    def call_batch(self, calls, timeout=None):
        self.batches.append(len(calls))
        if self.fail_batches and len(calls) > 1:
            raise SandboxDied("the sandbox process died")
        return super().call_batch(calls, timeout)


@pytest.fixture(scope="module")
def inputs() -> InputCache:
    return InputCache(MAX_EXAMPLES, {p: record_inputs(p, MAX_EXAMPLES) for p in (VALUE, SCALAR, GRADIENT)})


def functions(source: str, sandbox: CountingSandbox, inputs: InputCache | None):
    assert sandbox.run_cell("import torch\nimport numpy as np\nimport random\n" + source).error is None
    return SandboxFunctions(sandbox, inputs=inputs)


def judge(prop, source: str, inputs: InputCache | None, sandbox: CountingSandbox | None = None):
    sandbox = sandbox or CountingSandbox()
    subject = functions(source, sandbox, inputs).subject(prop.function)
    return batched.judge_property(prop, subject, max_examples=MAX_EXAMPLES, inputs=inputs), subject, sandbox


def test_a_passing_property_needs_no_search_and_one_batch(inputs, monkeypatch):
    monkeypatch.setattr(batched, "run_property", lambda *a, **k: pytest.fail("searched"))
    for prop in (VALUE, SCALAR, GRADIENT):  # SCALAR calls twice per input, GRADIENT with autograd on
        result, _, sandbox = judge(prop, RIGHT, inputs)
        assert result.passed and len(sandbox.batches) == 1
        assert sandbox.batches[0] == len({digest(args) for args in inputs.of(prop)})


def test_a_failing_property_is_hypothesiss_own_result_from_the_replies_fetched(inputs):
    fast, subject, sandbox = judge(VALUE, SUMS, inputs)
    full, _, _ = judge(VALUE, SUMS, None)
    assert fast == full and not fast.passed
    assert sandbox.batches[0] > 1 and set(sandbox.batches[1:]) == {1}  # then one by one, as a search does
    assert subject.fault is None


def test_without_cached_inputs_it_is_a_plain_search(inputs):
    result, subject, sandbox = judge(UNCHANGED, RIGHT, inputs)  # UNCHANGED is not in this cache
    assert result == run_property(UNCHANGED, functions(RIGHT, CountingSandbox(), None).subject("mse"),
                                  max_examples=MAX_EXAMPLES)
    assert set(sandbox.batches) == {1}


def test_a_fault_while_prefetching_is_not_sticky(inputs):
    sandbox = CountingSandbox(fail_batches=True)
    result, subject, _ = judge(VALUE, RIGHT, inputs, sandbox)
    assert result.passed and subject.fault is None  # the one-by-one run never broke
    assert not subject.batches  # a function that broke a batch is asked one by one from then on
    assert sandbox.batches[0] > 1 and set(sandbox.batches[1:]) == {1}


def test_replies_are_remembered_per_function_grad_and_input(inputs):
    sandbox = CountingSandbox()
    subject = functions(RIGHT, sandbox, inputs).subject("mse")
    args = inputs.of(VALUE)[3]
    first = subject(*args)
    assert subject(*(a.clone() for a in args)) is first and len(sandbox.batches) == 1
    assert subject(*args, grad=True) is not first and len(sandbox.batches) == 2


NOISY = """
def noisy(x):
    return x + torch.rand(x.shape, dtype=x.dtype) + float(np.random.rand()) + random.random()
"""


def test_every_call_is_reseeded_from_its_inputs_so_order_does_not_matter():
    sandbox = CountingSandbox()
    functions(NOISY, sandbox, None)
    a, b = torch.zeros(3, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    first = sandbox.call("noisy", (a,)).value
    sandbox.call("noisy", (b,))
    assert torch.equal(sandbox.call("noisy", (a,)).value, first)
    assert not torch.equal(sandbox.call("noisy", (a.clone() + 1,)).value - 1, first)  # still random
    forward = sandbox.call_batch([Call("noisy", (a,)), Call("noisy", (b,))])
    backward = sandbox.call_batch([Call("noisy", (b,)), Call("noisy", (a,))])
    assert torch.equal(forward[0].value, backward[1].value) and torch.equal(forward[1].value, backward[0].value)
