"""The instructor pipeline on real nbgrader: real gradebook, real exchange, real kernels.

Every test works in a copy of the course under ``tmp_path``. Grading runs nbgrader's plain
``Execute`` step (``AUTOGRADER_GRADER=plain``) so these tests check the pipeline, not the
sandbox; the sandboxed grader has its own tests.
"""
from __future__ import annotations

import csv

import nbformat
import pytest

from autograder.demo import student_notebook
from autograder.demo_class import CLASS
from autograder.errors import AuthoringError
from autograder.pipeline import (
    CourseRoot, collect, export_grades, generate_feedback, grade_class, import_students, release,
    submit_as, summary_table, zip_collect)
from autograder.pipeline import records_io
from course_copy import copy_course

A = "loss_functions"
BY_ID = {s.id: s for s in CLASS}


@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_GRADER", "plain")
    monkeypatch.setenv("AUTOGRADER_EXCHANGE", str(tmp_path / "course" / "exchange"))
    return CourseRoot.at(copy_course(tmp_path / "course"))


def released(course: CourseRoot) -> nbformat.NotebookNode:
    return nbformat.read(course.release(A) / f"{A}.ipynb", as_version=4)


def submit(course: CourseRoot, student_id: str, text: str) -> None:
    home = course.root.parent / "students" / student_id
    (home / A).mkdir(parents=True)
    (home / A / f"{A}.ipynb").write_text(text)
    submit_as(course, A, student_id, home, cache=home / ".cache")


def test_config_is_loaded_from_the_course_root(course):
    cfg = course.config()
    assert cfg.CourseDirectory.root == str(course.root)
    assert course.course_id(cfg)
    assert course.exchange_root(cfg) == course.root / "exchange"
    assert course.api().coursedir.root == str(course.root)


def test_records_live_outside_student_visible_folders(course):
    record = course.record("ada", A)
    assert record.parent == course.root / "grading" / A
    assert not record.is_relative_to(course.root / "submitted")
    assert not record.is_relative_to(course.root / "autograded")


@pytest.mark.slow
def test_release_submit_collect_grade_feedback_export(course):
    release(course, A)
    notebook = released(course)
    submit(course, "ada", student_notebook(BY_ID["ada"], notebook))
    submit(course, "dev", student_notebook(BY_ID["dev"], notebook))
    submit(course, "ravi", student_notebook(BY_ID["ravi"], notebook))
    assert collect(course, A) == ["ada", "dev", "ravi"]

    summary = grade_class(course, A, progress=False)
    outcomes = {o.student: o for o in summary.outcomes}
    assert outcomes["ada"].status == outcomes["dev"].status == "graded"
    assert outcomes["ada"].score > outcomes["dev"].score  # dev sums instead of averaging
    assert [o.student for o in summary.ungradable] == ["ravi"]
    assert "NotJSONError" in outcomes["ravi"].reason
    assert "ravi" in summary_table(summary) and "1 ungradable" in summary_table(summary)
    record = records_io.load(course, "ravi", A)
    assert record.status == "ungradable" and "JSON" in record.reason

    one = generate_feedback(course, A, ["dev"])  # what the demo writes as each student is graded
    assert {p.parent.parent.name for p in one} == {"dev"}
    alone = {p: p.read_bytes() for p in one}
    feedback = generate_feedback(course, A)
    assert course.feedback("ada", A) / f"{A}.html" in feedback
    assert "could not be graded" in (course.feedback("ravi", A) / "feedback.txt").read_text()
    assert {p: p.read_bytes() for p in one} == alone  # the same files, one student or the class

    rows = list(csv.DictReader(export_grades(course, A).open()))
    scores = {r["student_id"]: float(r["score"]) for r in rows}
    assert scores["ada"] == outcomes["ada"].score and scores["ravi"] == 0.0


@pytest.mark.slow
def test_one_broken_submission_does_not_stop_the_class(course):
    release(course, A)
    submit(course, "ravi", BY_ID["ravi"].raw)  # graded first: alphabetical order below
    submit(course, "sam", student_notebook(BY_ID["sam"], released(course)))
    collect(course, A)
    summary = grade_class(course, A, students=["ravi", "sam"], progress=False)
    assert [(o.student, o.status) for o in summary.outcomes] == [
        ("ravi", "ungradable"), ("sam", "graded")]


