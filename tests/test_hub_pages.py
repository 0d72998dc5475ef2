"""The hub pages' parts without a hub: rendering (escaping, states), the state file's new columns,
the staff actions as the loop carries them out, the security headers and id checks.
``test_hub_service.py`` runs them behind a real JupyterHub."""
from __future__ import annotations

import re
import sqlite3
import time

import pytest

from autograder.reports.records import dumps, result_to_json
from autograder.service import hub, pages
from autograder.service.status import Status
from autograder.service.store import Store
from test_service import _result, _StandInPool

HOSTILE = "<script>alert(1)</script>"


def _store(tmp_path) -> Store:
    store = Store(tmp_path / "state.sqlite")
    store.add(f"ann+a+{HOSTILE}+r", "ann", "a", 1000.0, "watch")
    store.update(f"ann+a+{HOSTILE}+r", state="queued", flag=f"timestamp.txt {HOSTILE!r} is not a date")
    store.add("ann+a+t2+r", "ann", "a", 2000.0, "watch")
    store.mark_released("ann+a+t2+r", 2010.0, level="scores", score=1.0, max_score=8.0, outcome="graded",
                        shown=dumps(result_to_json(_result())))
    return store


def test_a_students_page_escapes_and_says_each_state(tmp_path):
    store = _store(tmp_path)
    now = time.time()
    quotas = {"a": pages.Quota(0, 5, 12.0, now + 600)}
    rows = pages.lines(store.of_student("ann"), quotas, now, "UTC")
    assert [(r.number, r.label) for r in rows][0] == (2, "feedback ready")
    assert rows[1].label.startswith("over the limit until ") and len(rows[1].label) == len("over the limit until 12:34 UTC")
    html = pages.student_page("ann", rows, quotas, "/services/autograder/", "UTC", now, staff_link=False)
    assert 'href="/services/autograder/students/ann/feedback/2"' in html and "feedback/1" not in html
    assert "<script" not in html.lower() and "Staff page" not in html
    evil = pages.student_page(HOSTILE, [], {}, "/p/", "UTC", now, staff_link=True)
    assert HOSTILE not in evil and "&lt;script&gt;" in evil


def test_the_staff_page_escapes_flags_ids_and_carries_the_xsrf_token(tmp_path):
    store = _store(tmp_path)
    status = Status(True, "1", "now", "w", None, store.counts(), 1, 1.5, 2.5, 1, 1)
    html = pages.staff_page(status, store.everything(), {}, store.flags(), [("lift", "ann", "a", "prof", 5.0, 6.0,
                            HOSTILE)], "/p/", "UTC", time.time(), 'x"><b>')
    assert HOSTILE not in html and "&lt;script&gt;" in html and "<script" not in html.lower()
    assert 'value="x&quot;&gt;&lt;b&gt;"' in html  # even a token is never markup
    assert "p50 <b>1.5 s</b>" in html and html.count('action="/p/staff/grade"') == 1


def test_an_older_state_file_gets_the_new_columns(tmp_path):
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.execute("CREATE TABLE submissions (id TEXT PRIMARY KEY, student TEXT NOT NULL, assignment TEXT NOT NULL, "
               "seen_at REAL NOT NULL, seen_by TEXT NOT NULL, state TEXT NOT NULL, stamp TEXT, secret TEXT, "
               "notebooks TEXT, flag TEXT, detail TEXT, attempts INTEGER NOT NULL DEFAULT 0, suspect INTEGER NOT "
               "NULL DEFAULT 0, record TEXT, level TEXT, score REAL, max_score REAL, outcome TEXT, noticed_at REAL, "
               "released_at REAL, releases INTEGER NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO submissions (id, student, assignment, seen_at, seen_by, state) VALUES "
               "('x', 'ann', 'a', 1, 'watch', 'queued')")
    db.commit()
    db.close()
    store = Store(tmp_path / "old.sqlite")
    assert store.get("x").staff == 0 and store.get("x").shown is None
    store.close()


