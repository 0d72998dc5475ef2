"""Canvas's gradebook import from a real gradebook: release fills it, scores go in through nbgrader's API."""
from __future__ import annotations

import csv

import pytest

from autograder import cli
from autograder.errors import AuthoringError
from autograder.pipeline import CourseRoot, import_students, release
from autograder.pipeline.lms_export import export_canvas
from course_copy import copy_course

A = "loss_functions"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    course = CourseRoot(copy_course(root))
    release(course, A)
    roster = root / "roster.csv"
    roster.write_text("id,first_name,last_name,email,lms_user_id\n"
                      "ada,Ada,Lovelace,ada@example.edu,1001\nben,Ben,Adams,,1002\ncy,Cy,Young,cy@example.edu,\n")
    import_students(course, roster)
    with course.gradebook() as gb:
        for student, fraction in (("ada", 1.0), ("cy", 0.5)):  # ben did not submit
            gb.add_submission(A, student)
            for notebook in gb.find_submission(A, student).notebooks:
                for grade in notebook.grades:
                    grade.auto_score = grade.max_score * fraction
        gb.db.commit()
    return course


def rows(path):
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def test_canvas_csv_has_canvas_columns_ids_and_every_student(course, tmp_path):
    export = export_canvas(course, A, tmp_path / "canvas.csv", canvas_id=123)
    with course.gradebook() as gb:
        max_score = gb.find_assignment(A).max_score
    table = rows(export.path)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Loss functions (123)"]
    assert table[1] == ["Points Possible", "", "", "", "", f"{max_score:g}"]
    assert table[2:] == [["Adams, Ben", "1002", "", "", "", "0"],
                         ["Lovelace, Ada", "1001", "", "", "", f"{max_score:g}"],
                         ["Young, Cy", "", "", "", "", f"{max_score / 2:g}"]]
    assert export.unmatched == ("cy",)
    assert "cy" in export.warning() and "lms_user_id" in export.warning()


def test_the_cli_warns_about_students_without_an_lms_user_id(course, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert cli.main(["--course-root", str(course.root), "export", A, "--format", "canvas",
                     "--canvas-assignment-id", "55", "--to", str(out)]) == 0
    assert rows(out)[0][-1] == "Loss functions (55)"
    err = capsys.readouterr().err
    assert err.startswith("warning: 1 students have no lms_user_id") and "cy" in err


def test_the_canvas_id_comes_from_the_config_or_the_error_says_where_to_set_it(course, tmp_path):
    with pytest.raises(AuthoringError, match="--canvas-assignment-id N"):
        export_canvas(course, A, tmp_path / "a.csv")
    config = course.root / "nbgrader_config.py"
    original = config.read_text()
    try:
        config.write_text(original + f"\nc.CanvasExport.assignment_ids = {{{A!r}: 987}}\n")
        assert rows(export_canvas(course, A, tmp_path / "b.csv").path)[0][-1] == "Loss functions (987)"
        config.write_text(original + "\nc.CanvasExport.assignment_id = 'abc'\n")
        with pytest.raises(AuthoringError, match="'abc' for loss_functions is not a number"):
            export_canvas(course, A, tmp_path / "c.csv")
    finally:
        config.write_text(original)


def test_the_default_format_stays_nbgraders_csv(course, tmp_path, capsys):
    out = tmp_path / "nbgrader.csv"
    assert cli.main(["--course-root", str(course.root), "export", A, "--to", str(out)]) == 0
    header = rows(out)[0]
    assert "student_id" in header and "score" in header and "email" in header
    assert cli.main(["--course-root", str(course.root), "export", A, "--canvas-assignment-id", "5"]) == 1
    assert "--format canvas" in capsys.readouterr().err
