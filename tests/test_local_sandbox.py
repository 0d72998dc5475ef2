"""LocalSandbox (``--no-sandbox``): the same protocol in a plain child process, never in ours."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

from autograder.sandbox.base import CallTimeout, SandboxDied, SandboxFault
from autograder.sandbox.limits import Limits
from autograder.sandbox.local import LocalSandbox

pytestmark = pytest.mark.slow
COURSE_ROOT = Path(__file__).resolve().parents[1]
MSE = "import torch\ndef mse(a, b):\n    return ((a - b) ** 2).mean()\n"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory):
    files = tmp_path_factory.mktemp("student")
    (files / "data").mkdir()
    (files / "data" / "points.csv").write_text("1,2\n")
    with LocalSandbox(files) as sandbox:
        assert sandbox.run_cell(MSE).status == "ok"
        yield sandbox


def test_calls_round_trip_values_gradients_and_inputs(box: LocalSandbox) -> None:
    reply = box.call("mse", [torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])], grad=True)
    assert reply.error is None and float(reply.value) == 2.5
    assert torch.equal(reply.grads[0], torch.tensor([1.0, 2.0]))
    assert torch.equal(reply.inputs_after[0], torch.tensor([1.0, 2.0]))
    assert "not defined" in box.call("mae", [torch.zeros(1), torch.zeros(1)]).error


def test_cells_report_their_output_and_errors(box: LocalSandbox) -> None:
    assert box.run_cell("print('hi')").stdout == "hi\n"
    assert "ZeroDivisionError" in (box.run_cell("1 / 0").error or "")


def test_figures_are_described_as_plain_data(box: LocalSandbox) -> None:
    box.run_cell("import matplotlib.pyplot as plt\nfig_x, ax = plt.subplots()\nax.plot([0, 1], [2, 3], label='a')\n"
                 "ax.set_title('T'); ax.set_xlabel('w'); ax.set_ylabel('loss'); ax.legend()")
    figure, error = box.figure("fig_x")
    assert error is None and figure.axes[0].title == "T" and figure.axes[0].legend == ("a",)
    assert figure.axes[0].lines[0].y.tolist() == [2.0, 3.0]


def test_the_student_works_on_a_copy_in_a_private_temp_dir(box: LocalSandbox) -> None:
    run = box.run_cell("import os\nprint(os.getcwd())\nprint(os.environ['HOME'])\nprint(open('data/points.csv').read().strip())\n"
                       "print(sorted(os.environ))")
    cwd, home, data, names = run.stdout.splitlines()[:4]
    assert cwd == home == str(box.home) and data == "1,2"
    assert Path(cwd).resolve() != COURSE_ROOT and Path(cwd).is_relative_to(tempfile.gettempdir())
    assert "'PYTHONHASHSEED'" in names and "'SSH_AUTH_SOCK'" not in names and "'VIRTUAL_ENV'" not in names


def test_monkeypatching_torch_in_the_student_process_leaves_the_grader_alone(box: LocalSandbox) -> None:
    run = box.run_cell("import torch\ntorch.allclose = lambda *a, **k: True\nprint(torch.allclose(torch.tensor(1.), torch.tensor(2.)))")
    assert run.stdout == "True\n"
    assert torch.allclose(torch.tensor(1.0), torch.tensor(2.0)) is False


def test_an_infinite_loop_times_out_and_a_new_sandbox_works() -> None:
    sandbox = LocalSandbox(limits=Limits(call_seconds=1.0, cell_seconds=1.0))
    with pytest.raises(CallTimeout, match="timed out after 1 s"):
        sandbox.run_cell("while True:\n    pass")
    with pytest.raises(SandboxFault, match="timed out"):
        sandbox.run_cell("1")  # a faulted sandbox stays closed, with the reason
    with LocalSandbox() as fresh:
        assert fresh.run_cell("print(6 * 7)").stdout == "42\n"


def test_an_exit_is_reported_with_its_code_and_the_temp_dir_is_removed() -> None:
    sandbox = LocalSandbox()
    home = sandbox.home
    assert home.is_dir()
    with pytest.raises(SandboxDied, match="exited with code 3"):
        sandbox.run_cell("import os\nos._exit(3)")
    assert not home.exists()


def test_close_kills_what_the_student_started_and_is_idempotent() -> None:
    sandbox = LocalSandbox()
    pid = int(sandbox.run_cell("import subprocess\nprint(subprocess.Popen(['sleep', '300']).pid)").stdout)
    sandbox.close()
    sandbox.close()
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "\nState:\tZ" in status.read_text()
    with pytest.raises(SandboxFault, match="close"):
        sandbox.run_cell("1")
