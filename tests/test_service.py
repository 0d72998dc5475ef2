"""The grading service's parts, fast: the token bucket, the fair queue, the policy levels, the
timestamp flag, the state store, the inbound snapshot, the release into the exchange, the lock."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import time
from pathlib import Path

import pytest
from traitlets.config import Config

from autograder.errors import AuthoringError
from autograder.judge.results import CheckResult, Counterexample, Flag, PartResult, SubmissionResult
from autograder.service import inbound, policy, release, status
from autograder.service.config import InstantFeedback
from autograder.service.queue import plan
from autograder.service.ratelimit import Bucket
from autograder.service.store import Store, Submission

SECRET = "ab" * 64


# -- token bucket ---------------------------------------------------------------------------
def test_bucket_gives_capacity_at_once_then_one_per_period_share():
    bucket = Bucket(capacity=5, period=3600)
    tokens, updated = None, None
    for i in range(5):
        granted, tokens, _ = bucket.take(tokens, updated, 1000.0)
        updated = 1000.0
        assert granted, i
    granted, tokens, next_at = bucket.take(tokens, updated, 1000.0)
    assert not granted and next_at == pytest.approx(1000.0 + 720.0)
    assert not bucket.take(tokens, 1000.0, 1000.0 + 719.0)[0]
    assert bucket.take(tokens, 1000.0, next_at)[0]  # exactly then, despite float rounding


def test_bucket_never_holds_more_than_capacity():
    assert Bucket(2, 60).level(0.0, 0.0, 10_000.0) == 2.0


# -- the queue ----------------------------------------------------------------------------
def _sub(student: str, at: float, suspect: int = 0, assignment: str = "a") -> Submission:
    return Submission(id=f"{student}+{assignment}+{at}", student=student, assignment=assignment,
                      seen_at=at, state="queued", suspect=suspect)


def test_a_students_twenty_submissions_are_one_grading_and_do_not_delay_anyone_first():
    flood = [_sub("ann", float(t)) for t in range(20)]
    first = _sub("bob", 5.5)
    picked = plan(flood + [first], set(), False, free=2)
    assert [(latest.id, len(older)) for latest, older in picked] == [(flood[-1].id, 19), (first.id, 0)]
    # ann's grading in hand and more of hers queued: bob comes next, not ann again
    picked = plan(flood[5:] + [first], {("ann", "a")}, False, free=1)
    assert [latest.id for latest, _ in picked] == [first.id]


def test_keys_are_served_in_arrival_order_of_their_oldest_waiting_submission():
    subs = [_sub("cy", 3.0), _sub("ann", 1.0), _sub("bob", 2.0), _sub("ann", 4.0)]
    assert [latest.student for latest, _ in plan(subs, set(), False, free=3)] == ["ann", "bob", "cy"]
    assert [latest.seen_at for latest, _ in plan(subs, set(), False, free=1)] == [4.0]


def test_a_suspect_runs_alone():
    subs = [_sub("ann", 1.0), _sub("bob", 2.0, suspect=1)]
    assert plan(subs, {("cy", "a")}, False, free=2) == []  # waits until nothing else is in hand
    assert [(l.student, o) for l, o in plan(subs, set(), False, free=2)] == [("bob", [])]
    assert plan(subs, {("bob", "a")}, True, free=1) == []  # and nothing beside it


# -- policy ---------------------------------------------------------------------------------
def _result() -> SubmissionResult:
    cx = Counterexample(inputs=(("y_pred", "tensor([1.])"),), expected="0.5", got="1.0", by_hand="1/2")
    hidden = PartResult("mse_hidden", "mse: hidden properties", ("mse",), 5.0, 2.0, checks=(
        CheckResult("mean of squared errors", False, 2.0, message="expected 0.5, got 1.0",
                    counterexample=cx, example=cx, diagnosis="sums instead of averaging", image_png=b"png"),
        CheckResult("0-d tensor", True, 1.0)))
    public = PartResult("mse_public", "mse: the lesson's examples", ("mse",), 1.0, 0.0, checks=(
        CheckResult("mse([2], [1])", False, 1.0, message="gave 2", example=cx),))
    cells = PartResult("squares", "squares", (), 2.0, 0.0,
                       error="AssertionError: expected [1, 4], in a hidden test", checks=(
                           CheckResult("runs without an error", False, 1.0,
                                       message="AssertionError: expected [1, 4], in a hidden test"),))
    return SubmissionResult("ann", "a", "graded", parts=(public, hidden, cells),
                            flags=(Flag("tamper", "for TAs"),))


HIDDEN = frozenset({"mse_hidden", "squares"})


def test_public_level_shows_only_parts_without_hidden_tests():
    shown = policy.visible(_result(), "public", HIDDEN)
    assert [p.grade_id for p in shown.parts] == ["mse_public"]
    assert shown.parts[0].checks[0].example is not None  # public checks in full
    assert shown.flags == () and shown.max_score == 1.0
    assert "2 parts with hidden checks (7 points)" in policy.withheld(_result(), "public", HIDDEN)


def test_scores_level_keeps_scores_and_the_likely_mistake_but_no_inputs():
    shown = policy.visible(_result(), "scores", HIDDEN)
    hidden = shown.parts[1]
    assert hidden.score == 2.0 and hidden.checks[0].diagnosis == "sums instead of averaging"
    assert hidden.checks[0].counterexample is None and hidden.checks[0].example is None
    assert hidden.checks[0].image_png is None and hidden.checks[0].message == ""  # it may hold values
    assert shown.parts[2].error == "AssertionError, in a hidden test"  # the asserted values stay hidden
    assert shown.parts[2].checks[0].message == "AssertionError, in a hidden test"
    assert shown.parts[0] == _result().parts[0] and shown.flags == ()


def test_a_bare_hidden_part_lists_its_broken_rules_without_stray_notes():
    from autograder.reports.feedback_view import part_view

    cx = Counterexample(inputs=(("y_pred", "tensor([1.])"),), expected="0.5", got="1.0", by_hand="1/2")
    broken = tuple(CheckResult(name, False, 1.0, message=f"expected 0.5, got 1.0 ({name})", counterexample=cx,
                               diagnosis="sums instead of averaging") for name in ("mean", "0-d", "gradient"))
    part = PartResult("mse_hidden", "mse: hidden properties", ("mse",), 3.0, 0.0, checks=broken)
    shown = policy.visible(SubmissionResult("ann", "a", "graded", parts=(part,)), "scores", HIDDEN)
    (cause,) = part_view(shown.parts[0]).causes
    assert cause.diagnosis == "Likely mistake: sums instead of averaging" and len(cause.rules) == 3
    assert [r.note for r in cause.rules] == ["", "", ""]  # the messages are withheld, no lone "."


def test_all_level_keeps_everything_but_staff_flags():
    shown = policy.visible(_result(), "all", HIDDEN)
    assert shown.parts == _result().parts and shown.flags == ()


def test_level_depends_on_the_time_of_record_against_the_students_due_date():
    due = dt.datetime(2026, 12, 1, 23, 59)
    before = due.replace(tzinfo=dt.timezone.utc).timestamp() - 1
    after = before + 2
    assert policy.level_for("scores", "none", before, due) == "scores"
    assert policy.level_for("scores", "none", after, due) is None
    assert policy.level_for("public", "all", after, due) == "all"
    assert policy.level_for("public", "none", after, None) == "public"  # no due date


@pytest.mark.parametrize("stamp, flagged", [
    ("2026-12-06 10:00:00.000000 UTC", False),          # the moment it was seen
    ("2026-12-06 09:59:00.000000 UTC", False),          # a minute's drift: within tolerance
    ("2026-12-06 09:00:00.000000 UTC", True),           # an hour earlier: edited
    ("2026-12-06 11:00:00 CET", False),                 # another zone, same instant
    ("yesterday", True), (None, True)])
def test_timestamp_flag(stamp, flagged):
    seen = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.timezone.utc).timestamp()
    assert (policy.timestamp_flag(stamp, seen, 120.0) is not None) == flagged


def test_hidden_parts_are_read_from_the_instructor_notebook():
    hidden = policy.hidden_parts(Path(__file__).resolve().parents[1] / "source" / "loss_functions")
    assert "mse_hidden" in hidden and "mse_public" not in hidden


def test_traits_have_defaults_and_read_the_config():
    assert (InstantFeedback().visibility, InstantFeedback().rate_limit, InstantFeedback().after_due_visibility,
            InstantFeedback().metrics_host) == ("scores", 5, "none", "127.0.0.1")
    cfg = Config()
    cfg.InstantFeedback.visibility = "public"
    assert InstantFeedback(config=cfg).visibility == "public"
    cfg.InstantFeedback.visibility = "everything"
    with pytest.raises(Exception):
        InstantFeedback(config=cfg)


# -- store ----------------------------------------------------------------------------------
def test_store_requeues_what_was_in_hand_and_counts_releases(tmp_path):
    store = Store(tmp_path / "state.sqlite")
    assert stat.S_IMODE((tmp_path / "state.sqlite").stat().st_mode) == 0o600  # holds secrets
    store.add("x", "ann", "a", 10.0, "watch")
    store.add("x", "ann", "a", 99.0, "watch")  # seen again: the first time stays the time of record
    store.update("x", state="grading")
    assert store.requeue_unfinished() == 1 and store.get("x").state == "queued"
    store.update("x", state="graded", record="{}")
    store.mark_released("x", 12.5, outcome="graded")
    sub = store.get("x")
    assert (sub.seen_at, sub.state, sub.releases, sub.record) == (10.0, "released", 1, None)
    assert store.latencies() == [2.5]
    store.close()


# -- inbound ----------------------------------------------------------------------------------
def _submission(inbound_dir: Path, name: str, secret: str | None = SECRET) -> Path:
    folder = inbound_dir / name
    folder.mkdir(parents=True)
    (folder / "a.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text("2026-12-06 10:00:00.000000 UTC")
    if secret is not None:
        (folder / "submission_secret.txt").write_text(secret)
    return folder


def test_snapshot_copies_the_notebooks_but_no_link_secret_or_timestamp(tmp_path):
    me = __import__("pwd").getpwuid(os.getuid()).pw_name
    folder = _submission(tmp_path / "inbound", f"{me}+a+2026-12-06 10:00:00.000000 UTC+r4nd")
    (tmp_path / "solutions.ipynb").write_text("secret solutions")
    (folder / "link.ipynb").symlink_to(tmp_path / "solutions.ipynb")
    snap = inbound.snapshot(folder, tmp_path / "spool", True, 1 << 20)
    assert (snap.student, snap.assignment, snap.secret, snap.notebooks) == (me, "a", SECRET, ("a",))
    assert sorted(p.name for p in snap.folder.iterdir()) == ["a.ipynb"]


def test_snapshot_waits_for_the_secret_and_refuses_bad_folders(tmp_path):
    me = __import__("pwd").getpwuid(os.getuid()).pw_name
    spool = tmp_path / "spool"
    with pytest.raises(inbound.Incomplete):
        inbound.snapshot(_submission(tmp_path / "in", f"{me}+a+t+r", secret=None), spool, True, 1 << 20)
    with pytest.raises(inbound.Refused, match="belongs to"):
        inbound.snapshot(_submission(tmp_path / "in", "someone_else+a+t+r"), spool, True, 1 << 20)
    with pytest.raises(inbound.Refused, match="larger"):
        inbound.snapshot(_submission(tmp_path / "in", f"{me}+a+t+big"), spool, True, 1)
    (tmp_path / "in" / f"{me}+a+t+link").symlink_to(tmp_path / "in" / f"{me}+a+t+r")
    with pytest.raises(inbound.Refused):
        inbound.snapshot(tmp_path / "in" / f"{me}+a+t+link", spool, True, 1 << 20)
    assert inbound.parse_name("ann+a+2026-12-06 10:00:00 UTC+xyz") == ("ann", "a")
    assert inbound.parse_name("notes.txt") is None
    assert inbound.parse_name("ann+a+t\n2026-12-06 released student=bob+r") is None


# -- release ----------------------------------------------------------------------------------
def test_publish_writes_where_nbgrader_fetch_feedback_looks_once(tmp_path):
    from nbgrader.utils import notebook_hash

    course = tmp_path / "exchange" / "course"
    assert release.publish(course, SECRET, ["a", "b"], "<p>hi</p>")
    for notebook in ("a", "b"):
        name = hashlib.md5((SECRET + notebook).encode()).hexdigest()
        assert name == notebook_hash(secret=SECRET, notebook_id=notebook)
        path = course / "feedback" / f"{name}.html"
        assert path.read_text() == "<p>hi</p>" and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((course / "feedback").stat().st_mode) == 0o711  # enter, not list
    assert not release.publish(course, SECRET, ["a", "b"], "<p>hi</p>")  # the same bytes: not again
    assert sorted(p.name for p in (course / "feedback").iterdir() if p.name.startswith(".")) == []


def test_feedback_page_says_what_it_is_and_escapes_the_student():
    result = SubmissionResult("<b>ann</b>", "a", "graded", parts=(_result().parts[0],))
    html = release.feedback_html(result, 0.0, "UTC", ["note <i>x</i>"])
    assert "Instant feedback on your submission received 1970-01-01 00:00 UTC" in html
    assert "<b>ann</b>" not in html and "note &lt;i&gt;x&lt;/i&gt;" in html


# -- one service per course ----------------------------------------------------------------------
def test_a_second_service_is_refused_while_the_first_holds_the_lock(tmp_path):
    state = tmp_path / "state.sqlite"
    assert not status.running(state)
    fd = status.acquire(state)
    try:
        assert status.running(state)
        with pytest.raises(AuthoringError, match=f"already running for this course \\(pid {os.getpid()}"):
            status.acquire(state)
    finally:
        os.close(fd)
    assert not status.running(state)


# -- the staff report shows the service's timestamp flags ---------------------------------------
def test_report_shows_forged_timestamps_flagged_by_the_service(tmp_path):
    from course_copy import copy_course

    from autograder.pipeline import CourseRoot
    from autograder.pipeline.records_io import save, write_class_report
    from autograder.service import config

    course = CourseRoot(copy_course(tmp_path / "course"))
    save(course, SubmissionResult("ann", "loss_functions", "graded", parts=(_result().parts[0],)))
    quiet = write_class_report(course, "loss_functions").read_text()
    assert "Submission times" not in quiet  # the service never ran here: no section
    store = Store(config.state_path(course, config.load(course)))
    store.add("ann+loss_functions+2020-01-01 00:00:00 UTC+x", "ann", "loss_functions", 1e9, "watch")
    store.update("ann+loss_functions+2020-01-01 00:00:00 UTC+x", flag="timestamp.txt says 2020-01-01 <b>")
    store.close()
    html = write_class_report(course, "loss_functions").read_text()
    assert "Submission times" in html and "timestamp.txt says 2020-01-01 &lt;b&gt;" in html


# -- the watcher: inotify, and listing for network filesystems ------------------------------------
@pytest.mark.parametrize("polling", [False, True])
def test_watcher_hears_a_new_submission_folder_within_a_second(tmp_path, polling):
    from autograder.service.watcher import Watcher

    inbox = tmp_path / "inbound"
    inbox.mkdir()
    (inbox / "old+a+t+r").mkdir()
    watcher = Watcher(inbox, polling=polling, poll_seconds=0.2, rescan_seconds=30)
    watcher.start()
    try:
        assert watcher.listing() == ["old+a+t+r"]  # the work list at start
        time.sleep(0.3)  # the polling observer's first snapshot
        made = time.time()
        (inbox / "ann+a+t+r").mkdir()
        (inbox / "ann+a+t+r" / "a.ipynb").write_text("{}")  # inside a submission: not watched
        heard = []
        while time.time() - made < 1.0 and not heard:
            heard = [name for name, _ in watcher.drain(0.1)]
        assert heard and set(heard) == {"ann+a+t+r"}, heard
        assert not watcher.due_for_rescan()
    finally:
        watcher.stop()


# -- a worker that dies: the service loop with a stand-in pool -----------------------------------
class _StandInPool:
    """``Graders`` without processes: the test decides how each grading ends."""

    def __init__(self) -> None:
        self.submitted: list = []
        self.restarts = 0

    def job(self, student, assignment, folder, origin):
        from autograder.judge.worker import GradingJob

        return GradingJob(course_root="", assignment=assignment, student=student, submission=str(folder), notebook="")

    def submit(self, job):
        from concurrent.futures import Future

        future = Future()
        self.submitted.append((job.student, future))
        return future

    def restart(self) -> None:
        self.restarts += 1


def test_a_submission_that_kills_its_worker_costs_only_its_own_grading(tmp_path):
    from concurrent.futures.process import BrokenProcessPool

    from course_copy import copy_course

    from autograder.pipeline import CourseRoot
    from autograder.reports.records import dumps, result_to_json
    from autograder.service.loop import Service

    course = CourseRoot(copy_course(tmp_path / "course"))
    service = Service(course, jobs=2)
    service.store = Store(service.state_path)
    service.graders = pool = _StandInPool()
    for i, student in enumerate(("mallory", "ann")):
        sub_id = f"{student}+loss_functions+t+r"
        service.store.add(sub_id, student, "loss_functions", 100.0 + i, "watch")
        service.store.update(sub_id, state="queued", secret=f"{i}" * 128, notebooks='["loss_functions"]')
    service._schedule()
    assert [s for s, _ in pool.submitted] == ["mallory", "ann"]
    for _, future in pool.submitted:  # mallory's grading breaks the pool: both gradings are lost
        future.set_exception(BrokenProcessPool("a worker died"))
    service._collect(wait=0)
    assert pool.restarts == 1 and {s.student for s in service.store.in_state("queued") if s.suspect} == {"mallory", "ann"}
    service._schedule()  # each suspect alone, in arrival order
    assert [s for s, _ in pool.submitted[2:]] == ["mallory"]
    service._schedule()
    assert len(pool.submitted) == 3  # nothing beside it
    pool.submitted[2][1].set_exception(BrokenProcessPool("a worker died"))  # alone: it is the cause
    service._collect(wait=0)
    service._schedule()
    assert [s for s, _ in pool.submitted[3:]] == ["ann"]
    ok = SubmissionResult("ann", "loss_functions", "graded", parts=(_result().parts[0],))
    pool.submitted[3][1].set_result(dumps(result_to_json(ok)))
    service._collect(wait=0)
    mallory, ann = service.store.get("mallory+loss_functions+t+r"), service.store.get("ann+loss_functions+t+r")
    assert (mallory.state, ann.state, mallory.releases, ann.releases) == ("released", "released", 1, 1)
    page = release.feedback_path(service.exchange, "0" * 128, "loss_functions").read_text()
    assert "worker process died" in page
    assert "Autograded score: 0 / 1" in release.feedback_path(service.exchange, "1" * 128, "loss_functions").read_text()
    service.store.close()


def test_sigterm_puts_back_what_does_not_finish_in_time_and_refunds_its_token(tmp_path):
    from course_copy import copy_course

    from autograder.pipeline import CourseRoot
    from autograder.service.loop import Service
    from autograder.service.watcher import Watcher

    course = CourseRoot(copy_course(tmp_path / "course"))
    cfg = Config()
    cfg.InstantFeedback.stop_seconds = 0.2
    service = Service(course, cfg, jobs=1)
    service.store = Store(service.state_path)
    service.graders = pool = _StandInPool()
    service.watcher = Watcher(tmp_path, False, 1.0, 30.0)
    service.watcher.start()
    sub_id = "ann+loss_functions+t+r"
    service.store.add(sub_id, "ann", "loss_functions", 100.0, "watch")
    service.store.update(sub_id, state="queued", secret="1" * 128, notebooks='["loss_functions"]')
    service._schedule()
    assert service.store.get(sub_id).state == "grading" and service.store.bucket("ann", "loss_functions")[0] == 4
    service.stopping = True
    service._finish()  # the grading never ends: back to the queue, for the next start
    assert service.store.get(sub_id).state == "queued" and service.store.bucket("ann", "loss_functions")[0] == 5
    assert pool.submitted and not pool.submitted[0][1].done()
    service.store.close()
