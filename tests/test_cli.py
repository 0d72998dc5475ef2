"""The command line: parsing, one-line errors, exit codes. No kernels run here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli
from course_copy import REPO, copy_course


@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_EXCHANGE", str(tmp_path / "course" / "exchange"))
    return copy_course(tmp_path / "course")


def run(course: Path, *argv: str) -> int:
    return cli.main(["--course-root", str(course), *argv])


@pytest.mark.parametrize("argv, expected", [
    (["grade", "loss_functions"], dict(command="grade", assignment="loss_functions",
                                       student=None, no_sandbox=False)),
    (["grade", "loss_functions", "--student", "ada", "--student", "ben", "--no-sandbox"],
     dict(student=["ada", "ben"], no_sandbox=True)),
    (["collect", "loss_functions", "--zip", "dl"], dict(zip=Path("dl"))),
    (["zip-collect", "loss_functions"], dict(downloads=None)),
    (["export", "loss_functions", "--to", "out.csv"], dict(to=Path("out.csv"))),
    (["students", "import", "roster.csv"], dict(file=Path("roster.csv"))),
    (["grade-notebook", "nb.ipynb"], dict(path=Path("nb.ipynb"), assignment="loss_functions")),
    (["report", "loss_functions", "--out", "r.html"], dict(out=Path("r.html"))),
    (["-q", "demo", "--no-sandbox"], dict(quiet=True, no_sandbox=True)),
])
def test_parsing(argv, expected):
    args = cli.build_parser().parse_args(argv)
    for key, value in expected.items():
        assert getattr(args, key) == value, key


@pytest.mark.parametrize("argv", [[], ["grade"], ["frobnicate", "x"], ["students"],
                                  ["grade", "loss_functions", "--bogus"]])
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["grade", "loss_functions"], "no submissions of loss_functions"),
    (["grade", "loss_functions", "--student", "zed"], "no submission of loss_functions for zed"),
    (["students", "import", "missing.csv"], "roster missing.csv does not exist"),
    (["export", "loss_functions"], "not in the gradebook"),
    (["report", "loss_functions"], "no grading records for loss_functions"),
    (["release", "nope"], "no source notebook folder"),
    (["collect", "loss_functions", "--zip", "nowhere"], "not a directory"),
    (["grade-notebook", "missing.ipynb"], "missing.ipynb"),
])
def test_errors_are_one_line_and_exit_1(course, argv, message, capsys, monkeypatch):
    monkeypatch.chdir(course)
    assert run(course, *argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_missing_config_names_the_fix(tmp_path, capsys):
    assert run(tmp_path, "grade", "loss_functions") == 1
    err = capsys.readouterr().err
    assert "no nbgrader_config.py" in err and "--course-root" in err


def test_grade_notebook_reports_an_unreadable_notebook_in_results_json(tmp_path, capsys):
    broken = tmp_path / "ravi.ipynb"
    broken.write_text('{"cells": [')
    assert cli.main(["grade-notebook", str(broken)]) == 0  # grading ran: exit 0, whatever the score
    results = json.loads(capsys.readouterr().out)
    assert results["score"] == 0 and results["tests"] == []
    assert "could not be graded" in results["output"] and "not a readable notebook" in results["output"]


@pytest.mark.slow
def test_grade_notebook_prints_gradescope_results_json():
    notebook = REPO / "release" / "loss_functions" / "loss_functions.ipynb"
    done = subprocess.run([sys.executable, "-m", "autograder", "grade-notebook", str(notebook),
                           "--assignment", "loss_functions"], cwd="/", capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert set(results) == {"score", "output", "tests"}
    assert results["score"] == 0
    assert len(results["tests"]) == 15
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility", "tags"}
        assert test["score"] == 0 and test["max_score"] > 0 and test["tags"]
    tags = {t["name"].split("[")[-1].rstrip("]"): t["tags"] for t in results["tests"]}
    assert tags["mse_hidden"] == ["mse"] and tags["plot_surface_test"] == ["mse_surface", "fig_surface"]
    assert "NotImplementedError" in results["tests"][0]["output"]


def test_roster_import_succeeds(course, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,first_name\nada,Ada\nben,Ben\n")
    assert run(course, "students", "import", str(roster)) == 0
    assert "2 students" in capsys.readouterr().out


def test_python_dash_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "autograder", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for command in ("release", "collect", "zip-collect", "grade", "feedback", "export",
                    "students", "demo", "grade-notebook", "report"):
        assert command in done.stdout
