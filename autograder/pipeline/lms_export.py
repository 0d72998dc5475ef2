"""``export --format canvas``: a CSV Canvas's gradebook import takes as it is.

Canvas matches a row to a student by its ``ID`` column (the Canvas user id: the roster's
``lms_user_id``) and a grade column to an assignment by the id in its header, as in
``Loss functions (123)``; a header without one would make a new assignment. The id comes from
``--canvas-assignment-id`` or ``nbgrader_config.py``::

    c.CanvasExport.assignment_ids = {"loss_functions": 123}   # or, for one assignment:
    c.CanvasExport.assignment_id = 123

Students without an ``lms_user_id`` are still written (Canvas then offers to match them by
hand in its import preview) and named in a warning, never dropped. Scores are the gradebook's
(autograded plus TA points, after any late penalty); a student who did not submit gets 0, as
in nbgrader's CSV.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import AuthoringError
from autograder.pipeline.course import CONFIG_FILE, CourseRoot
from autograder.pipeline.gradebook import require_assignment

HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


@dataclass(frozen=True)
class CanvasExport:
    path: Path
    unmatched: tuple[str, ...]  # student ids without an lms_user_id

    def warning(self) -> str | None:
        if not self.unmatched:
            return None
        return (f"{len(self.unmatched)} students have no lms_user_id, so Canvas cannot match them by ID: "
                f"{', '.join(self.unmatched)}. Their rows are in {self.path} with an empty ID; add an "
                "lms_user_id column (the Canvas user id) to the roster and run `python -m autograder "
                "students import roster.csv`, or match them by hand in Canvas's import preview")


def canvas_assignment_id(course: CourseRoot, assignment: str, given: int | None = None) -> int:
    """``given``, else ``c.CanvasExport.assignment_ids[assignment]``, else ``c.CanvasExport.assignment_id``."""
    section = course.config().CanvasExport
    value = given if given is not None else section.get("assignment_ids", {}).get(
        assignment, section.get("assignment_id"))
    if value is None:
        raise AuthoringError(
            f"no Canvas assignment id for {assignment}: pass --canvas-assignment-id N (N is the number in the "
            f"assignment's Canvas address, .../assignments/N) or set c.CanvasExport.assignment_ids = "
            f"{{{assignment!r}: N}} in {course.root / CONFIG_FILE}")
    if not str(value).isdigit():
        raise AuthoringError(f"Canvas assignment id {value!r} for {assignment} is not a number: use the number "
                             "in the assignment's Canvas address, .../assignments/N")
    return int(value)


def column_title(assignment: str, canvas_id: int) -> str:
    return f"{assignment.replace('_', ' ').capitalize()} ({canvas_id})"


def _points(value: float) -> str:
    return f"{value:g}"


def export_canvas(course: CourseRoot, assignment: str, to: Path | None = None,
                  canvas_id: int | None = None) -> CanvasExport:
    """Write the Canvas CSV of ``assignment`` (default ``canvas_<assignment>.csv`` in the course)."""
    canvas_id = canvas_assignment_id(course, assignment, canvas_id)
    dest = Path(to) if to else course.root / f"canvas_{assignment}.csv"
    rows, unmatched = [], []
    with course.gradebook() as gb:
        max_score = require_assignment(gb, assignment).max_score
        submitted = {s.student.id: max(0.0, s.score - (s.late_submission_penalty or 0.0))  # after any late penalty
                     for s in gb.assignment_submissions(assignment)}
        for student in sorted(gb.students, key=lambda s: ((s.last_name or s.id).lower(), s.id)):
            if not student.lms_user_id:
                unmatched.append(student.id)
            name = ", ".join(n for n in (student.last_name, student.first_name) if n) or student.id
            rows.append([name, student.lms_user_id or "", "", "", "",
                         _points(submitted.get(student.id, 0.0))])
    with dest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*HEADER, column_title(assignment, canvas_id)])
        writer.writerow(["Points Possible", "", "", "", "", _points(max_score)])
        writer.writerows(rows)
    return CanvasExport(dest, tuple(unmatched))
