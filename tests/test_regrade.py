"""Regrades with a diff: who changed, old -> new per part, a CSV, the report's section; a dry run
writes nothing, and a regrade that changes no score changes no byte of the records."""
from __future__ import annotations

import csv
import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autograder.errors import AuthoringError
from autograder.judge.results import PartResult, SubmissionResult
from autograder.pipeline import grade_class, regrade
from autograder.pipeline.records_io import write_class_report
from autograder.reports import html_report
from autograder.reports.records import load_result, record_path, save_result

A = "loss_functions"
LIMITS = {"max_examples": 10, "call_timeout": 10.0}  # as tests/test_pool.py


def _result(student: str, **scores: float) -> SubmissionResult:
    parts = tuple(PartResult(grade_id=g, title=g, functions=(), max_score=5.0, score=s)
                  for g, s in scores.items())
    return SubmissionResult(student=student, assignment=A, status="graded", parts=parts)


def test_compare_lists_changed_parts_only():
    old, new = _result("dev", mse=3.81, mae=2.0), _result("dev", mse=4.4, mae=2.0)
    change = regrade.compare(old, new)
    assert change.parts == (regrade.PartChange("mse", 3.81, 4.4, 5.0, 5.0),)
    assert regrade.compare(old, old) is None
    assert regrade.compare(None, old).parts[0].old is None  # no record before: "new"
    gone = SubmissionResult(student="dev", assignment=A, status="ungradable", reason="not a notebook")
    assert {p.new for p in regrade.compare(old, gone).parts} == {None}
    assert regrade.compare(gone, dataclasses.replace(gone, reason="other")) is None


def test_points_change_alone_is_a_change():
    old = _result("ada", mse=0.0)
    new = SubmissionResult(student="ada", assignment=A, status="graded",
                           parts=(dataclasses.replace(old.parts[0], max_score=6.0),))
    run = regrade.Regrade(A, datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))
    run.add(old, new)
    assert "mse 0.00/5.00→0.00/6.00" in regrade.format_regrade(run)


def test_table_csv_and_report_section(tmp_path: Path):
    run = regrade.Regrade(A, datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))
    run.add(_result("dev", mse=3.81, mae=2.0), _result("dev", mse=4.4, mae=2.5))
    run.add(_result("ada", mse=5.0), _result("ada", mse=5.0))
    run.add(None, _result("eve", mse=1.0))
    text = regrade.format_regrade(run)
    assert "2 of 3 submissions changed" in text
    assert "dev  5.81 → 6.90  mse 3.81→4.40, mae 2.00→2.50" in text
    assert "eve  new → 1.00   no record before" in text
    path = regrade.write_csv(tmp_path, run)
    assert path == tmp_path / "grading" / A / "regrade-20260301T120000Z.csv"
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [list(regrade.CSV_COLUMNS), ["dev", "mse", "3.81", "4.4", "5.0", "5.0"],
                    ["dev", "mae", "2.0", "2.5", "5.0", "5.0"], ["eve", "mse", "", "1.0", "", "5.0"]]
    second = regrade.write_csv(tmp_path, run)  # same second: a new file, never an overwrite
    assert second.name == "regrade-20260301T120000Z-2.csv"
    last = regrade.last_regrade(tmp_path, A)
    assert last.path == second and last.students == ["dev", "eve"] and len(last.rows) == 3
    out = html_report.write_report([_result("dev", mse=4.4)], tmp_path / "r.html", assignment=A,
                                   sandboxed=True, last_regrade=last)
    section = out.read_text().split('<section id="regrade">')[1].split("</section>")[0]
    assert "2026-03-01 12:00 UTC" in section and "<b>2</b> students" in section and "3.81" in section
    empty = html_report.write_report([], tmp_path / "e.html", assignment=A, sandboxed=True)
    assert "Never regraded" in empty.read_text()


def test_no_change_says_so():
    run = regrade.Regrade(A, regrade.now(), dry_run=True)
    run.add(_result("ada", mse=5.0), _result("ada", mse=5.0))
    assert regrade.format_regrade(run).endswith("no score changed (1 submissions regraded)")


def test_dry_run_needs_regrade(tmp_path: Path):
    from course_copy import copy_course
    from autograder.pipeline import CourseRoot

    course = CourseRoot.at(copy_course(tmp_path / "course"))
    with pytest.raises(AuthoringError, match="--regrade"):
        grade_class(course, A, dry_run=True, progress=False)


# -- real grading ---------------------------------------------------------------------------------
def _snapshot(course) -> tuple[dict[str, bytes], dict[str, float], dict[str, tuple[int, bytes]]]:
    records = {p.name: p.read_bytes() for p in sorted((course.root / "grading" / A).iterdir())}
    with course.gradebook() as gb:
        scores = {s: gb.find_submission(A, s).score for s in ("ada", "dev")}
    autograded = {str(p.relative_to(course.root)): (p.stat().st_mtime_ns, p.read_bytes())
                  for p in sorted((course.root / "autograded").rglob("*")) if p.is_file()}
    return records, scores, autograded


