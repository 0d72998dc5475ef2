"""A notebook that runs under Jupyter's *Restart & Run All* runs the same way in the sandbox:
cells go through IPython's own shell (``display``, rich objects, magics, ``!``, ``_``,
``In``/``Out``, top-level ``await``), and a failing cell still tells the student why.

The unit tests speak to the function server in this process; the end-to-end ones grade whole
notebooks in the real sandboxes and compare with the plain correct solution's score.
"""
from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import pytest

import cheats
from autograder.judge.grader import Assignment, Settings, grade_submission
from autograder.reports.feedback_text import render_submission
from autograder.sandbox.bwrap import BwrapSandbox
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.inprocess import InProcessSandbox
from autograder.sandbox.limits import Limits


@pytest.fixture
def box():
    sandbox = InProcessSandbox()
    yield sandbox
    sandbox.close()


def ok(box: InProcessSandbox, source: str):
    run = box.run_cell(source)
    assert run.status == "ok", run
    return run


# --- the shell, cell by cell ---------------------------------------------------------------------
def test_display_and_rich_objects_run_and_the_rest_of_the_cell_too(box):
    import matplotlib.pyplot as plt

    png = io.BytesIO()
    plt.figure(figsize=(1, 1)).savefig(png, format="png")
    plt.close("all")
    run = ok(box, "from IPython.display import HTML, Markdown, Image\n"  # display is a builtin, as in Jupyter
                  "display(HTML('<b>bold</b>'), Markdown('*loss*'))\n"
                  f"display(Image(data={png.getvalue()!r}))\n"
                  "def double(x):\n    return 2 * x\n")
    assert "<IPython.core.display.HTML object>" in run.stdout and "Image object" in run.stdout
    assert box.call("double", [__import__("torch").tensor([2.0])]).value.tolist() == [4.0]


def test_line_and_cell_magics(box):
    run = ok(box, "%timeit -n 2 -r 2 sum(range(10))")
    assert "per loop" in run.stdout
    run = ok(box, "%%time\nimport torch\ndef square(x):\n    return x * x\n")
    assert "Wall time" in run.stdout
    assert box.call("square", [__import__("torch").tensor([3.0])]).value.tolist() == [9.0]


def test_matplotlib_inline_keeps_agg_and_figures_readable(box):
    run = ok(box, "%matplotlib inline\nimport matplotlib, matplotlib.pyplot as plt\n"
                  "fig, ax = plt.subplots()\nax.plot([0, 1], [2, 3], label='a')\nax.set_title('t')\n"
                  "plt.show()\nprint(matplotlib.get_backend())")
    assert run.stdout.strip().lower() == "agg"
    ok(box, "%pylab inline")
    answer = box.request({"op": "figure", "name": "fig"})
    assert answer["error"] is None and answer["figure"]["axes"][0]["title"] == "t"


