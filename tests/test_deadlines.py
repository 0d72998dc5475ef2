"""Due dates, extensions and late penalties on real nbgrader: real gradebook, real exchange,
real ``timestamp.txt`` files and nbgrader's own ``AssignLatePenalties`` step.

Grading runs nbgrader's plain ``Execute`` (``AUTOGRADER_GRADER=plain``), as in test_pipeline.py:
these tests check deadlines, not the sandbox.
"""
from __future__ import annotations

import csv
import datetime as dt

import nbformat
import pytest
from nbgrader.preprocessors import AssignLatePenalties
from traitlets.config import Config

from autograder.cli import main
from autograder.demo import student_notebook
from autograder.demo_class import CLASS
from autograder.errors import AuthoringError
from autograder.nbgrader_ext.late_penalty import LatePenaltyPlugin
from autograder.judge.results import SubmissionResult
from autograder.reports.feedback_html import write_feedback_page
from autograder.reports.feedback_text import render_submission
from autograder.reports.html_report import write_report
from autograder.pipeline import (
    CourseRoot, collect, export_grades, grade_class, release, submit_as, summary_table)
from autograder.pipeline.deadlines import (
    DATE_FORMAT, deadline_summary, grant_extension, late_line, late_work, lateness, parse_deadline,
    show_duration)
from course_copy import copy_course

A = "loss_functions"
BY_ID = {s.id: s for s in CLASS}
DUE = "2026-12-01T23:59+01:00"          # 22:59 UTC
DUE_UTC = dt.datetime(2026, 12, 1, 22, 59)
# nbgrader's timestamp.txt format (c.Exchange.timestamp_format, "%Y-%m-%d %H:%M:%S.%f %Z")
STAMPS = {
    "ada": "2026-12-01 21:30:00.000000 UTC",   # on time
    "ben": "2026-12-02 02:19:00.000000 UTC",   # 3 h 20 min late
    "dev": "2026-12-02 20:00:00.000000 UTC",   # 21 h late, but within the extension below
}
EXTENSION = "2026-12-03T23:59+01:00"
PER_HOUR = """
c.AssignLatePenalties.plugin_class = "autograder.nbgrader_ext.late_penalty.LatePenaltyPlugin"
c.LatePenaltyPlugin.penalty_method = "per_hour"
c.LatePenaltyPlugin.points = 0.5
"""


def make_course(root, monkeypatch) -> CourseRoot:
    monkeypatch.setenv("AUTOGRADER_GRADER", "plain")
    monkeypatch.setenv("AUTOGRADER_EXCHANGE", str(root / "exchange"))
    return CourseRoot.at(copy_course(root))


@pytest.fixture
def course(tmp_path, monkeypatch):
    return make_course(tmp_path / "course", monkeypatch)


def due_in_gradebook(course: CourseRoot):
    with course.gradebook() as gb:
        return gb.find_assignment(A).duedate


# -- dates ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, zone, utc", [
    ("2026-12-01T23:59", "UTC", dt.datetime(2026, 12, 1, 23, 59)),
    ("2026-12-01T23:59Z", "Europe/Berlin", dt.datetime(2026, 12, 1, 23, 59)),
    ("2026-12-01T23:59+01:00", "UTC", dt.datetime(2026, 12, 1, 22, 59)),
    ("2026-12-01 23:59:30-05:00", "UTC", dt.datetime(2026, 12, 2, 4, 59, 30)),
    ("2026-12-01T23:59", "Europe/Berlin", dt.datetime(2026, 12, 1, 22, 59)),   # CET in winter
    ("2026-07-01T23:59", "Europe/Berlin", dt.datetime(2026, 7, 1, 21, 59)),    # CEST in summer
    ("2026-12-01T23:59 America/New_York", "UTC", dt.datetime(2026, 12, 2, 4, 59)),
])
def test_due_dates_are_read_in_their_zone_and_kept_in_utc(text, zone, utc):
    assert parse_deadline(text, zone) == utc


