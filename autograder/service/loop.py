"""The service: watch the inbound folder, queue fairly, grade on warm workers, release feedback.

Each pass of the loop takes the folder names the watcher saw, snapshots the complete ones
(``inbound``), picks work (``_schedule``: per student and assignment, the key waiting longest
first; only its latest submission is graded, older ones are told so), collects finished gradings
and releases their feedback (``release``). Every state change is one log line with the student,
the assignment and the seconds since the submission was seen, and a metric.

Restarts lose nothing: the inbound folder is the work list and the state file says what was
answered; a grading in hand when the service was killed is graded again; a record graded but not
yet released is released after the restart, and a file already released with the same bytes is
not written again. SIGTERM (or Ctrl-C) stops taking work, lets what is in hand finish for up to
``stop_seconds``, and puts the rest back in the queue.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from traitlets.config import Config

from autograder.errors import AuthoringError
from autograder.pipeline import deadlines, pool
from autograder.pipeline.course import CourseRoot
from autograder.reports.records import dumps, result_from_json, result_to_json
from autograder.sandbox.limits import Limits
from autograder.service import actions, config, hub, inbound, policy, release, status
from autograder.service.graders import Graders
from autograder.service.metrics import Metrics
from autograder.service.queue import plan
from autograder.service.ratelimit import Bucket
from autograder.service.store import Store, Submission
from autograder.service.watcher import Watcher

log = logging.getLogger("autograder.service")
FAST_RECHECK = 120.0  # seconds to keep looking at a folder nbgrader is still writing, every pass
DUE_CACHE = 30.0  # seconds a student's due date (gradebook) is remembered


class Service:
    def __init__(self, course: CourseRoot, overrides: Config | None = None, sandbox: bool = True,
                 jobs: int | None = None) -> None:
        self.course = course
        self.settings = config.load(course, overrides)
        cfg = course.config()
        self.exchange = course.exchange_root(cfg) / course.course_id(cfg)
        self.inbound = self.exchange / "inbound"
        self.timezone = deadlines.course_timezone(course)
        self.state_path = config.state_path(course, self.settings)
        self.spool = self.state_path.with_name(self.state_path.stem + ".spool")
        self.bucket = Bucket(self.settings.rate_limit, self.settings.period_seconds)
        self.jobs = jobs or self.settings.jobs or pool.default_jobs()
        self.sandbox = sandbox
        self.metrics = Metrics()
        self.in_hand: dict[Future, str] = {}
        self.recheck: dict[str, float] = {}
        self.known: set[str] = set()
        self.dues: dict[tuple[str, str], tuple[float, object]] = {}
        self.stopping = False
        self.pages = None  # the hub pages, when run as a JupyterHub service

    # -- life cycle ---------------------------------------------------------------------
    def run(self) -> None:
        if not self.inbound.is_dir():
            raise AuthoringError(f"no inbound folder {self.inbound}: release an assignment first "
                                 "(python -m autograder release ASSIGNMENT)")
        lock = status.acquire(self.state_path)
        self.store = Store(self.state_path)
        self.spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.spool, 0o700)
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, self._stop),
                    signal.SIGINT: signal.signal(signal.SIGINT, self._stop)}
        try:
            self._start()
            while not self.stopping:
                try:
                    self._pass(wait=0.05 if self.in_hand else 0.2)
                except Exception:  # a grader or gradebook hiccup must not stop the course's service
                    log.exception("error in the service loop; going on in a second")
                    time.sleep(1.0)
            self._finish()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.metrics.stop()
            self.pages.stop() if self.pages is not None else None
            self.graders.shutdown(kill=True) if hasattr(self, "graders") else None
            self.store.close()
            os.close(lock)

    def _stop(self, signum, frame) -> None:
        if not self.stopping:
            log.info("stopping (%s): finishing the gradings in hand, taking no new ones",
                     signal.Signals(signum).name)
        self.stopping = True

    def _start(self) -> None:
        for sub in self.store.in_state("grading"):  # its grading was lost with the last run: not counted
            self._refund(sub)
        requeued = self.store.requeue_unfinished()
        self.known = self.store.known()
        assignments = sorted(inbound.released(self.exchange))
        self.graders = Graders(self.course, assignments, self.jobs, self.sandbox)
        self.watcher = Watcher(self.inbound, self.settings.polling, self.settings.poll_seconds,
                               self.settings.rescan_seconds)
        self.watcher.start()  # from now on nothing written to inbound is missed
        address = self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port)
        for key, value in (("pid", str(os.getpid())), ("started", status.now_text()),
                           ("watching", f"{self.inbound} with {self.watcher.kind}"), ("metrics", address)):
            self.store.set_meta(key, value)
        self.pages = hub.start_if_under_hub(self)
        for sub in self.store.in_state("graded"):  # graded before a crash, not yet released
            self._release(sub)
        start = time.time()
        for name in self.watcher.listing():
            self._see(name, start, "scan")
        for sub in self.store.in_state("waiting"):
            self.recheck.setdefault(sub.id, time.time())
        self.graders.warm()
        log.info("serving %s (%s) with %d workers%s; %d submissions requeued; metrics %s",
                 self.inbound, self.watcher.kind, self.jobs, "" if self.graders.sandboxed else " WITHOUT sandbox",
                 requeued, address or "off")

    def _finish(self) -> None:
        self.watcher.stop()
        deadline = time.monotonic() + self.settings.stop_seconds
        while self.in_hand and time.monotonic() < deadline:
            self._collect(wait=0.2)
        for future, sub_id in list(self.in_hand.items()):
            sub = self.store.get(sub_id)
            self.store.update(sub_id, state="queued")
            self._refund(sub)
            self._log("requeued", sub, "not finished before stopping: graded at the next start")
        self.in_hand.clear()
        log.info("stopped")

    # -- one pass -----------------------------------------------------------------------
    def _pass(self, wait: float) -> None:
        for name, when in self.watcher.drain(wait):
            self._see(name, when, "watch")
        if self.watcher.due_for_rescan():
            now = time.time()
            for name in self.watcher.listing():
                self._see(name, now, "watch")
            for sub in self.store.in_state("waiting"):
                self.recheck.setdefault(sub.id, now)
        for name, since in list(self.recheck.items()):
            self._ingest(name)
            if name in self.recheck and time.time() - since > FAST_RECHECK:
                del self.recheck[name]  # looked at again at each rescan
        self._collect(wait=0)
        actions.carry_out(self)
        self._schedule()
        counts = self.store.counts()
        self.metrics.queue.set(sum(counts.get(s, 0) for s in status.WAITING))
        self.metrics.grading.set(len(self.in_hand))

    def _see(self, name: str, when: float, how: str) -> None:
        if name in self.known or name.startswith("."):
            return
        self.known.add(name)
        parsed = inbound.parse_name(name)
        if parsed is None:
            return
        student, assignment = parsed
        if how == "scan":  # found at start: it may have come while the service was down
            try:
                when = min(when, (self.inbound / name).lstat().st_ctime)
            except FileNotFoundError:
                return
        self.store.add(name, student, assignment, when, how)
        if assignment not in inbound.released(self.exchange):
            self.store.update(name, state="refused", detail=f"{assignment} is not released")
            self._log("refused", self.store.get(name), f"{assignment} is not released")
            return
        self.recheck[name] = time.time()
        self._ingest(name)

    def _ingest(self, name: str) -> None:
        sub = self.store.get(name)
        if sub is None or sub.state != "waiting":
            self.recheck.pop(name, None)
            return
        try:
            snap = inbound.snapshot(self.inbound / name, self.spool, self.settings.check_owner,
                                    Limits().scratch_bytes)
        except inbound.Incomplete:
            return
        except inbound.Refused as exc:
            self.recheck.pop(name, None)
            self.store.update(name, state="refused", detail=str(exc))
            self._log("refused", sub, str(exc))
            return
        level = self._level(sub)  # may fail (the gradebook busy): then it stays waiting, tried again
        if level is None and sub.staff:  # the staff asked for it after the due date
            level = self.settings.visibility
        self.recheck.pop(name, None)
        flag = policy.timestamp_flag(snap.stamp, sub.seen_at, self.settings.timestamp_tolerance_seconds)
        self.store.update(name, state="queued", stamp=snap.stamp, secret=snap.secret,
                          notebooks=json.dumps(snap.notebooks), flag=flag, level=level or "none")
        sub = self.store.get(name)
        self._log("queued", sub)
        if flag:
            self.metrics.flags.labels(sub.assignment).inc()
            self._log("flagged", sub, flag, level=logging.WARNING)
        if level is None:
            self._notice(sub, "after-due", release.after_due_lines(self._due(sub), self.timezone))
            self.store.update(name, state="after-due")
            self._discard(sub)

    ingest = _ingest  # for the staff actions (actions.py)

    def _discard(self, sub: Submission) -> None:
        """The private copy is no longer needed once graded or answered otherwise."""
        shutil.rmtree(self.spool / sub.id, ignore_errors=True)

    # -- deciding -----------------------------------------------------------------------
    def _due(self, sub: Submission):
        key = (sub.assignment, sub.student)
        cached = self.dues.get(key)
        if cached is None or time.monotonic() - cached[0] > DUE_CACHE:
            cached = (time.monotonic(), deadlines.student_due(self.course.db_url(), sub.assignment, sub.student))
            self.dues[key] = cached
        return cached[1]

    def _level(self, sub: Submission) -> str | None:
        return policy.level_for(self.settings.visibility, self.settings.after_due_visibility,
                                sub.seen_at, self._due(sub))

    def _schedule(self) -> None:
        if self.stopping:
            return
        now = time.time()
        queued = self.store.in_state("queued")
        deferred = {}
        for key in {(s.student, s.assignment) for s in queued}:
            _tokens, _updated, not_before = self.store.bucket(*key) or (None, None, 0.0)
            if not_before > now and not any(s.staff for s in queued if (s.student, s.assignment) == key):
                deferred[key] = not_before
        self._over_limit([s for s in queued if (s.student, s.assignment) in deferred],
                         lambda s: deferred[(s.student, s.assignment)])
        in_hand = [self.store.get(i) for i in self.in_hand.values()]
        decisions = plan([s for s in queued if (s.student, s.assignment) not in deferred],
                         {(s.student, s.assignment) for s in in_hand},
                         any(s.suspect for s in in_hand), self.jobs - len(self.in_hand))
        for latest, older in decisions:
            tokens, updated, _ = self.store.bucket(latest.student, latest.assignment) or (None, None, 0.0)
            granted, left, next_at = self.bucket.take(tokens, updated, now)
            if latest.staff:  # graded now at the staff's request: the student's tokens are kept
                granted, left = True, self.bucket.level(tokens, updated, now)
            if not granted:
                self.store.set_bucket(latest.student, latest.assignment, left, now, next_at)
                self._over_limit([*older, latest], lambda s: next_at)
                continue
            self.store.set_bucket(latest.student, latest.assignment, left, now, 0.0)
            for sub in older:  # answered by the latest one's feedback; told so unless told already
                if sub.noticed_at is None:
                    self._notice(sub, "superseded", release.superseded_lines(latest.seen_at, self.timezone))
                else:
                    self._log("superseded", sub, f"by {latest.id}")
                self.store.update(sub.id, state="superseded")
                self._discard(sub)
            folder = self.spool / latest.id
            job = self.graders.job(latest.student, latest.assignment, folder, str(self.inbound / latest.id))
            self.in_hand[self.graders.submit(job)] = latest.id
            self.store.update(latest.id, state="grading", attempts=latest.attempts + 1)
            self._log("grading", latest, "alone (its last grading broke a worker)" if latest.suspect else "")

    def _over_limit(self, subs: list[Submission], next_at) -> None:
        for sub in subs:
            if sub.noticed_at is None:
                self._notice(sub, "over-limit", release.over_limit_lines(
                    next_at(sub), self.timezone, self.settings.rate_limit, self.settings.rate_period_minutes))

    def _refund(self, sub: Submission | None) -> None:
        if sub is None:
            return
        tokens, updated, not_before = self.store.bucket(sub.student, sub.assignment) or (None, None, 0.0)
        if tokens is not None:
            self.store.set_bucket(sub.student, sub.assignment, min(self.bucket.capacity, tokens + 1), updated, 0.0)

    # -- finishing ----------------------------------------------------------------------
    def _collect(self, wait: float) -> None:
        if not self.in_hand:
            return
        done, _ = wait_futures(list(self.in_hand), timeout=wait, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            sub_id = self.in_hand.pop(future)
            sub = self.store.get(sub_id)
            try:
                record = future.result()
            except BrokenProcessPool:
                broken = True
                if sub.suspect:  # it broke a worker running alone: it is the cause
                    record = pool.ungradable_record(
                        self.graders.job(sub.student, sub.assignment, self.spool / sub.id, ""), pool.WORKER_DIED)
                else:
                    self.store.update(sub_id, state="queued", suspect=1)
                    self._refund(sub)
                    self._log("requeued", sub, "a grading worker died: graded again, alone")
                    continue
            self.store.update(sub_id, state="graded", record=record)
            self._discard(sub)
            self._release(self.store.get(sub_id))
        if broken:
            for future, sub_id in list(self.in_hand.items()):  # the rest of the broken pool
                self.in_hand.pop(future)
                self.store.update(sub_id, state="queued", suspect=1)
                self._refund(self.store.get(sub_id))
            self.graders.restart()

    def _release(self, sub: Submission) -> None:
        result = result_from_json(json.loads(sub.record))
        level = sub.level if sub.level in config.LEVELS else self.settings.visibility
        hidden = policy.hidden_parts(self.course.source(sub.assignment))
        shown = policy.visible(result, level, hidden)
        notes = [policy.withheld(result, level, hidden), self._quota_note(sub)]
        html = release.feedback_html(shown, sub.seen_at, self.timezone, notes)
        release.publish(self.exchange, sub.secret, json.loads(sub.notebooks), html)
        now = time.time()
        self.store.mark_released(sub.id, now, level=level, score=shown.score, max_score=shown.max_score,
                                 outcome=result.status, shown=dumps(result_to_json(shown)), staff=0)
        if sub.noticed_at is None:  # a wait for the rate limit is the policy's, not the service's
            self.metrics.latency.labels(sub.assignment).observe(now - sub.seen_at)
        state = "released" if result.status == "graded" else "ungradable"
        detail = (f"{shown.score:g}/{shown.max_score:g} ({level})" if result.status == "graded"
                  else f"{result.reason} ({level})")
        self._log(state, sub, detail, when=now)

    def _quota_note(self, sub: Submission) -> str:
        tokens, updated, _ = self.store.bucket(sub.student, sub.assignment) or (None, None, 0.0)
        left = int(self.bucket.level(tokens, updated, time.time()))
        every = self.settings.rate_period_minutes / self.settings.rate_limit
        return (f"Instant feedbacks left on this assignment now: {left} (one more every {every:g} minutes, "
                f"up to {self.settings.rate_limit}).")

    def _notice(self, sub: Submission, kind: str, lines: list[str]) -> None:
        html = release.notice_html(sub.assignment, sub.student, sub.seen_at, self.timezone, lines)
        release.publish(self.exchange, sub.secret, json.loads(sub.notebooks), html)
        now = time.time()
        self.store.update(sub.id, noticed_at=now, detail=f"{kind}: {lines[0]}")
        self._log(kind, sub, lines[0], when=now)

    def log_staff(self, kind: str, student: str, assignment: str, by: str, outcome: str) -> None:
        self.metrics.transitions.labels(assignment, f"staff-{kind}").inc()
        log.info("staff-%-4s student=%s assignment=%s by=%s  %s", kind, student, assignment, by, outcome)

    def _log(self, state: str, sub: Submission | None, detail: str = "", when: float | None = None,
             level: int = logging.INFO) -> None:
        if sub is None:
            return
        latency = (when or time.time()) - sub.seen_at
        self.metrics.transitions.labels(sub.assignment, state).inc()
        log.log(level, "%-10s student=%s assignment=%s latency=%.2fs submission=%s%s", state, sub.student,
                sub.assignment, latency, sub.id, f"  {detail}" if detail else "")


def serve(course: CourseRoot, overrides: Config | None = None, sandbox: bool = True, jobs: int | None = None) -> None:
    """Run the service until SIGTERM or Ctrl-C (the CLI's ``serve``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    Service(course, overrides, sandbox, jobs).run()


def state_file(course: CourseRoot) -> Path:
    return config.state_path(course, config.load(course))
