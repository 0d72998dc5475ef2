"""Late penalties by the hour or the day: nbgrader's ``LateSubmissionPlugin`` with two more methods.

nbgrader's ``AssignLatePenalties`` (already in the course's autograde preprocessors) asks its
``plugin_class`` for the penalty of every submission whose timestamp is after its due date
(the assignment's ``duedate`` plus the student's extension), and stores it in the gradebook as
``late_submission_penalty``; nbgrader then subtracts it from the score (CSV export, formgrader).
nbgrader's own plugin knows ``none`` and ``zero``; this one adds ``per_hour`` and ``per_day``.
In ``nbgrader_config.py``::

    c.AssignLatePenalties.plugin_class = "autograder.nbgrader_ext.late_penalty.LatePenaltyPlugin"
    c.LatePenaltyPlugin.penalty_method = "per_hour"   # none | zero | per_hour | per_day
    c.LatePenaltyPlugin.points = 1.0                  # points per started hour (or day)
    c.LatePenaltyPlugin.max_penalty = 10.0            # optional cap (never more than the score)
    c.LatePenaltyPlugin.grace_minutes = 5             # optional: this late is not late

The penalty is computed when the submission is autograded, from the score it has then (the
autograded points: TA points given later in formgrader are not penalised), and nbgrader never
takes more than that score.
"""
from __future__ import annotations

import math
from textwrap import dedent
from typing import Optional

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Bool, Enum, Float

PERIOD_SECONDS = {"per_hour": 3600.0, "per_day": 86400.0}


class LatePenaltyPlugin(LateSubmissionPlugin):
    """nbgrader's late-submission plugin, plus a fixed number of points per hour or day late."""

    penalty_method = Enum(
        ("none", "zero", "per_hour", "per_day"),
        default_value="none",
        help=dedent("""
            How late work is penalised:
                'none': no penalty (the lateness is still recorded and shown)
                'zero': the whole score (late work scores 0)
                'per_hour': `points` for every hour late (every started hour, see `round_up`)
                'per_day': `points` for every day (24 h) late (every started day, see `round_up`)
            """),
    ).tag(config=True)

    points = Float(
        1.0,
        help="Points taken per hour ('per_hour') or per day ('per_day') late.",
    ).tag(config=True)

    round_up = Bool(
        True,
        help=("Count every started hour (or day) as a whole one: 3 h 20 min late is 4 hours. "
              "False: pro rata, 3 h 20 min is 3.33 hours."),
    ).tag(config=True)

    max_penalty = Float(
        None, allow_none=True,
        help="The most a late submission loses with 'per_hour' or 'per_day' (None: up to its whole score).",
    ).tag(config=True)

    grace_minutes = Float(
        0.0,
        help="A submission at most this many minutes after its due date gets no penalty (any method).",
    ).tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float,
                                total_seconds_late: float) -> Optional[float]:
        if total_seconds_late <= 0 or total_seconds_late <= 60 * self.grace_minutes:
            return None
        if self.penalty_method in ("none", "zero"):
            return super().late_submission_penalty(student_id, score, total_seconds_late)
        periods = total_seconds_late / PERIOD_SECONDS[self.penalty_method]
        if self.round_up:
            periods = math.ceil(periods)
        penalty = periods * self.points
        if self.max_penalty is not None:
            penalty = min(penalty, self.max_penalty)
        # nbgrader's AssignLatePenalties caps it at the notebook's score; rounding keeps it readable
        return round(min(penalty, score if score is not None else penalty), 6)
