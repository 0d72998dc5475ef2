"""``python -m autograder demo`` end to end, on five students that cover every kind of outcome.

Runs ``run_demo`` in a copy of the course with the sandboxed grader in real bubblewrap: a
correct solution, a typical mistake, the untouched notebook, a file that is not a notebook and
a cheater. Checks what the demo promises an instructor: the gradebook, ``grades.csv``, feedback
pages, the staff report and the integrity flag.
"""
from __future__ import annotations

import csv
import re

import pytest

from autograder.demo import ASSIGNMENT as A, run_demo
from autograder.demo_class import CLASS
from autograder.pipeline import CourseRoot
from autograder.pipeline import records_io
from course_copy import copy_course

BY_ID = {s.id: s for s in CLASS}
STUDENTS = tuple(BY_ID[s] for s in ("ada", "dev", "ned", "ravi", "quinn"))
# Fewer examples than the demo's own limits: the scores checked here do not depend on them.
LIMITS = {"max_examples": 10, "cell_timeout": 20.0, "call_timeout": 5.0}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "course"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("AUTOGRADER_GRADER", raising=False)
        mp.setenv("AUTOGRADER_EXCHANGE", str(root / "exchange"))
        course = CourseRoot.at(copy_course(root))
        yield course, run_demo(course, students=STUDENTS, progress=False, limits=LIMITS)


@pytest.mark.slow
def test_gradebook_at_the_course_root_has_the_scores(demo):
    course, _ = demo
    assert (course.root / "gradebook.db").is_file()
    with course.gradebook() as gb:
        scores = {s: gb.find_submission(A, s).score for s in ("ada", "ned")}
    assert scores == {"ada": 36.0, "ned": 0.0}  # written answers wait for a TA


@pytest.mark.slow
def test_summary_lists_the_broken_file_as_ungradable_with_a_reason(demo):
    _, out = demo
    outcomes = {o.student: o for o in out["summary"].outcomes}
    assert set(outcomes) == {s.id for s in STUDENTS}
    assert [o.student for o in out["summary"].ungradable] == ["ravi"]
    assert outcomes["ravi"].reason
    assert outcomes["ada"].score == 36.0 and outcomes["ada"].max_score == 36.0
    assert 0 < outcomes["dev"].score < 36.0
    assert outcomes["ned"].score == 0.0


@pytest.mark.slow
def test_grades_csv_has_one_row_per_student(demo):
    course, out = demo
    assert out["grades"] == course.root / "grades.csv"
    rows = list(csv.DictReader(out["grades"].open()))
    assert sorted(r["student_id"] for r in rows) == sorted(s.id for s in STUDENTS)
    scores = {r["student_id"]: float(r["score"]) for r in rows}
    assert scores["ada"] == 36.0 and scores["ned"] == scores["ravi"] == 0.0


@pytest.mark.slow
def test_every_student_gets_a_feedback_page(demo):
    course, out = demo
    for student in STUDENTS:
        page = course.feedback(student.id, A) / "feedback.html"
        assert page in out["feedback"], student.id
        assert student.id in page.read_text()
    assert "could not be graded" in (course.feedback("ravi", A) / "feedback.html").read_text()


@pytest.mark.slow
def test_report_names_the_ungradable_student(demo):
    course, out = demo
    assert out["report"] == course.root / "reports" / f"{A}.html"
    report = out["report"].read_text()
    section = re.search(r'<section id="ungradable">(.*?)</section>', report, re.DOTALL).group(1)
    assert "<td>ravi</td>" in section


@pytest.mark.slow
def test_the_cheater_is_flagged_for_tampering(demo):
    course, _ = demo
    record = records_io.load(course, "quinn", A)
    assert "tamper" in {f.kind for f in record.flags}
    assert not {f.kind for f in records_io.load(course, "ada", A).flags}
