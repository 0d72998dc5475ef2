"""Regrades with a diff: who changed, old -> new per part, a CSV, the report's section; a dry run
writes nothing, and a regrade that changes no score changes no byte of the records.

The last tests make the instructor's real changes in a course copy (a point value in the source
notebook, a rule's weight in properties.py) and run the real command there, as an instructor does."""
from __future__ import annotations

import csv
import dataclasses
import os
import re
import subprocess
import sys
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


# -- the instructor's real changes, through the command line --------------------------------------
def _course_for_the_cli(tmp_path: Path, students: tuple[str, ...]):
    from course_copy import course_with_students

    course = course_with_students(tmp_path / "course", students)
    with (course.root / "nbgrader_config.py").open("a") as f:  # the command's limits come from the config
        f.write("".join(f"\nc.SandboxedGrading.{k} = {v!r}" for k, v in LIMITS.items()) + "\n")
    return course


def _cli(course, *args: str, cache: Path | None = None, status: int = 0) -> str:
    """``python -m autograder -q ARGS`` run in the course copy, as an instructor runs it: from the
    course root, so the copy's own ``autograder/`` and (changed) ``assignments/`` are imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AUTOGRADER_CACHE_DIR")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs alembic by name
    if cache is not None:  # a changed assignment's input cache stays in the test's folder
        env["AUTOGRADER_CACHE_DIR"] = str(cache)
    done = subprocess.run([sys.executable, "-m", "autograder", "-q", *args], cwd=course.root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == status, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + (done.stderr if status else "")


def _records(course, students) -> dict[str, SubmissionResult]:
    return {s: load_result(record_path(course.root, A, s)) for s in students}


def _part(result: SubmissionResult, grade_id: str) -> PartResult:
    return next(p for p in result.parts if p.grade_id == grade_id)


def _gradebook(course) -> dict[str, tuple[float, float]]:
    """(score, max score) of each submission, as nbgrader's gradebook has them."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        return {s.student.id: (s.score, s.max_score) for s in gb.assignment_submissions(A)}


def _untouched(course) -> tuple:
    """Everything a regrade may write: the gradebook (bytes and scores), grading/ and autograded/."""
    files = {str(p.relative_to(course.root)): (p.stat().st_mtime_ns, p.read_bytes())
             for folder in ("grading", "autograded") for p in sorted((course.root / folder).rglob("*")) if p.is_file()}
    return (course.root / "gradebook.db").read_bytes(), _gradebook(course), files


def _line(out: str, student: str, old_total: float, new_total: float, parts: str) -> bool:
    """The student's row of the printed diff, with exactly these parts."""
    row = rf"^  {student}\s+{old_total:.2f} → {new_total:.2f}\s+{re.escape(parts)}$"
    return re.search(row, out, re.MULTILINE) is not None


def _csv(out: str) -> tuple[Path, list[list[str]]]:
    path = Path(re.search(r"^changes written to (.+\.csv)$", out, re.MULTILINE).group(1))
    with path.open(newline="") as f:
        return path, list(csv.reader(f))


def _set_points(course, grade_id: str, points: int) -> None:
    """The instructor's edit: the cell's points in the source notebook, and the same in ``POINTS``
    (parts.py), which tests/test_parts.py checks against the notebook."""
    import nbformat

    path = course.source(A) / f"{A}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(cells) == 1
    cells[0].metadata.nbgrader.points = points
    nbformat.write(nb, path)
    parts = course.root / "assignments" / A / "parts.py"
    text, n = re.subn(rf'"{grade_id}": \d+', f'"{grade_id}": {points}', parts.read_text())
    assert n == 1
    parts.write_text(text)


