"""A fault costs only the request that caused it: the next request gets a fresh sandbox with the
good cells replayed, and the run-time evidence for the integrity flags is kept."""
from __future__ import annotations

import pytest
import torch

from autograder.judge.student_process import StudentProcess
from autograder.sandbox.base import CallTimeout, Sandbox, SandboxDied, SandboxFault
from autograder.sandbox.inprocess import InProcessSandbox

HANG, CRASH = "# hangs", "# kills the process"


class FaultingSandbox(Sandbox):
    """Test double of the transport: an InProcessSandbox that raises the fault a real process
    sandbox would on the cells and functions chosen by the test, and logs what it was asked."""

    def __init__(self, hanging_functions: frozenset[str] = frozenset()):
        self._inner = InProcessSandbox()
        self._hanging = hanging_functions
        self.sources: list[str] = []
        self.closed = False

    def request(self, message: dict, timeout: float | None = None) -> dict:
        if self.closed:
            raise SandboxFault("the sandbox was closed")
        if message["op"] == "run_cell":
            self.sources.append(message["source"])
            if HANG in message["source"]:
                raise CallTimeout("the cell ran past its 60 s limit")
            if CRASH in message["source"]:
                raise SandboxDied("the student's process died (signal 9)")
        if message["op"] == "call" and any(c["function"] in self._hanging for c in message["calls"]):
            raise CallTimeout("the call ran past its 30 s limit")
        return self._inner.request(message, timeout)

    def close(self) -> None:
        self.closed = True
        self._inner.close()


class Factory:
    def __init__(self, hanging_functions=frozenset()):
        self.hanging = frozenset(hanging_functions)
        self.made: list[FaultingSandbox] = []

    def __call__(self) -> FaultingSandbox:
        self.made.append(FaultingSandbox(self.hanging))
        return self.made[-1]


SQUARE = "def square(x):\n    return x * x"
DOUBLE = "def double(x):\n    return 2 * x"
ONE = torch.tensor([3.0])


def test_good_cells_run_in_one_sandbox():
    factory = Factory()
    process = StudentProcess(factory)
    runs = process.run_cells((SQUARE, DOUBLE))
    assert [r.status for r in runs] == ["ok", "ok"]
    assert len(factory.made) == 1 and process.restarts == 0
    assert process.call("square", [ONE]).value.tolist() == [9.0]
    process.close()


@pytest.mark.parametrize("bad, reason", [
    (f"while True: pass  {HANG}", "60 s limit"),
    (f"import os; os.kill(os.getpid(), 9)  {CRASH}", "signal 9"),
])
def test_faulting_cell_is_reported_and_left_out_of_the_replay(bad, reason):
    factory = Factory()
    process = StudentProcess(factory)
    runs = process.run_cells((SQUARE, bad, DOUBLE))
    assert [r.status for r in runs] == ["ok", "error", "ok"]
    assert reason in runs[1].error
    first, second = factory.made
    assert first.closed and not second.closed
    assert second.sources == [SQUARE, DOUBLE]  # SQUARE replayed, the bad cell not
    assert process.restarts == 1
    assert process.call("double", [ONE]).value.tolist() == [6.0]
    assert process.call("square", [ONE]).value.tolist() == [9.0]
    process.close()
    assert second.closed


def test_call_fault_raises_once_then_a_fresh_sandbox_replays_the_good_cells():
    factory = Factory(hanging_functions={"square"})
    process = StudentProcess(factory)
    process.run_cells((SQUARE, DOUBLE))
    with pytest.raises(CallTimeout, match="30 s limit"):
        process.call("square", [ONE])
    assert factory.made[0].closed
    assert process.call("double", [ONE]).value.tolist() == [6.0]
    assert process.restarts == 1 and len(factory.made) == 2
    assert factory.made[1].sources == [SQUARE, DOUBLE]
    with pytest.raises(CallTimeout):
        process.call("square", [ONE])
    assert process.call("double", [ONE]).value.tolist() == [6.0]
    assert process.restarts == 2
    process.close()


def test_student_error_is_not_a_fault_and_stays_in_the_replay():
    factory = Factory()
    process = StudentProcess(factory)
    runs = process.run_cells(("raise ValueError('oops')", SQUARE, f"pass  {CRASH}", DOUBLE))
    assert [r.status for r in runs] == ["error", "ok", "error", "ok"]
    assert "ValueError: oops" in runs[0].error
    assert factory.made[1].sources == ["raise ValueError('oops')", SQUARE, DOUBLE]
    process.close()


def test_forbidden_calls_are_collected_per_function():
    process = StudentProcess(Factory())
    process.run_cells((
        "import torch.nn.functional as F\nimport torch\n"
        "def mse(a, b):\n    return F.mse_loss(a, b)\n"
        "def mae(a, b):\n    return torch.nn.L1Loss()(a, b) + 0 * F.mse_loss(a, b)\n"
        "def honest(a, b):\n    return ((a - b) ** 2).mean()",
    ))
    process.call("mse", [ONE, ONE])
    process.call("honest", [ONE, ONE])
    process.call("mae", [ONE, ONE])
    assert process.forbidden == {
        "mse": {"torch.nn.functional.mse_loss"},
        # nn.L1Loss is recorded both as the module and as the functional it calls
        "mae": {"torch.nn.L1Loss", "torch.nn.functional.l1_loss", "torch.nn.functional.mse_loss"},
    }
    process.close()


def test_forbidden_calls_in_cells_are_not_evidence():
    """The lesson's own comparison with F.mse_loss in a scratch cell is fine: only calls made
    while a graded function is being called count."""
    process = StudentProcess(Factory())
    process.run_cells(("import torch\nimport torch.nn.functional as F\n"
                       "F.mse_loss(torch.ones(2), torch.zeros(2))\n" + SQUARE,))
    process.call("square", [ONE])
    assert process.forbidden == {}
    process.close()


def test_close_closes_the_live_sandbox_and_is_idempotent():
    factory = Factory()
    process = StudentProcess(factory)
    process.run_cells((SQUARE,))
    process.close()
    assert factory.made[0].closed
    process.close()
    assert len(factory.made) == 1


def test_close_before_any_request_starts_nothing():
    factory = Factory()
    StudentProcess(factory).close()
    assert factory.made == []


def test_forbidden_call_recording_wraps_each_library_function_once():
    """Every in-process server used to wrap the library again: after hundreds of tests the chain
    overflowed the stack and a call's later forbidden losses went unrecorded."""
    import torch.nn.functional as F
    from torch.nn.modules.loss import L1Loss

    first, second = InProcessSandbox(), InProcessSandbox()
    for wrapped in (F.mse_loss, L1Loss.forward):
        assert not hasattr(wrapped.__wrapped__, "_recorded_as")
    second.request({"op": "run_cell", "source": "import torch.nn.functional as F\ndef f(a):\n    return F.mse_loss(a, a)"})
    reply = second.request({"op": "call", "calls": [{"function": "f", "args": [ONE.numpy()]}]})
    assert reply["replies"][0]["forbidden"] == ["torch.nn.functional.mse_loss"]
    first.close(), second.close()
