"""A token bucket per student and assignment: ``capacity`` feedbacks, refilled evenly over ``period``.

Pure arithmetic on ``(tokens, updated)``; the store keeps the pair between submissions and
restarts. A new student starts with a full bucket, so the first ``capacity`` submissions get
feedback at once; after that one token comes back every ``period / capacity`` seconds.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    capacity: int
    period: float  # seconds to refill an empty bucket

    @property
    def rate(self) -> float:
        return self.capacity / self.period

    def level(self, tokens: float | None, updated: float | None, now: float) -> float:
        """Tokens at ``now``; ``None`` (never seen) is a full bucket."""
        if tokens is None or updated is None:
            return float(self.capacity)
        return min(float(self.capacity), tokens + max(0.0, now - updated) * self.rate)

    def take(self, tokens: float | None, updated: float | None, now: float) -> tuple[bool, float, float]:
        """``(granted, tokens left, when the next token is there)``; ``when`` is ``now`` if granted."""
        level = self.level(tokens, updated, now)
        if level >= 1.0 - 1e-9:
            return True, level - 1.0, now
        return False, level, now + (1.0 - level) / self.rate

    def next_token(self, tokens: float | None, updated: float | None, now: float) -> float:
        level = self.level(tokens, updated, now)
        return now if level >= 1.0 - 1e-9 else now + (1.0 - level) / self.rate