@pytest.mark.parametrize("text", ["tomorrow", "2026-12-01", "01/12/2026 23:59", "2026-13-01T23:59",
                                  "2026-12-01T23:59 Mars/Olympus", ""])
def test_a_bad_date_names_the_format(text):
    with pytest.raises(AuthoringError, match="YYYY-MM-DDTHH:MM"):
        parse_deadline(text, "UTC")


def test_a_bad_due_date_is_one_error_line_and_releases_nothing(course, capsys):
    assert main(["--course-root", str(course.root), "release", A, "--due", "next friday"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --due 'next friday' is not a date and time")
    assert DATE_FORMAT in err
    assert not (course.root / "gradebook.db").exists() and not (course.root / "exchange").exists()


def test_durations_read_like_a_person_would_say_them():
    assert show_duration(3 * 3600 + 20 * 60 + 59) == "3 h 20 min"
    assert show_duration(2 * 86400 + 4 * 3600 + 60) == "2 d 4 h"
    assert show_duration(3600) == "1 h"
    assert show_duration(45 * 60) == "45 min"
    assert show_duration(30) == "30 s"


# -- the penalty plugin -----------------------------------------------------------------------
def penalty(seconds_late: float, score: float = 30.0, **traits):
    return LatePenaltyPlugin(**traits).late_submission_penalty("ada", score, seconds_late)


def test_penalty_methods():
    late = 3 * 3600 + 20 * 60
    assert penalty(late) is None                                       # default: none
    assert penalty(late, penalty_method="zero") == 30.0                # nbgrader's own
    assert penalty(late, penalty_method="per_hour", points=0.5) == 2.0        # 4 started hours
    assert penalty(late, penalty_method="per_hour", points=0.5, round_up=False) == pytest.approx(5 / 3)
    assert penalty(late, penalty_method="per_day", points=3) == 3.0           # 1 started day
    assert penalty(26 * 3600, penalty_method="per_day", points=3) == 6.0
    assert penalty(late, penalty_method="per_hour", points=5, max_penalty=12) == 12.0
    assert penalty(late, score=1.5, penalty_method="per_hour", points=5) == 1.5   # never below 0
    assert penalty(4 * 60, penalty_method="zero", grace_minutes=5) is None
    assert penalty(6 * 60, penalty_method="per_hour", grace_minutes=5) == 1.0
    assert penalty(0, penalty_method="zero") is None


def test_penalty_settings_come_from_nbgrader_config():
    cfg = Config()
    cfg.LateSubmissionPlugin.penalty_method = "per_day"  # nbgrader's own section works too
    cfg.LatePenaltyPlugin.points = 2.0
    assert LatePenaltyPlugin(config=cfg).late_submission_penalty("ada", 30.0, 3600) == 2.0


# -- release --due, extend ------------------------------------------------------------------
@pytest.mark.slow
def test_release_records_the_due_date_and_extend_the_extension(course, capsys):
    root = ["--course-root", str(course.root)]
    assert main([*root, "extend", A, "ada", "--until", EXTENSION]) == 1     # nothing released yet
    assert "has no due date: release it with --due" in capsys.readouterr().err

    assert main([*root, "release", A, "--due", DUE]) == 0
    assert "due 2026-12-01 22:59 UTC" in capsys.readouterr().out
    assert due_in_gradebook(course) == DUE_UTC
    release(course, A)  # re-releasing without --due keeps the due date
    assert due_in_gradebook(course) == DUE_UTC

    with (course.root / "nbgrader_config.py").open("a") as fh:  # zone-less dates: the course's zone
        fh.write('\nc.Exchange.timezone = "Europe/Berlin"\n')
    assert main([*root, "release", A, "--due", "2026-12-08T12:00"]) == 0
    assert due_in_gradebook(course) == dt.datetime(2026, 12, 8, 11, 0)
    assert "due 2026-12-08 12:00 CET" in capsys.readouterr().out

    assert main([*root, "extend", A, "zed", "--until", "2026-12-10T12:00"]) == 1
    assert "no student 'zed' on the roster" in capsys.readouterr().err
    with course.gradebook() as gb:
        assert "zed" not in {s.id for s in gb.students}
        gb.update_or_create_student("ada")
    assert main([*root, "extend", A, "ada", "--until", "2026-12-08T11:00"]) == 1
    assert "is not after the due date 2026-12-08 12:00 CET" in capsys.readouterr().err
    assert main([*root, "extend", A, "ada", "--until", "the tenth"]) == 1
    assert capsys.readouterr().err.startswith("error: --until 'the tenth' is not a date and time: write YYYY")

    assert main([*root, "extend", A, "ada", "--until", "2026-12-10T12:00"]) == 0
    assert "ada: loss_functions due 2026-12-10 12:00 CET (extension of 2 d)" in capsys.readouterr().out
    with course.gradebook() as gb:
        sub = gb.find_submission(A, "ada")
        assert sub.extension == dt.timedelta(days=2) and sub.duedate == dt.datetime(2026, 12, 10, 11, 0)
    assert main([*root, "extend", A, "ada", "--remove"]) == 0
    with course.gradebook() as gb:
        assert gb.find_submission(A, "ada").extension is None


# -- a class graded after its due date ----------------------------------------------------------
def submit(course: CourseRoot, student: str, released) -> None:
    home = course.root.parent / "students" / student
    (home / A).mkdir(parents=True)
    (home / A / f"{A}.ipynb").write_text(student_notebook(BY_ID[student], released))
    submit_as(course, A, student, home, cache=home / ".cache")


def recompute_penalty(course: CourseRoot, student: str, plugin=None, **traits) -> None:
    """nbgrader's own AssignLatePenalties step on the graded submission, with other settings."""
    cfg = Config()
    if plugin is not None:
        cfg.AssignLatePenalties.plugin_class = plugin
    cfg.LatePenaltyPlugin = Config(traits)
    cfg.LateSubmissionPlugin = Config(traits)
    resources = {"nbgrader": {"notebook": A, "assignment": A, "student": student,
                              "db_url": course.db_url()}}
    AssignLatePenalties(config=cfg).preprocess(nbformat.v4.new_notebook(), resources)


@pytest.mark.slow
def test_late_work_is_penalised_and_shown_everywhere(course, capsys):
    with (course.root / "nbgrader_config.py").open("a") as fh:
        fh.write(PER_HOUR)
    release(course, A, due=DUE)
    released = nbformat.read(course.release(A) / f"{A}.ipynb", as_version=4)
    for student in STAMPS:
        submit(course, student, released)
    assert collect(course, A) == sorted(STAMPS)
    for student, stamp in STAMPS.items():  # what nbgrader submit would have written at that time
        (course.submitted(student, A) / "timestamp.txt").write_text(stamp)
    assert main(["--course-root", str(course.root), "extend", A, "dev", "--until", EXTENSION]) == 0

    summary = grade_class(course, A, progress=False)
    db = course.db_url()
    ada, ben, dev = (lateness(db, A, s) for s in ("ada", "ben", "dev"))
    assert ada.timestamp == dt.datetime(2026, 12, 1, 21, 30) and not ada.late and ada.penalty == 0
    assert ben.seconds_late == 3 * 3600 + 20 * 60 and ben.penalty == 2.0   # 4 started hours × 0.5
    assert dev.extension == dt.timedelta(days=2) and not dev.late and dev.penalty == 0
    assert ben.raw_score > 2

    # the score table: a note for the late student only, the others' rows as before
    outcomes = {o.student: o for o in summary.outcomes}
    table = summary_table(summary)
    ben_row = next(ln for ln in table.splitlines() if ln.startswith("ben "))
    assert ben_row.endswith(f"late 3 h 20 min: \u22122 \u2192 {ben.raw_score - 2:g}/{ben.max_score:g}")
    assert outcomes["ada"].late == outcomes["dev"].late == ""
    assert "late" not in next(ln for ln in table.splitlines() if ln.startswith("ada "))

    # nbgrader's CSV export: due date, timestamp, penalty and the score after it
    rows = {r["student_id"]: r for r in csv.DictReader(export_grades(course, A).open())}
    assert rows["ben"]["late_submission_penalty"] == "2.0"
    assert float(rows["ben"]["score"]) == float(rows["ben"]["raw_score"]) - 2
    assert rows["ben"]["timestamp"] == "2026-12-02 02:19:00" and rows["ben"]["duedate"] == "2026-12-01 22:59:00"
    assert rows["dev"]["late_submission_penalty"] == "0.0" and rows["dev"]["score"] == rows["dev"]["raw_score"]

    # the student's feedback line and the staff report's
    assert late_line(db, A, "ben") == "submitted 3 h 20 min after the due date: \u22122 points"
    assert late_line(db, A, "ada") is None and late_line(db, A, "dev") is None
    assert late_line(db, A, "nobody") is None
    assert [(r.student, r.late, r.penalty) for r in late_work(db, A)] == [("ben", True, 2.0), ("dev", False, 0.0)]
    assert deadline_summary(db, A) == "due 2026-12-01 22:59 UTC; 1 late (\u22122 points in all); 1 extension"
    assert deadline_summary(db, A, "Europe/Berlin").startswith("due 2026-12-01 23:59 CET;")
    # ... as the student's feedback and the staff report show them (plain nbgrader keeps no records here)
    record = SubmissionResult(student="ben", assignment=A, status="graded")
    line = late_line(db, A, "ben")
    assert " points\nSubmitted 3 h 20 min after the due date: \u22122 points\n" in render_submission(record, line)
    page = write_feedback_page(record, course.root / "ben.html", late=line).read_text()
    assert "Submitted 3 h 20 min after the due date: \u22122 points" in page
    report = write_report([record], course.root / "report.html", assignment=A, sandboxed=True,
                          deadline=deadline_summary(db, A)).read_text()
    assert "Due 2026-12-01 22:59 UTC; 1 late (\u22122 points in all); 1 extension" in report

    # the other penalty methods, by nbgrader's own step on the same submission
    recompute_penalty(course, "ben")  # nbgrader's LateSubmissionPlugin, method none
    assert lateness(db, A, "ben").penalty == 0
    assert late_line(db, A, "ben") == "submitted 3 h 20 min after the due date: no penalty"
    recompute_penalty(course, "ben", penalty_method="zero")
    assert lateness(db, A, "ben").score == 0
    assert late_line(db, A, "ben") == f"submitted 3 h 20 min after the due date: \u2212{ben.raw_score:g} points"
    recompute_penalty(course, "ben", LatePenaltyPlugin, penalty_method="per_day", points=3)
    assert lateness(db, A, "ben").penalty == 3

    # an extension that still ends before the submission: late after the student's own due date
    grant_extension(course, A, "ben", "2026-12-02T01:00+01:00")                   # 00:00 UTC
    recompute_penalty(course, "ben", LatePenaltyPlugin, penalty_method="per_hour", points=0.5)
    assert lateness(db, A, "ben").penalty == 1.5                                   # 2 h 19 min: 3 hours
    assert late_line(db, A, "ben") == "submitted 2 h 19 min after your extended due date: \u22121.5 points"
    grant_extension(course, A, "ben", EXTENSION)                                  # now within it
    recompute_penalty(course, "ben", LatePenaltyPlugin, penalty_method="per_hour", points=0.5)
    assert lateness(db, A, "ben").penalty == 0 and late_line(db, A, "ben") is None