def test_shell_escapes_run_in_the_cells_process(box, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("1,2\n")
    run = ok(box, "!ls\nfiles = !ls\nassert files == ['data.csv'], files\n!echo $files")
    assert run.stdout.count("data.csv") == 2


def test_underscore_in_out_and_top_level_await(box):
    ok(box, "41 + 1")
    ok(box, "assert _ == 42 and Out[1] == 42 and In[1] == '41 + 1', (_, In, Out)")
    ok(box, "import asyncio\nasync def later():\n    await asyncio.sleep(0)\n    return 7\nseven = await later()")
    ok(box, "assert seven == 7\nfrom IPython import get_ipython\nassert get_ipython() is not None")


@pytest.mark.parametrize("source, error", [
    ("1 / 0", "ZeroDivisionError: division by zero"),
    ("def broken(:\n    pass", "SyntaxError: invalid syntax"),
    ("%no_such_magic", "UsageError: Line magic function `%no_such_magic` not found."),
    ("raise SystemExit('bye')", "SystemExit: bye"),
    ("import asyncio\nawait asyncio.sleep(-1)\nraise KeyError('late')", "KeyError: 'late'"),
])
def test_a_failed_cell_reports_its_error_and_no_traceback(box, capfd, source: str, error: str):
    run = box.run_cell(f"print('before')\n{source}" if not source.startswith("%") else source)
    assert run.status == "error" and run.error.endswith(error), run.error
    assert "Traceback" not in run.stdout + run.stderr + run.error
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and error not in out + err
    ok(box, "x = 1")  # the shell goes on


def test_output_is_still_captured_and_truncated(box):
    run = ok(box, "import sys\nprint('x' * 20_000)\nprint('warned', file=sys.stderr)")
    assert "[output truncated" in run.stdout and run.stderr == "warned\n"


def test_no_profile_startup_file_or_history_is_read_or_written(tmp_path: Path, monkeypatch):
    """A student's folder (the sandbox's home) may hold an IPython profile: it is never run."""
    startup = tmp_path / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-evil.py").write_text("EVIL = 1\nopen('ran', 'w').close()\n")
    (startup.parent / "ipython_config.py").write_text("c.InteractiveShellApp.exec_lines = ['EVIL = 2']\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / ".ipython"))
    monkeypatch.chdir(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    box = InProcessSandbox()
    ok(box, "x = 1\nx")
    assert box.run_cell("EVIL").error == "NameError: name 'EVIL' is not defined"
    ok(box, "assert len(In) == 4 and get_ipython().history_manager.enabled is False")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_kernels_namespace_is_served_without_a_shell_of_ours():
    """``inkernel`` serves a live kernel's globals: no In/Out/get_ipython of ours lands in them."""
    namespace = {"__name__": "__main__"}
    exec("def double(x):\n    return 2 * x", namespace)
    before = dict(namespace)
    box = InProcessSandbox(namespace=namespace)
    assert box.call("double", [__import__("torch").tensor([1.0])]).value.tolist() == [2.0]
    assert namespace == before


# --- whole notebooks, graded in the real sandboxes ----------------------------------------------
FAST = Limits(cell_seconds=20, call_seconds=10)
SETTINGS = Settings(max_examples=10)
KINDS = {
    "forked": lambda: sandbox_factory(FAST, None, isolate=True),
    "bwrap": lambda: functools.partial(BwrapSandbox, None, FAST),
    "no-sandbox": lambda: sandbox_factory(FAST, None, isolate=False),
}
BEFORE = {  # each feature comes first in an answer cell: if it failed, the function after it would be lost
    "mse_solution": "from IPython.display import HTML, Markdown\n"  # display is a builtin in Jupyter
                    "display(HTML('<b>MSE</b>'), Markdown('*mean squared error*'))\n",
    "mae_solution": "%timeit -n 2 -r 1 torch.ones(3).sum()\n",
    "bce_solution": "%%time\n",
    "mse_surface_solution": "!ls -a\nlisting = !ls -a\nassert '.' in listing, listing\n",
    "bce_curve_solution": "import asyncio\nawait asyncio.sleep(0)\n",
    "outlier_sweep_solution": "assert _ == 42 and In[-2].strip() == '41 + 1' and 42 in Out.values(), (_, In[-2])\n",
    "plot_surface_solution": "%matplotlib inline\n",
}
AFTER = {"plot_surface_solution": "display(fig_surface)\nplt.show()\nfig_surface\n"}


def jupyter_style_notebook():
    """The correct solution, written the way students write in Jupyter."""
    nb = cheats.notebook("source")
    for grade_id, head in BEFORE.items():
        cell = cheats.cell(nb, grade_id)
        cell.source = head + cell.source + ("\n" + AFTER[grade_id] if grade_id in AFTER else "")
    cheats.add_after(nb, "bce_curve_hidden", "41 + 1")  # test cells never run: this is In[-2] of outlier_sweep
    return nb


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return Assignment.load("loss_functions")


@pytest.fixture(scope="module")
def plain_score(assignment: Assignment) -> float:
    if not BwrapSandbox.available():
        pytest.skip("bubblewrap cannot run here")
    result = grade_submission("plain", assignment, cheats.notebook("source"), KINDS["forked"](), SETTINGS)
    assert result.score == result.max_score
    return result.score


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_jupyter_style_notebook_gets_the_plain_solutions_score(assignment: Assignment, plain_score: float,
                                                                 kind: str) -> None:
    result = grade_submission("jupyter", assignment, jupyter_style_notebook(), KINDS[kind](), SETTINGS)
    assert result.cell_errors == ()
    assert result.score == plain_score, {p.grade_id: p.score for p in result.parts if p.score < p.max_score}


@pytest.mark.slow
def test_a_failing_cell_still_reports_its_error_to_the_student(assignment: Assignment, plain_score: float) -> None:
    nb = cheats.notebook("source")
    cheats.cell(nb, "mse_solution").source += ("\ndisplay(mse(torch.ones(2), torch.zeros(2)))\n"
                                               "raise ValueError('my own bug')\n")
    cheats.add_after(nb, "mae_solution", "%no_such_magic")
    result = grade_submission("failing", assignment, nb, KINDS["forked"](), SETTINGS)
    assert result.score == plain_score  # the functions were defined before the error
    assert len(result.cell_errors) == 2, result.cell_errors
    assert result.cell_errors[0].endswith("ValueError: my own bug")
    assert result.cell_errors[1].endswith("UsageError: Line magic function `%no_such_magic` not found.")
    feedback = render_submission(result)
    assert "ValueError: my own bug" in feedback and "%no_such_magic" in feedback and "Traceback" not in feedback


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not BwrapSandbox.available(), reason="the uid drop needs root and bwrap")
def test_a_shell_escape_runs_as_the_students_uid_inside_the_jail() -> None:
    box = KINDS["forked"]()()
    try:
        run = box.run_cell("!id -u\nimport os\nprint(os.getuid())")
    finally:
        box.close()
    shell_uid, server_uid = run.stdout.split()
    assert shell_uid == server_uid != "0", run.stdout