def _as_if_graded_before(course, student: str, grade_id: str, score: float) -> SubmissionResult:
    """Rewrite a record as the grader before the instructor's change would have scored it."""
    path = record_path(course.root, A, student)
    real = load_result(path)
    parts = tuple(dataclasses.replace(p, score=score) if p.grade_id == grade_id else p for p in real.parts)
    save_result(dataclasses.replace(real, parts=parts), path)
    return real


@pytest.mark.slow
def test_regrade_dry_run_and_no_change(tmp_path: Path):
    from course_copy import course_with_students

    course = course_with_students(tmp_path / "course", ("ada", "dev"))
    grade_class(course, A, progress=False, limits=LIMITS, jobs=1)
    dev = load_result(record_path(course.root, A, "dev"))
    hidden = next(p for p in dev.parts if p.grade_id == "mse_hidden")
    old_score = hidden.score + 1.0 if hidden.score < hidden.max_score else hidden.score - 1.0
    _as_if_graded_before(course, "dev", "mse_hidden", old_score)
    record_path(course.root, A, "ada").unlink()  # ada has no record before: "new"

    # a dry run shows the diff and writes nothing: records, gradebook, autograded/
    before = _snapshot(course)
    summary = grade_class(course, A, progress=False, limits=LIMITS, jobs=1, regrade=True, dry_run=True)
    assert _snapshot(course) == before
    dry = summary.regrade
    assert dry.dry_run and dry.csv_path is None and sorted(dry.regraded) == ["ada", "dev"]
    by_student = {c.student: c for c in dry.changes}
    assert by_student["dev"].parts == (regrade.PartChange("mse_hidden", old_score, hidden.score,
                                                          hidden.max_score, hidden.max_score),)
    assert by_student["ada"].old is None and all(p.old is None for p in by_student["ada"].parts)
    assert "dry run, nothing written" in regrade.format_regrade(dry)

    # the regrade itself: same diff, written to the CSV and the report; records rewritten
    summary = grade_class(course, A, progress=False, limits=LIMITS, jobs=1, regrade=True)
    run = summary.regrade
    assert [(c.student, c.parts) for c in run.changes] == [(c.student, c.parts) for c in dry.changes]
    assert run.csv_path.parent == course.root / "grading" / A
    with run.csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"student": "dev", "grade_id": "mse_hidden", "old": repr(old_score), "new": repr(hidden.score),
            "old_max": repr(hidden.max_score), "new_max": repr(hidden.max_score)} in rows
    assert {r["student"] for r in rows} == {"ada", "dev"}
    assert load_result(record_path(course.root, A, "dev")) == dev
    assert "regrade-" not in " ".join(course.recorded_students(A))  # the CSV is not a record
    report = write_class_report(course, A).read_text()
    section = report.split('<section id="regrade">')[1].split("</section>")[0]
    assert "mse_hidden" in section and "<b>2</b> students" in section

    # nothing changed since: no score changed, not a byte of the records, no new CSV
    records_before = _snapshot(course)[0]
    summary = grade_class(course, A, progress=False, limits=LIMITS, jobs=1, regrade=True)
    assert summary.regrade.changes == [] and summary.regrade.csv_path is None
    assert "no score changed" in regrade.format_regrade(summary.regrade)
    assert _snapshot(course)[0] == records_before
    assert regrade.last_regrade(course.root, A).path == run.csv_path


@pytest.mark.slow
def test_cli_regrade_prints_who_changed(tmp_path: Path, capsys):
    from course_copy import course_with_students
    from autograder.cli import main

    course = course_with_students(tmp_path / "course", ("dev",))
    with (course.root / "nbgrader_config.py").open("a") as f:  # the CLI's limits come from the config
        f.write("".join(f"\nc.SandboxedGrading.{k} = {v!r}" for k, v in LIMITS.items()) + "\n")
    grade_class(course, A, progress=False, jobs=1)
    dev = load_result(record_path(course.root, A, "dev"))
    hidden = next(p for p in dev.parts if p.grade_id == "mae_hidden")
    _as_if_graded_before(course, "dev", "mae_hidden", hidden.score + 0.5 if hidden.score < hidden.max_score else 0.0)
    before = _snapshot_records(course)
    assert main(["--course-root", str(course.root), "-q", "grade", A, "--dry-run", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing written: 1 of 1 submissions changed" in out and "mae_hidden" in out
    assert _snapshot_records(course) == before


def _snapshot_records(course) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((course.root / "grading" / A).iterdir())}