def test_the_summary_names_each_kind_of_flag_once():
    from autograder.judge.results import Flag, SubmissionResult
    from autograder.pipeline.grading import ClassSummary, _outcome

    record = SubmissionResult(student="quinn", assignment=A, status="graded",
                              flags=(Flag("tamper", "patched torch.allclose"), Flag("missing-cell", "mse_public"),
                                     Flag("tamper", "read ../../source")))
    outcome = _outcome(record)
    assert outcome.flags == ("tamper", "missing-cell")
    assert summary_table(ClassSummary(A, (outcome,))).splitlines()[2].endswith("  tamper, missing-cell")


def test_zip_collect_picks_up_lms_named_files(course, tmp_path):
    downloads = tmp_path / "lms"
    downloads.mkdir()
    text = nbformat.writes(released(course))
    (downloads / f"ada_{A}.ipynb").write_text(text)
    (downloads / f"bob_smith_{A}.ipynb").write_text(text)
    (downloads / "notes.txt").write_text("not a submission")
    assert zip_collect(course, A, downloads) == ["ada", "bob_smith"]
    assert (course.submitted("bob_smith", A) / f"{A}.ipynb").read_text() == text


def test_roster_import_uses_nbgraders_importer(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,first_name,last_name,email\nada,Ada,Lovelace,ada@example.edu\nben,Ben,,\n")
    assert import_students(course, roster) == ["ada", "ben"]
    with course.gradebook() as gb:
        assert gb.find_student("ada").last_name == "Lovelace"


@pytest.mark.parametrize("call, message", [
    (lambda c, t: grade_class(c, A, progress=False), "no submissions of loss_functions"),
    (lambda c, t: collect(c, A), "collect loss_functions failed"),
    (lambda c, t: release(c, "no_such_assignment"), "no source notebook folder"),
    (lambda c, t: zip_collect(c, A, t / "missing"), "not a directory"),
    (lambda c, t: import_students(c, t / "missing.csv"), "does not exist"),
    (lambda c, t: records_io.write_class_report(c, A), "no grading records"),
])
def test_instructor_mistakes_are_one_clear_authoring_error(course, tmp_path, call, message):
    with pytest.raises(AuthoringError, match=message):
        call(course, tmp_path)


def test_roster_without_id_column_names_the_fix(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name\nada,Ada\n")
    with pytest.raises(AuthoringError, match="needs an 'id' column"):
        import_students(course, roster)


def test_demo_notebooks(course):
    notebook = released(course)
    assert len(CLASS) >= 14 and len({s.id for s in CLASS}) == len(CLASS)
    ada = nbformat.reads(student_notebook(BY_ID["ada"], notebook), as_version=4)
    sources = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in ada.cells}
    assert "NotImplementedError" not in sources["mse_solution"]
    grade_ids = set(sources)
    for student in CLASS:  # every rewritten cell exists in the released notebook
        assert set(student.cells) <= grade_ids and set(student.delete) <= grade_ids, student.id
    sam = nbformat.reads(student_notebook(BY_ID["sam"], notebook), as_version=4)
    assert "mse_public" not in {c.metadata.get("nbgrader", {}).get("grade_id") for c in sam.cells}
    assert student_notebook(BY_ID["ned"], notebook) == nbformat.writes(notebook)


def test_without_bubblewrap_the_class_is_refused_with_the_install_hint(course, monkeypatch):
    from autograder.sandbox import bwrap

    monkeypatch.setenv("AUTOGRADER_GRADER", "sandboxed")
    release(course, A)
    submit(course, "ada", student_notebook(CLASS[0], released(course)))
    collect(course, A)
    monkeypatch.setattr(bwrap.shutil, "which", lambda name: None)
    bwrap._unavailable_reason.cache_clear()
    try:
        with pytest.raises(bwrap.SandboxUnavailable, match="apt-get install -y bubblewrap"):
            grade_class(course, A, progress=False)
    finally:
        bwrap._unavailable_reason.cache_clear()
    assert not (course.root / "autograded").exists()