@pytest.mark.slow
def test_cli_regrade_after_a_point_value_changes(tmp_path: Path):
    """mse_hidden goes from 5 to 6 points: the dry run (no release needed) and then, after the
    release that gives nbgrader's gradebook the new points, the regrade list every student with
    that part's old -> new score and points, the CSV and the gradebook agree, the report shows it."""
    from autograder.judge.parts import weighted_score

    students = ("ada", "dev", "ivan")  # full marks, none and part of mse_hidden: each moves differently
    course = _course_for_the_cli(tmp_path, students)
    _cli(course, "grade", A, "--jobs", "1")
    old = _records(course, students)
    new_part = {s: weighted_score(_part(old[s], "mse_hidden").checks, 6.0) for s in students}
    new_total = {s: old[s].score - _part(old[s], "mse_hidden").score + new_part[s] for s in students}
    assert len({new_part[s] - _part(old[s], "mse_hidden").score for s in students}) == 3  # +1, +0, a share
    _set_points(course, "mse_hidden", 6)
    cache = tmp_path / "cache"

    def diff_shown(out: str) -> bool:
        return all(_line(out, s, old[s].score, new_total[s],
                         f"mse_hidden {_part(old[s], 'mse_hidden').score:.2f}/5.00→{new_part[s]:.2f}/6.00")
                   for s in students)

    # the dry run grades with the changed notebook and writes nothing: gradebook, records, autograded/, CSV
    before = _untouched(course)
    out = _cli(course, "grade", A, "--regrade", "--dry-run", "--jobs", "1", cache=cache)
    assert "regrade of loss_functions: dry run, nothing written: 3 of 3 submissions changed" in out
    assert diff_shown(out) and "changes written" not in out
    assert _untouched(course) == before

    # grading before the release would score against the gradebook's old points: refused, nothing written
    out = _cli(course, "grade", A, "--regrade", "--jobs", "1", cache=cache, status=1)
    assert "mse_hidden is worth 6 points in source/loss_functions/loss_functions.ipynb but 5 as released" in out
    assert "python -m autograder release loss_functions" in out and _untouched(course) == before
    # the release gives the gradebook the new points (nbgrader refuses a score above a cell's old ones)
    _cli(course, "release", A)
    out = _cli(course, "grade", A, "--regrade", "--jobs", "1", cache=cache)
    assert "regrade of loss_functions: 3 of 3 submissions changed" in out and diff_shown(out)
    path, rows = _csv(out)
    assert path.parent == course.root / "grading" / A and path.name.startswith("regrade-")
    assert rows == [list(regrade.CSV_COLUMNS)] + [
        [s, "mse_hidden", repr(round(_part(old[s], "mse_hidden").score, 6)), repr(round(new_part[s], 6)), "5.0", "6.0"]
        for s in students]
    gradebook = _gradebook(course)
    for s in students:
        assert gradebook[s] == (pytest.approx(new_total[s]), 45.0)  # 37 autograded + 8 for the TAs
        assert _part(_records(course, (s,))[s], "mse_hidden").max_score == 6.0

    section = write_class_report(course, A).read_text().split('<section id="regrade">')[1].split("</section>")[0]
    assert path.name in section and "<b>3</b> students" in section and "mse_hidden" in section


@pytest.mark.slow
def test_cli_regrade_after_a_test_changes_then_again_with_nothing_changed(tmp_path: Path):
    """The value rule of mse, mae and bce counts 1, not 3 (properties.py): only ivan, whose mse
    passes it but not every other rule, changes; a second regrade changes nothing at all."""
    from autograder.judge.parts import weighted_score

    students = ("ada", "ivan")
    course = _course_for_the_cli(tmp_path, students)
    _cli(course, "grade", A, "--jobs", "1")
    old = _records(course, students)
    properties = course.root / "assignments" / A / "properties.py"
    rule = '"1e-6 to 1e4", name, values, arg_names, right, weight=3),'
    assert properties.read_text().count(rule) == 1
    properties.write_text(properties.read_text().replace(rule, rule.replace("weight=3", "weight=1")))

    def reweighted(part: PartResult) -> float:
        checks = tuple(dataclasses.replace(c, weight=1.0) if "for any shape (0-d to 4-d)" in c.name else c
                       for c in part.checks)
        return weighted_score(checks, part.max_score)
    moved = {(s, p.grade_id): (p.score, reweighted(p)) for s in students for p in old[s].parts
             if p.grade_id in ("mse_hidden", "mae_hidden", "bce_hidden") and reweighted(p) != p.score}
    assert list(moved) == [("ivan", "mse_hidden")]  # .item(): right values, no gradient, float32 only
    (was, now), = moved.values()

    out = _cli(course, "grade", A, "--regrade", "--jobs", "1", cache=tmp_path / "cache")
    assert "regrade of loss_functions: 1 of 2 submissions changed" in out
    assert _line(out, "ivan", old["ivan"].score, old["ivan"].score - was + now, f"mse_hidden {was:.2f}→{now:.2f}")
    assert not re.search(r"^  ada ", out, re.MULTILINE)
    path, rows = _csv(out)
    assert rows == [list(regrade.CSV_COLUMNS), ["ivan", "mse_hidden", repr(round(was, 6)), repr(round(now, 6)), "5.0", "5.0"]]
    gradebook = _gradebook(course)
    assert gradebook["ivan"][0] == pytest.approx(old["ivan"].score - was + now)
    assert gradebook["ada"][0] == old["ada"].score

    # nothing changed since: no score, not a byte of the records, no new CSV; the report's last regrade stays
    before = _untouched(course)
    out = _cli(course, "grade", A, "--regrade", "--jobs", "1", cache=tmp_path / "cache")
    assert "regrade of loss_functions: no score changed (2 submissions regraded)" in out
    after = _untouched(course)
    assert after[1] == before[1]  # the gradebook's scores
    assert {k: v[1] for k, v in after[2].items() if k.startswith("grading")} == \
        {k: v[1] for k, v in before[2].items() if k.startswith("grading")}  # records and CSVs, byte for byte
    assert regrade.last_regrade(course.root, A).path == path
