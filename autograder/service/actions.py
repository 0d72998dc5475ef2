"""Staff actions from the hub pages, carried out by the service loop (the one writer of the state).

The pages only add a row to the state file's ``requests`` table; each pass of the loop carries out
the pending ones here, so a request made while the service is busy or stopped is not lost:

- ``lift``: the student's rate limit on the assignment is lifted (a full bucket); a submission
  waiting for the limit is graded at once.
- ``grade``: the student's latest submission of the assignment is graded now without taking a
  token: one waiting in the queue goes first, one already answered (feedback, a notice, after the
  due date) is taken again from the inbound folder and graded; after the due date with
  ``after_due_visibility = "none"`` it gets the before-due level (``visibility``), since the staff
  asked for it.
"""
from __future__ import annotations

import time

DONE_STATES = ("released", "superseded", "after-due")


def carry_out(svc) -> None:
    """Carry out every pending request of ``svc.store`` (a ``loop.Service``)."""
    for request_id, kind, student, assignment, by in svc.store.pending_requests():
        now = time.time()
        outcome = lift(svc, student, assignment, now) if kind == "lift" else grade(svc, student, assignment, now)
        svc.store.finish_request(request_id, now, outcome)
        svc.log_staff(kind, student, assignment, by, outcome)


def lift(svc, student: str, assignment: str, now: float) -> str:
    svc.store.set_bucket(student, assignment, float(svc.bucket.capacity), now, 0.0)
    return f"rate limit lifted: {svc.bucket.capacity} feedbacks available"


def grade(svc, student: str, assignment: str, now: float) -> str:
    sub = svc.store.latest(student, assignment)
    if sub is None:
        return "no submission to grade"
    if sub.state in ("grading", "graded"):
        return f"{sub.id} is being graded already"
    if sub.state in ("waiting", "queued"):
        svc.store.update(sub.id, staff=1)
        return f"{sub.id} graded next"
    if sub.state in DONE_STATES:
        # taken again from the inbound folder; a notice time keeps this regrade out of the
        # submit-to-feedback figures (its wait was not the service's)
        svc.store.update(sub.id, state="waiting", staff=1, noticed_at=sub.noticed_at or now, record=None)
        svc.known.add(sub.id)
        svc.recheck[sub.id] = now
        svc.ingest(sub.id)
        return f"{sub.id} graded again"
    return f"{sub.id} is {sub.state}: not graded"
