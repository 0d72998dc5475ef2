"""Staff policy and service settings: traits of ``InstantFeedback``, set in ``nbgrader_config.py``.

Like every other option of the course, e.g. ``c.InstantFeedback.visibility = "public"``. The
defaults are what a course would pick on the first day: scores and the likely mistake of hidden
checks but no inputs, 5 feedbacks an hour per student and assignment, none after the due date.
"""
from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Enum, Float, Integer, Unicode
from traitlets.config import Config, Configurable

from autograder.pipeline.course import CourseRoot

LEVELS = ("public", "scores", "all")
STATE_FILE = "instant_feedback.sqlite"


class InstantFeedback(Configurable):
    """What the grading service shows, how often, and where it keeps its state."""

    visibility = Enum(
        LEVELS, default_value="scores",
        help="What a student sees before the due date: 'public' (the public checks only; hidden "
             "parts say they are graded later), 'scores' (also each hidden part's score, which "
             "rules failed and the named likely mistake, but no inputs, examples or "
             "counterexamples), 'all' (everything the final feedback will show).").tag(config=True)
    after_due_visibility = Enum(
        ("none",) + LEVELS, default_value="none",
        help="After the student's due date (extension included): 'none' answers that no instant "
             "feedback is given after the due date (staff grade it as usual); or a level as for "
             "visibility.").tag(config=True)
    rate_limit = Integer(
        5, min=1,
        help="Feedbacks per student and assignment per rate_period_minutes (a token bucket). A "
             "submission over the limit is still taken: its feedback says when the next feedback "
             "comes, and then the student's latest submission is graded.").tag(config=True)
    rate_period_minutes = Float(
        60.0, help="The period of rate_limit, in minutes: one feedback comes back every "
                   "rate_period_minutes / rate_limit minutes once the bucket is empty.").tag(config=True)
    timestamp_tolerance_seconds = Float(
        120.0, help="A timestamp.txt this much earlier than the time the service saw the submission "
                    "is flagged (a student's clock may drift; an edited file is further off).").tag(config=True)
    check_owner = Bool(
        True, help="Refuse a submission folder whose Unix owner is not the student named in it "
                   "(as nbgrader's ExchangeCollect.check_owner). Off only where one account "
                   "submits for everyone (a demo, a benchmark).").tag(config=True)
    polling = Bool(
        False, help="Look for new submissions by listing the inbound folder every poll_seconds "
                    "instead of inotify: for an exchange on a network filesystem (NFS, CIFS), "
                    "where inotify does not see other machines' writes.").tag(config=True)
    poll_seconds = Float(0.5, help="How often to list the inbound folder with polling = True").tag(config=True)
    rescan_seconds = Float(
        30.0, help="A full listing of the inbound folder this often, also with inotify, so a missed "
                   "event delays a submission by at most this long.").tag(config=True)
    jobs = Integer(0, help="Submissions graded at once (warm worker processes); 0: every core").tag(config=True)
    stop_seconds = Float(
        60.0, help="On SIGTERM, how long to let the gradings in hand finish before they are put "
                   "back in the queue for the next start.").tag(config=True)
    metrics_host = Unicode("127.0.0.1", help="Address of the Prometheus /metrics endpoint "
                                              "(loopback by default)").tag(config=True)
    metrics_port = Integer(9464, help="Port of the /metrics endpoint; -1: none; 0: any free "
                                      "port (service-status shows it)").tag(config=True)
    staff_group = Unicode(
        "instructors", help="Under JupyterHub: members of this hub group see the staff page of the "
                            "service (the queue, every student, latency, flags) and may grade a "
                            "student's latest submission now or lift a rate limit. Everyone else "
                            "sees their own submissions only.").tag(config=True)
    state_file = Unicode(
        "", help="The service's own SQLite state (never the gradebook). Default: "
                 f"{STATE_FILE} next to the gradebook (the course root).").tag(config=True)

    @property
    def period_seconds(self) -> float:
        return self.rate_period_minutes * 60.0


def load(course: CourseRoot, overrides: Config | None = None) -> InstantFeedback:
    """The course's ``InstantFeedback`` from ``nbgrader_config.py`` (plus ``overrides``)."""
    return InstantFeedback(config=course.config(overrides))


def state_path(course: CourseRoot, settings: InstantFeedback) -> Path:
    """Where the state lives: ``state_file``, else next to an SQLite gradebook, else the course root."""
    if settings.state_file:
        return Path(settings.state_file)
    url = course.db_url()
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).parent / STATE_FILE
    return course.root / STATE_FILE
