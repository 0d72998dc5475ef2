"""One submission, one feedback text: the words a student reads are the same on every path.

A partly wrong demo student ("dev" sums instead of averaging) goes through the real pipeline in
a copy of the course: the exchange, ``nbgrader autograde`` with the sandboxed grader in real
bubblewrap, nbgrader's feedback, ours. Then each part's text is compared across the autograded
notebook, the trusted record, Gradescope's JSON, ``feedback.txt`` and both HTML pages; and the
staff report's "manual grading pending" is checked against the gradebook, not the records.
"""
from __future__ import annotations

import html
import re

import nbformat
import pytest

from autograder.demo import student_notebook
from autograder.demo_class import CLASS
from autograder.pipeline import (
    CourseRoot, collect, generate_feedback, grade_class, release, submit_as)
from autograder.pipeline import records_io
from autograder.reports.feedback_text import render_part
from autograder.reports.gradescope import to_gradescope
from course_copy import copy_course
from test_feedback_html import part_shows_its_text

A = "loss_functions"
BY_ID = {s.id: s for s in CLASS}
LIMITS = {"max_examples": 10}
HIDDEN_SOURCE = ("grade_part", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
WRITTEN = ["written_bowl", "written_outlier_rl"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """ada (correct) and dev (sums) released, submitted, collected, graded and given feedback."""
    root = tmp_path_factory.mktemp("feedback_paths")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("AUTOGRADER_GRADER", raising=False)  # the sandboxed grader, as configured
        mp.setenv("AUTOGRADER_EXCHANGE", str(root / "course" / "exchange"))
        course = CourseRoot.at(copy_course(root / "course"))
        release(course, A)
        released = nbformat.read(course.release(A) / f"{A}.ipynb", as_version=4)
        for student in ("ada", "dev"):
            home = root / "students" / student
            (home / A).mkdir(parents=True)
            (home / A / f"{A}.ipynb").write_text(student_notebook(BY_ID[student], released))
            submit_as(course, A, student, home, cache=home / ".cache")
        collect(course, A)
        summary = grade_class(course, A, progress=False, limits=LIMITS)
        assert [o.status for o in summary.outcomes] == ["graded", "graded"]
        generate_feedback(course, A)
        yield course


def test_dev_is_partly_wrong_and_graded_in_the_sandbox(course):
    record = records_io.load(course, "dev", A)
    assert record.sandboxed and record.status == "graded"
    assert 0 < record.score < record.max_score
    assert any(p.score < p.max_score for p in record.parts if p.grade_id.startswith("mse"))


def test_every_path_carries_the_same_feedback_text(course):
    record = records_io.load(course, "dev", A)
    notebook = nbformat.read(course.autograded("dev", A) / f"{A}.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    gradescope = {t["name"]: t["output"] for t in to_gradescope(record)["tests"]}
    folder = course.feedback("dev", A)
    text = (folder / "feedback.txt").read_text()
    nbgrader_page = (folder / f"{A}.html").read_text()
    assert record.parts
    for part in record.parts:
        expected = render_part(part)
        stdout = "".join(o.text for o in cells[part.grade_id].outputs
                         if o.output_type == "stream" and o.name == "stdout")
        assert stdout == expected, part.grade_id
        assert gradescope[f"{part.title} [{part.grade_id}]"] == expected, part.grade_id
        assert expected in text, part.grade_id
        assert html.escape(expected.splitlines()[0], quote=False) in nbgrader_page, part.grade_id


def test_no_hidden_test_source_reaches_a_student(course):
    for student in ("ada", "dev"):
        folder = course.feedback(student, A)
        for page in (folder / f"{A}.html", folder / "feedback.html", folder / "feedback.txt"):
            content = page.read_text()
            for needle in HIDDEN_SOURCE:
                assert needle not in content, (student, page.name, needle)


def test_our_page_shows_every_part_text(course):
    record = records_io.load(course, "dev", A)
    page = (course.feedback("dev", A) / "feedback.html").read_text()
    for part in record.parts:
        assert part_shows_its_text(page, part) == [], part.grade_id


def test_dev_reads_one_cause_with_an_example_to_check_by_hand(course):
    record = records_io.load(course, "dev", A)
    text = render_part(next(p for p in record.parts if p.grade_id == "mse_hidden"))
    assert text.count("Likely mistake: sum instead of mean") == 1
    assert "y_pred = [1., 2.]" in text and "By hand:" in text
    assert text.count("This rule counts only where the result is right, and here it is not.") == 2


def test_regrading_gives_byte_identical_feedback_and_record(course):
    text = course.feedback("dev", A) / "feedback.txt"
    before = text.read_bytes(), course.record("dev", A).read_bytes()
    grade_class(course, A, students=["dev"], progress=False, limits=LIMITS)
    generate_feedback(course, A)
    assert (text.read_bytes(), course.record("dev", A).read_bytes()) == before


def _manual_section(course: CourseRoot) -> str:
    report = records_io.write_class_report(course, A).read_text()
    return re.search(r'<section id="manual">(.*?)</section>', report, re.DOTALL).group(1)


def test_manual_grading_pending_comes_from_the_gradebook(course):
    assert records_io.manual_pending(course, A) == {"ada": WRITTEN, "dev": WRITTEN}
    with course.gradebook() as gb:
        grade = gb.find_grade("written_bowl", A, A, "ada")
        grade.manual_score = 3.0
        gb.db.commit()
    assert records_io.manual_pending(course, A) == {"ada": ["written_outlier_rl"],
                                                     "dev": WRITTEN}
    assert records_io.load(course, "ada", A).manual_parts == tuple(WRITTEN)  # records unchanged
    section = _manual_section(course)
    ada_row = re.search(r"<td>ada</td>\s*<td>([^<]*)</td>", section).group(1)
    assert ada_row == "written_outlier_rl"
    generate_feedback(course, A)
    assert "Score from your TA: 3 / 4" in (course.feedback("ada", A) / "feedback.html").read_text()
