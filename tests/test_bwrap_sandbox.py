"""The jails as Sandboxes: the same protocol as the in-process twin, plus the jail's shape.

Every jail test runs against ``BwrapSandbox`` and ``ForkedSandbox`` (forked from the template).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
import torch

from autograder.sandbox import bwrap
from autograder.sandbox.base import SandboxFault
from autograder.sandbox.bwrap import BwrapSandbox, SandboxUnavailable
from autograder.sandbox.limits import Limits
from autograder.sandbox.process import ProcessSandbox, _describe_exit
from autograder.sandbox.template import ForkedSandbox

needs_bwrap = pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here")
JAILS = [
    pytest.param(BwrapSandbox, id="bwrap"),
    pytest.param(ForkedSandbox, id="forked",
                 marks=pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox template needs root")),
]
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


@pytest.fixture(scope="module", params=JAILS)
def box(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    files = tmp_path_factory.mktemp("student")
    (files / "data").mkdir()
    (files / "data" / "points.csv").write_text("1,2\n")
    with request.param(files) as sandbox:
        sandbox.run_cell(MSE)
        yield sandbox


@pytest.mark.slow
@needs_bwrap
def test_calls_round_trip_values_gradients_and_inputs(box: ProcessSandbox) -> None:
    reply = box.call("mse", [torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])], grad=True)
    assert reply.error is None and float(reply.value) == 2.5
    assert torch.equal(reply.grads[0], torch.tensor([1.0, 2.0]))
    assert torch.equal(reply.inputs_after[0], torch.tensor([1.0, 2.0]))
    assert "not defined" in box.call("mae", [torch.zeros(1), torch.zeros(1)]).error


@pytest.mark.slow
@needs_bwrap
def test_a_batch_answers_every_call_in_order(box: ProcessSandbox) -> None:
    from autograder.sandbox.base import Call

    calls = [Call("mse", (torch.full((3,), float(i)), torch.zeros(3))) for i in range(50)]
    assert [float(r.value) for r in box.call_batch(calls)] == [float(i * i) for i in range(50)]


@pytest.mark.slow
@needs_bwrap
def test_figures_are_described_as_plain_data(box: ProcessSandbox) -> None:
    box.run_cell("import matplotlib.pyplot as plt\nfig_x, ax = plt.subplots()\nax.plot([0, 1], [2, 3], label='a')\n"
                 "ax.set_title('T'); ax.set_xlabel('w'); ax.set_ylabel('loss'); ax.legend()")
    figure, error = box.figure("fig_x")
    assert error is None and figure.axes[0].title == "T" and figure.axes[0].legend == ("a",)


@pytest.mark.slow
@needs_bwrap
def test_the_student_files_are_a_writable_copy_in_a_private_home(box: ProcessSandbox, tmp_path: Path) -> None:
    run = box.run_cell("import os\nprint(os.getcwd(), os.environ['HOME'], open('data/points.csv').read().strip())\n"
                       "open('data/points.csv', 'a').write('3,4\\n')\nprint(sorted(os.environ))")
    assert run.stdout.startswith("/home/student /home/student 1,2\n")
    assert "'PYTHONPATH'" in run.stdout and "'SSH_AUTH_SOCK'" not in run.stdout


@pytest.mark.slow
@needs_bwrap
def test_the_student_has_no_capabilities_and_no_new_privileges(box: ProcessSandbox) -> None:
    status = box.run_cell("print(open('/proc/self/status').read())").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert {fields[f"Cap{kind}"].strip() for kind in ("Inh", "Prm", "Eff", "Bnd", "Amb")} == {"0000000000000000"}
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Uid"].split() == fields["Gid"].split() == [str(box.uid)] * 4
    assert fields["Groups"].strip() == ""


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("jail", JAILS)
def test_two_sandboxes_run_side_by_side_with_their_own_uids(jail: type) -> None:
    with jail() as first, jail() as second:
        assert first.uid != second.uid
        first.run_cell("x = 1")
        assert "NameError" in (second.run_cell("x").error or "")


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("jail", JAILS)
def test_close_is_idempotent_and_a_closed_sandbox_refuses_requests(jail: type) -> None:
    sandbox = jail()
    sandbox.close()
    sandbox.close()
    with pytest.raises(SandboxFault, match="close"):
        sandbox.run_cell("1")
