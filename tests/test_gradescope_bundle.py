"""The Gradescope autograder zip: what it holds, its setup.sh (with apt-get, pip and python
stand-ins; for real with AUTOGRADER_TEST_SETUP_SH=1), and run_autograder end to end on its
unzipped copy."""
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
from autograder.pipeline import gradescope_run
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


def unpack(root: Path, zip_path: Path) -> Path:
    """Lay the bundle out as Gradescope does: ``root/source``, and run_autograder copied up to ``root``."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():
            (root / "source" / info.filename).chmod(info.external_attr >> 16 & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    return root


def run_autograder(tmp_path: Path, zip_path: Path, files: dict[str, str], **env: str) -> dict:
    """Unpack the bundle as Gradescope does, put ``files`` in submission/ and run it."""
    root = unpack(tmp_path / "autograder", zip_path)
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


def test_setup_writes_the_settings_a_submission_reads_and_a_config_changed_since_is_read_again(tmp_path):
    shutil.copy(Path(__file__).resolve().parents[1] / "nbgrader_config.py", tmp_path)
    traits = gradescope_run._config(tmp_path)
    gradescope_run.save_settings(tmp_path)
    assert json.loads((tmp_path / gradescope_run.SETTINGS).read_text())["max_examples"] == traits.max_examples
    assert gradescope_run.settings(tmp_path) == (traits.limits(), traits.max_examples)
    with (tmp_path / "nbgrader_config.py").open("a") as config:
        config.write("\nc.SandboxedGrading.max_examples = 7\nc.SandboxedGrading.cell_timeout = 9.0\n")
    limits, max_examples = gradescope_run.settings(tmp_path)
    assert (max_examples, limits.cell_seconds) == (7, 9.0)


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


# -- setup.sh ----------------------------------------------------------------------------------------
TORCH_CPU = "https://download.pytorch.org/whl/cpu"
EVERYTHING = ("bubblewrap", "util-linux", "libseccomp2", "python3-venv")


def _unpacked(bundle, tmp_path: Path) -> Path:
    return unpack(tmp_path / "autograder", bundle[0]).resolve()


def _pip(root: Path, index: str | None = TORCH_CPU) -> str:
    extra = f" --extra-index-url {index}" if index else ""
    return (f"{root}/venv/bin/python -m pip install -q --disable-pip-version-check "
            f"-r {root}/source/requirements.txt{extra}")


def test_setup_sh_on_ubuntu_22_04_installs_python3_11_and_a_venv_then_nothing_more(bundle, tmp_path):
    """python3 is 3.10 and nothing else is there: one apt-get for the sandbox's packages and
    python3.11 with its venv; pip is the venv's, never the system's; run again, it installs nothing."""
    from setup_sh_shims import Machine

    root = _unpacked(bundle, tmp_path)
    machine = Machine(tmp_path / "ubuntu", python3="3.10")
    done = machine.run(root / "source" / "setup.sh", AUTOGRADER_ROOT=str(root))
    assert done.returncode == 0, done.stderr
    calls = machine.calls()
    assert [c for c in calls if c.startswith("apt-get")] == [
        "apt-get update -qq",
        "apt-get install -y -qq bubblewrap libseccomp2 util-linux python3.11 python3.11-venv"]
    venv, prepare = f"{root}/venv/bin/python", f"{root}/venv/bin/python -m autograder.pipeline.gradescope_run --prepare {A}"
    assert [c for c in calls if " -m venv" in c] == [f"python3.11 -m venv --clear {root}/venv"]
    assert [c for c in calls if " -m pip install" in c] == [_pip(root)]  # the venv's pip: PEP 668 refuses the system's
    assert calls.index(_pip(root)) < calls.index(prepare)
    assert done.stdout.splitlines()[-1] == f"setup.sh: ready: {venv} (Python 3.11.0) grades {A}"
    assert stat.S_IMODE((root / "source").stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "source" / "autograder" / "cli.py").stat().st_mode) == 0o600

    again = machine.run(root / "source" / "setup.sh", AUTOGRADER_ROOT=str(root))
    assert again.returncode == 0, again.stderr
    calls = machine.calls()
    assert not [c for c in calls if c.startswith("apt-get") or " -m venv" in c] and "installing" not in again.stdout
    assert _pip(root) in calls and prepare in calls  # pip finds the pins there already

    graded = machine.run(root / "run_autograder", AUTOGRADER_ROOT=str(root))  # no AUTOGRADER_PYTHON: the venv's
    assert graded.returncode == 0, graded.stderr
    assert machine.calls() == [f"{venv} -m autograder.pipeline.gradescope_run {A}"]
    assert stat.S_IMODE((root / "results").stat().st_mode) == 0o700


@pytest.mark.parametrize("python3, installed, env, apt, venv_by", [
    pytest.param("3.11", EVERYTHING, {"AUTOGRADER_TORCH_INDEX": ""}, [], "python3", id="debian-12-all-there"),
    pytest.param("3.12", (), {}, ["apt-get update -qq",
                                  "apt-get install -y -qq bubblewrap libseccomp2 util-linux python3 python3-venv"],
                 "python3", id="ubuntu-24.04"),
    pytest.param(None, (), {"SHIM_NEW_PYTHON3": "3.10"}, [
        "apt-get update -qq", "apt-get install -y -qq bubblewrap libseccomp2 util-linux python3 python3-venv",
        "apt-get install -y -qq python3.11 python3.11-venv"], "python3.11", id="bare-22.04"),
])
def test_setup_sh_picks_a_python_of_3_11_or_newer(bundle, tmp_path, python3, installed, env, apt, venv_by):
    from setup_sh_shims import Machine

    root = _unpacked(bundle, tmp_path)
    machine = Machine(tmp_path / "machine", python3=python3, installed=installed)
    done = machine.run(root / "source" / "setup.sh", AUTOGRADER_ROOT=str(root), **env)
    assert done.returncode == 0, done.stderr
    calls = machine.calls()
    assert [c for c in calls if c.startswith("apt-get")] == apt
    assert [c for c in calls if " -m venv" in c] == [f"{venv_by} -m venv --clear {root}/venv"]
    index = env.get("AUTOGRADER_TORCH_INDEX", TORCH_CPU)
    assert [c for c in calls if " -m pip install" in c] == [_pip(root, index)]


@pytest.mark.parametrize("machine_args, env, message", [
    pytest.param({"python3": "3.10"}, {"SHIM_APT_MISSING": "python3.11"},
                 "setup.sh: error: apt-get could not install bubblewrap libseccomp2 util-linux python3.11 "
                 "python3.11-venv (python3.11 is in Ubuntu's universe repository", id="no-universe"),
    pytest.param({"python3": "3.11", "apt_get": False}, {},
                 "setup.sh: error: bubblewrap libseccomp2 util-linux must be installed and there is no apt-get here",
                 id="no-apt-get"),
    pytest.param({"python3": "3.11", "installed": EVERYTHING}, {"AUTOGRADER_ROOT": "elsewhere"},
                 "but run_autograder grades with elsewhere/source: unzip it there, or set AUTOGRADER_ROOT",
                 id="not-in-root-source"),
])
def test_setup_sh_stops_with_what_is_missing(bundle, tmp_path, machine_args, env, message):
    from setup_sh_shims import Machine

    root = _unpacked(bundle, tmp_path)
    machine = Machine(tmp_path / "machine", **machine_args)
    done = machine.run(root / "source" / "setup.sh", **{"AUTOGRADER_ROOT": str(root), **env})
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert not (root / "venv").exists() and not [c for c in machine.calls() if " -m pip" in c]


def test_run_autograder_without_setup_says_to_run_it(bundle, tmp_path):
    from setup_sh_shims import Machine

    root = _unpacked(bundle, tmp_path)
    done = Machine(tmp_path / "machine").run(root / "run_autograder", AUTOGRADER_ROOT=str(root))
    assert done.returncode == 1
    assert f"no python at {root}/venv/bin/python: run {root}/source/setup.sh first" in done.stderr


SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("AUTOGRADER_TEST_SETUP_SH"),
                    reason="installs the pinned requirements, torch too, into a new venv (about 100 s): "
                           "AUTOGRADER_TEST_SETUP_SH=1 runs it")
@pytest.mark.skipif(os.geteuid() != 0, reason="setup.sh runs as root, as on Gradescope")
def test_setup_sh_for_real_then_run_autograder_with_its_venv(bundle, tmp_path):
    """The unzipped bundle's setup.sh with the real apt-get, python3 and pip (the machine's pip
    configuration and cache), then run_autograder with the venv it made, on one demo notebook."""
    import time

    root = unpack(tmp_path / "autograder", bundle[0])
    # No extra torch index unless one is set: here pip's own configuration serves the CPU wheel,
    # and PyTorch's index is out of reach (pip retries it 5 times for each package: over 11 min).
    env = {"HOME": os.environ["HOME"], "PATH": SYSTEM_PATH, "AUTOGRADER_ROOT": str(root), "LANG": "C.UTF-8",
           "AUTOGRADER_TORCH_INDEX": os.environ.get("AUTOGRADER_TORCH_INDEX", "")}
    env.update({k: v for k, v in os.environ.items()  # what a machine needs to reach its package index
                if k.startswith(("PIP_", "AUTOGRADER_CACHE_DIR")) or k.lower() in ("http_proxy", "https_proxy", "no_proxy")})
    timings = {}
    for run in ("first", "again"):
        start = time.monotonic()
        done = subprocess.run([str(root / "source" / "setup.sh")], capture_output=True, text=True, timeout=1800,
                              env=env, cwd=root / "source")
        timings[run] = time.monotonic() - start
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"setup.sh: ready: {root}/venv/bin/python" in done.stdout
    assert "installing" not in done.stdout  # the second run: everything is there
    torch = subprocess.run([str(root / "venv" / "bin" / "python"), "-c", "import torch; print(torch.__version__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert torch.startswith("2.13.0") and torch.endswith("+cpu")

    (root / "submission").mkdir()
    (root / "submission" / f"{A}.ipynb").write_text(correct_notebook())
    start = time.monotonic()
    done = subprocess.run([str(root / "run_autograder")], capture_output=True, text=True, timeout=600, env=env)
    timings["run_autograder"] = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 36.0
    assert results["extra_data"]["isolation"] == ("bubblewrap" if BwrapSandbox.available() else "unprivileged user")
    print("setup.sh for real:", ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