@pytest.mark.parametrize("value, ok", [("ann", True), ("a.b-c_d@x", True), ("..", False), ("../ann", False),
                                       ("ann/ben", False), ("", False), ("a" * 65, False), ("ann\x00", False),
                                       ("-ann", False), ("ann\n", False), ("ånn", False)])
def test_ids_in_urls_are_checked_before_use(value, ok):
    assert bool(hub.ID.match(value)) is ok


def test_every_response_forbids_script_framing_and_sniffing():
    csp = hub.HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert hub.HEADERS["X-Content-Type-Options"] == "nosniff"
    assert not hub.under_hub({}) and hub.under_hub({"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_SERVICE_URL": "u"})


def _service(tmp_path):
    from course_copy import copy_course

    from autograder.pipeline import CourseRoot
    from autograder.service.loop import Service

    service = Service(CourseRoot(copy_course(tmp_path / "course")), jobs=2)
    service.store = Store(service.state_path)
    service.graders = _StandInPool()
    return service


def test_staff_lift_and_grade_now_are_carried_out_by_the_loop_without_taking_tokens(tmp_path):
    from autograder.service import actions

    service = _service(tmp_path)
    store = service.store
    store.set_bucket("ann", "loss_functions", 0.0, time.time(), time.time() + 3600)  # over her limit
    store.add("ann+loss_functions+t+r", "ann", "loss_functions", 100.0, "watch")
    store.update("ann+loss_functions+t+r", state="queued", secret="1" * 128, notebooks='["loss_functions"]')
    service._schedule()
    assert store.get("ann+loss_functions+t+r").state == "queued"  # waits for the limit
    store.add_request("grade", "ann", "loss_functions", "prof", time.time())
    actions.carry_out(service)
    service._schedule()
    assert store.get("ann+loss_functions+t+r").state == "grading"
    assert store.bucket("ann", "loss_functions")[0] < 0.01  # no token taken from her
    store.add_request("lift", "ann", "loss_functions", "prof", time.time())
    store.add_request("grade", "nobody", "loss_functions", "prof", time.time())
    actions.carry_out(service)
    assert store.bucket("ann", "loss_functions")[:1] == (5.0,) and store.bucket("ann", "loss_functions")[2] == 0.0
    outcomes = [r[6] for r in store.recent_requests()]
    assert outcomes == ["no submission to grade", "rate limit lifted: 5 feedbacks available", "ann+loss_functions+t+r graded next"]
    assert store.pending_requests() == []
    store.close()


def test_the_staff_page_lists_the_whole_roster_not_only_who_submitted(tmp_path):
    service = _service(tmp_path)
    with service.course.gradebook() as gb:
        for student in ("bob", "ann"):
            gb.update_or_create_student(student)
    (service.exchange / "outbound" / "loss_functions").mkdir(parents=True)
    roster = hub.Pages(service, {"JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:1/", "JUPYTERHUB_API_TOKEN": "t"}).roster()
    assert roster == pages.Roster(("ann", "bob"), ("loss_functions",))  # from the gradebook and the exchange
    service.store.close()

    store = _store(tmp_path)  # ann has submitted assignment "a"
    status = Status(True, "1", "now", "w", None, store.counts(), 1, 1.5, 2.5, 1, 1)
    html = pages.staff_page(status, store.everything(), {}, [], [], "/p/", "UTC", time.time(), "t",
                            pages.Roster(("ann", "bob", HOSTILE), ("a", "b")))
    students = html[html.index("<h2>Students</h2>"):html.index("<h2>Ungradable")]
    rows = {"/".join(re.sub("<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)[:2]): r
            for r in students.split("<tr>")[2:]}
    assert len(rows) == 6 and [k for k, r in rows.items() if "no submission" not in r] == ["ann/a"], rows
    assert 'href="/p/students/ann"' in rows["ann/a"] and 'href="/p/students/bob"' not in students  # no page yet
    assert students.count('action="/p/staff/grade"') == 1  # nothing to grade for the others
    assert HOSTILE not in html and "&lt;script&gt;" in students
