"""The Gradescope autograder zip: what it holds, and run_autograder end to end on its unzipped copy."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.demo import student_notebook
from autograder.demo_class import CLASS
from autograder.pipeline import CourseRoot
from autograder.pipeline.gradescope_bundle import build_bundle
from autograder.pipeline.gradescope_run import find_notebook
from autograder.sandbox.bwrap import BwrapSandbox
from course_copy import copy_course
from readable_python import reachable

A = "loss_functions"
ADA = next(s for s in CLASS if s.id == "ada")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    course = CourseRoot(copy_course(tmp_path_factory.mktemp("course")))
    for decoy in ("gradebook.db", "submitted/ben/loss_functions/loss_functions.ipynb", "feedback/ben/x.html",
                  "grading/loss_functions/ben.json", "autograded/ben/loss_functions/loss_functions.ipynb",
                  "source/other/other.ipynb", "assignments/loss_functions/__pycache__/parts.cpython-311.pyc"):
        (course.root / decoy).parent.mkdir(parents=True, exist_ok=True)
        (course.root / decoy).write_text("decoy")
    return build_bundle(course, A, course.root / "dist" / "autograder.zip"), course


def test_the_zip_holds_the_scripts_the_grader_and_this_assignment_only(bundle):
    path, course = bundle
    with zipfile.ZipFile(path) as archive:
        infos = {i.filename: i for i in archive.infolist()}
    names = set(infos)
    assert {n.split("/")[0] for n in names} == {
        "setup.sh", "run_autograder", "requirements.txt", "nbgrader_config.py", "autograder", "assignments", "source"}
    assert {n for n in names if n.startswith("source/")} == {f"source/{A}/{A}.ipynb"}
    assert {n.split("/")[1] for n in names if n.startswith("assignments/")} == {"__init__.py", A}
    assert f"assignments/{A}/parts.py" in names and "autograder/inside/server.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "decoy" in n]
    assert all(infos[n].external_attr >> 16 & 0o777 == 0o755 for n in ("setup.sh", "run_autograder"))
    assert build_bundle(course, A, path.parent / "again.zip").read_bytes() == path.read_bytes()  # reproducible


def test_a_notebook_is_found_under_any_name_and_a_wrong_upload_says_what_to_upload(tmp_path):
    (tmp_path / "Copy of lab (1).ipynb").write_text("{}")
    assert find_notebook(tmp_path, A) == (tmp_path / "Copy of lab (1).ipynb", "")
    (tmp_path / f"{A}.ipynb").write_text("{}")
    found, note = find_notebook(tmp_path, A)
    assert found == tmp_path / f"{A}.ipynb" and "ignored the other notebooks" in note
    (tmp_path / f"{A}.ipynb").unlink()
    (tmp_path / "scratch.ipynb").write_text("{}")
    found, note = find_notebook(tmp_path, A)
    assert found is None and "2 notebooks" in note and f"Upload only one, {A}.ipynb" in note
    assert "is empty" in find_notebook(tmp_path / "missing", A)[1]


def run_autograder(tmp_path: Path, zip_path: Path, files: dict[str, str], **env: str) -> dict:
    """Lay the bundle out as Gradescope does (/autograder/source, run_autograder copied up) and run it."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():
            (root / "source" / info.filename).chmod(info.external_attr >> 16 & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    for name, text in files.items():
        (root / "submission" / name).write_text(text)
    command = [str(root / "run_autograder")]
    if env.get("AUTOGRADER_ISOLATION") == "user":
        command = reachable(command)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, **env})
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((root / "source").stat().st_mode) == 0o700
    return json.loads((root / "results" / "results.json").read_text())


def correct_notebook() -> str:
    released = nbformat.read(Path(__file__).resolve().parents[1] / "release" / A / f"{A}.ipynb", as_version=4)
    return student_notebook(ADA, released)


@pytest.mark.slow
def test_a_correct_notebook_under_an_odd_name_gets_full_marks(bundle, tmp_path):
    results = run_autograder(tmp_path, bundle[0], {"Ada's final (1).ipynb": correct_notebook()})
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) == 36.0
    expected = "bubblewrap" if BwrapSandbox.available() else results["extra_data"]["isolation"]
    assert results["extra_data"] == {"isolation": expected}


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged user is made by root")
def test_without_namespaces_the_student_runs_as_an_unprivileged_user(bundle, tmp_path):
    results = run_autograder(tmp_path, bundle[0], {f"{A}.ipynb": correct_notebook()}, AUTOGRADER_ISOLATION="user")
    assert results["score"] == 36.0 and results["extra_data"] == {"isolation": "unprivileged user"}


@pytest.mark.slow
@pytest.mark.parametrize("files, message", [
    ({}, "your submission is empty"),
    ({f"{A}.py": "def mse(a, b): ...\n"}, f"your submission has no notebook (got {A}.py)"),
    ({f"{A}.ipynb": "%PDF-1.4 not json"}, "could not be graded"),
])
def test_a_wrong_upload_scores_zero_and_says_what_to_upload(bundle, tmp_path, files, message):
    results = run_autograder(tmp_path, bundle[0], files)
    assert results["score"] == 0.0 and message in results["output"]
    assert f"Upload your notebook {A}.ipynb" in results["output"]
    assert results["extra_data"]["isolation"] in {"bubblewrap", "unprivileged user", "none"}
