"""Which submissions to grade next: arrival order, fair per student, only the latest.

The queue is keyed by student and assignment. A key waits since its oldest unanswered
submission arrived, and keys are served in that order, so a student's twentieth submission
never goes before another student's first. When a key is served only its latest submission is
graded; the older ones are superseded (told so, never graded). A key already being graded waits
for that grading to finish, and what the student submitted meanwhile queues again from its own
arrival time. A submission whose last grading broke a worker (``suspect``) runs alone.
"""
from __future__ import annotations

from collections import defaultdict

from autograder.service.store import Submission


def plan(queued: list[Submission], keys_in_hand: set[tuple[str, str]], suspect_in_hand: bool,
         free: int) -> list[tuple[Submission, list[Submission]]]:
    """Up to ``free`` ``(latest, older)`` pairs to act on now, the longest-waiting key first.

    A pair over the rate limit is still returned (the caller tells the student when feedback
    comes); ``free`` counts only the slots of gradings, so the caller may get fewer gradings.
    """
    if suspect_in_hand or free <= 0:
        return []
    by_key: dict[tuple[str, str], list[Submission]] = defaultdict(list)
    for sub in sorted(queued, key=lambda s: (s.seen_at, s.id)):
        by_key[(sub.student, sub.assignment)].append(sub)
    waiting = sorted((subs for key, subs in by_key.items() if key not in keys_in_hand),
                     key=lambda subs: (subs[0].seen_at, subs[0].id))
    suspects = [subs for subs in waiting if subs[-1].suspect]
    if suspects:  # alone: only when nothing else is in hand, and nothing beside it
        return [(suspects[0][-1], suspects[0][:-1])] if not keys_in_hand else []
    return [(subs[-1], subs[:-1]) for subs in waiting[:free]]
