"""Class-wide numbers for the staff report, computed once from the result records.

Kept apart from the HTML so the chart and the table beside it can never disagree, and so the
numbers can be tested without parsing HTML.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from autograder.judge.results import SubmissionResult

EXAMPLES = 3  # example students listed per mistake


@dataclass(frozen=True)
class PartStats:
    grade_id: str
    title: str
    submissions: int  # graded submissions that have this part
    full_marks: int
    mean_score: float
    max_score: float

    @property
    def pass_rate(self) -> float:
        return self.full_marks / self.submissions if self.submissions else 0.0


@dataclass(frozen=True)
class Mistake:
    diagnosis: str
    parts: tuple[str, ...]  # grade ids where it was diagnosed
    students: tuple[str, ...]  # sorted, each once

    @property
    def count(self) -> int:
        return len(self.students)


def graded(results: Sequence[SubmissionResult]) -> list[SubmissionResult]:
    return [r for r in results if r.status == "graded"]


def score_summary(results: Sequence[SubmissionResult]) -> tuple[float, float, float] | None:
    """(mean, median, max possible) over graded submissions; None if nothing was graded."""
    done = graded(results)
    if not done:
        return None
    scores = [r.score for r in done]
    return statistics.fmean(scores), statistics.median(scores), max(r.max_score for r in done)


def part_stats(results: Sequence[SubmissionResult]) -> list[PartStats]:
    """Per grade id, in the order parts first appear; full marks means score >= max_score."""
    rows: dict[str, list] = {}
    for result in graded(results):
        for p in result.parts:
            row = rows.setdefault(p.grade_id, [p.title, 0, 0, 0.0, p.max_score])
            row[1] += 1
            row[2] += p.score >= p.max_score
            row[3] += p.score
    return [PartStats(gid, title, n, full, total / n, max_score)
            for gid, (title, n, full, total, max_score) in rows.items()]


def mistakes(results: Sequence[SubmissionResult]) -> list[Mistake]:
    """Diagnosed mistakes, most students first, ties broken by the diagnosis text."""
    students: dict[str, set[str]] = defaultdict(set)
    parts: dict[str, set[str]] = defaultdict(set)
    for result in results:
        for p in result.parts:
            for c in p.checks:
                if not c.passed and c.diagnosis:
                    students[c.diagnosis].add(result.student)
                    parts[c.diagnosis].add(p.grade_id)
    found = [Mistake(d, tuple(sorted(parts[d])), tuple(sorted(s))) for d, s in students.items()]
    return sorted(found, key=lambda m: (-m.count, m.diagnosis))


def manual_pending(results: Sequence[SubmissionResult]) -> dict[str, list[str]]:
    """Students whose records still list TA-graded parts (used when the gradebook is not read)."""
    return {r.student: list(r.manual_parts) for r in sorted(results, key=lambda r: r.student)
            if r.manual_parts}
