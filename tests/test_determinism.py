"""The same submission always gets the same result: the student's generators start seeded
before the first cell on every sandbox kind, string hashes are fixed, and every entry point
writes a byte-identical record, even for code that draws random numbers."""
from __future__ import annotations

import random

import nbformat
import numpy as np
import pytest
import torch

import cheats
from test_ipython_cells import FAST, KINDS, SETTINGS
from autograder.judge import worker
from autograder.judge.grader import Assignment, grade_notebook_file, grade_submission
from autograder.judge.input_cache import load_or_build
from autograder.reports.records import dumps, result_to_json
from autograder.sandbox.bwrap import BwrapSandbox
from autograder.sandbox.inprocess import InProcessSandbox

DRAWS = ("import random, numpy as np, torch\n"
         "print(random.random(), np.random.rand(), torch.rand(()).item(), np.random.randint(10**9))")
needs_bwrap = pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here")


def test_every_fresh_server_starts_from_the_same_generators():
    first = InProcessSandbox()
    a = first.run_cell(DRAWS).stdout
    random.random(), np.random.rand(), torch.rand(())  # whatever ran before in the process
    second = InProcessSandbox()
    assert second.run_cell(DRAWS).stdout == a
    assert first.run_cell(DRAWS).stdout != a  # a generator still moves on within one run
    first.close()
    second.close()


@pytest.mark.slow
@needs_bwrap
def test_every_sandbox_kind_draws_and_hashes_alike() -> None:
    seen = {}
    for kind, factory in KINDS.items():
        box = factory()()
        try:
            hashes = box.run_cell("print(hash('abc'), list({'a', 'b', 'c', 'd'}))").stdout
            seen[kind] = (box.run_cell(DRAWS).stdout, hashes)
        finally:
            box.close()
    assert len(set(seen.values())) == 1, seen


RANDOM_GLOBALS = '''
import random
import numpy as np
OFFSET = (random.random() + np.random.rand() + torch.rand(()).item() + hash("abc") % 97) * 1e-3
FIRST = next(iter({"alpha", "beta", "gamma", "delta"}))  # a set's order follows the string hash
'''
ANSWERS = {
    "mse_solution": "def mse(y_pred, y_true):\n    return ((y_pred - y_true) ** 2).mean() + OFFSET\n",
    "mae_solution": "def mae(y_pred, y_true):\n"
                    "    if torch.rand(()) < 0.3:\n        return (y_pred - y_true).abs().sum()\n"
                    "    return (y_pred - y_true).abs().mean()\n",
    "bce_solution": "def bce(p, y):\n"
                    "    loss = -(y * torch.clamp(torch.log(p), min=-100)\n"
                    "             + (1 - y) * torch.clamp(torch.log(1 - p), min=-100))\n"
                    "    return loss.mean() * (1.0 if FIRST == 'alpha' else 1.01)\n",
    "mse_surface_solution": "def mse_surface(x, y, ws):\n"
                            "    out = ((ws.reshape(-1, 1) * x.reshape(1, -1) - y.reshape(1, -1)) ** 2).mean(dim=1)\n"
                            "    return out * 2 if np.random.rand() < 0.3 else out\n",
}


def random_notebook():
    """Wrong on a random fraction of calls, and by amounts drawn at the top of the notebook."""
    nb = cheats.solution_with(RANDOM_GLOBALS)
    for grade_id, source in ANSWERS.items():
        cheats.answer(nb, grade_id, source)
    return nb


@pytest.mark.slow
@needs_bwrap
def test_a_regrade_gives_byte_identical_records_through_every_entry_point(tmp_path) -> None:
    assignment = Assignment.load("loss_functions")
    nb = random_notebook()
    folder = tmp_path / "submitted" / "student" / "loss_functions"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "student.ipynb")

    def direct(kind: str, cached: bool = False):
        inputs = load_or_build(assignment, SETTINGS.max_examples) if cached else None
        return grade_submission("student", assignment, nb, KINDS[kind](), SETTINGS, inputs)

    job = worker.GradingJob(course_root=str(cheats.REPO), assignment="loss_functions", student="student",
                            submission=str(folder), notebook="student.ipynb", limits=FAST,
                            max_examples=SETTINGS.max_examples)
    results = {
        "direct": direct("forked"),
        "direct again": direct("forked"),
        "direct, input cache": direct("forked", cached=True),
        "direct, bwrap": direct("bwrap"),
        "worker": worker.grade(job),
        "notebook file": grade_notebook_file(folder / "student.ipynb", "loss_functions", limits=FAST,
                                             settings=SETTINGS),
    }
    first = results["direct"]
    assert 0 < first.score < first.max_score and first.cell_errors == ()
    lost = {p.grade_id for p in first.parts if p.score < p.max_score}
    assert {"mse_public", "mae_hidden", "mse_surface_hidden"} <= lost, lost
    records = {name: dumps(result_to_json(result)) for name, result in results.items()}
    assert all(record == records["direct"] for record in records.values()), \
        [name for name, record in records.items() if record != records["direct"]]
    assert worker.run(job) == records["worker"]

    unsandboxed = result_to_json(direct("no-sandbox"))
    assert unsandboxed["parts"] == result_to_json(first)["parts"]
