"""BwrapSandbox as a Sandbox: the same protocol as the in-process twin, plus its jail's shape."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from autograder.sandbox import bwrap
from autograder.sandbox.base import SandboxFault
from autograder.sandbox.bwrap import BwrapSandbox, SandboxUnavailable
from autograder.sandbox.process import _describe_exit
from autograder.sandbox.limits import Limits

needs_bwrap = pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here")
MSE = "import torch\ndef mse(a, b):\n    return ((a - b) ** 2).mean()\n"


@pytest.mark.parametrize("code, reason", [
    (-9, "killed by signal SIGKILL (likely exceeded the memory limit of 2 GiB)"),
    (128 + 9, "killed by signal SIGKILL (likely exceeded the memory limit of 2 GiB)"),
    (128 + 24, "killed by signal SIGXCPU (exceeded the CPU time limit of 900 s)"),
    (128 + 15, "killed by signal SIGTERM"),
    (1, "exited with code 1"),
    (None, "stopped answering"),
])
def test_exit_statuses_are_described_with_the_limit_that_fits(code: int | None, reason: str) -> None:
    assert reason in _describe_exit(code, Limits())


def test_limits_are_a_frozen_value() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().memory_bytes = 1  # type: ignore[misc]
    assert Limits(memory_bytes=3 * 2**30).describe_memory() == "3 GiB"


def test_a_missing_bwrap_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    bwrap._unavailable_reason.cache_clear()
    try:
        assert not BwrapSandbox.available()
        with pytest.raises(SandboxUnavailable, match=r"apt-get install -y bubblewrap.*--no-sandbox"):
            BwrapSandbox()
    finally:
        bwrap._unavailable_reason.cache_clear()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory):
    files = tmp_path_factory.mktemp("student")
    (files / "data").mkdir()
    (files / "data" / "points.csv").write_text("1,2\n")
    with BwrapSandbox(files) as sandbox:
        sandbox.run_cell(MSE)
        yield sandbox


@pytest.mark.slow
@needs_bwrap
def test_calls_round_trip_values_gradients_and_inputs(box: BwrapSandbox) -> None:
    reply = box.call("mse", [torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])], grad=True)
    assert reply.error is None and float(reply.value) == 2.5
    assert torch.equal(reply.grads[0], torch.tensor([1.0, 2.0]))
    assert torch.equal(reply.inputs_after[0], torch.tensor([1.0, 2.0]))
    assert "not defined" in box.call("mae", [torch.zeros(1), torch.zeros(1)]).error


@pytest.mark.slow
@needs_bwrap
def test_a_batch_answers_every_call_in_order(box: BwrapSandbox) -> None:
    from autograder.sandbox.base import Call

    calls = [Call("mse", (torch.full((3,), float(i)), torch.zeros(3))) for i in range(50)]
    assert [float(r.value) for r in box.call_batch(calls)] == [float(i * i) for i in range(50)]


@pytest.mark.slow
@needs_bwrap
def test_figures_are_described_as_plain_data(box: BwrapSandbox) -> None:
    box.run_cell("import matplotlib.pyplot as plt\nfig_x, ax = plt.subplots()\nax.plot([0, 1], [2, 3], label='a')\n"
                 "ax.set_title('T'); ax.set_xlabel('w'); ax.set_ylabel('loss'); ax.legend()")
    figure, error = box.figure("fig_x")
    assert error is None and figure.axes[0].title == "T" and figure.axes[0].legend == ("a",)


@pytest.mark.slow
@needs_bwrap
def test_the_student_files_are_a_writable_copy_in_a_private_home(box: BwrapSandbox, tmp_path: Path) -> None:
    run = box.run_cell("import os\nprint(os.getcwd(), os.environ['HOME'], open('data/points.csv').read().strip())\n"
                       "open('data/points.csv', 'a').write('3,4\\n')\nprint(sorted(os.environ))")
    assert run.stdout.startswith("/home/student /home/student 1,2\n")
    assert "'PYTHONPATH'" in run.stdout and "'SSH_AUTH_SOCK'" not in run.stdout


@pytest.mark.slow
@needs_bwrap
def test_the_student_has_no_capabilities_and_no_new_privileges(box: BwrapSandbox) -> None:
    status = box.run_cell("print(open('/proc/self/status').read())").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["CapEff"].strip() == fields["CapPrm"].strip() == fields["CapAmb"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Uid"].split()[0] != "0"


@pytest.mark.slow
@needs_bwrap
def test_two_sandboxes_run_side_by_side_with_their_own_uids() -> None:
    with BwrapSandbox() as first, BwrapSandbox() as second:
        assert first.uid != second.uid
        first.run_cell("x = 1")
        assert "NameError" in (second.run_cell("x").error or "")


@pytest.mark.slow
@needs_bwrap
def test_close_is_idempotent_and_a_closed_sandbox_refuses_requests() -> None:
    sandbox = BwrapSandbox()
    sandbox.close()
    sandbox.close()
    with pytest.raises(SandboxFault, match="close"):
        sandbox.run_cell("1")
