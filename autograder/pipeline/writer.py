"""The one process that writes the gradebook: plain data in, nbgrader's rows and files out.

Workers build each autograded notebook and its scores (``nbgrader_ext/offline.py``); this writes
them as nbgrader's ``autograde`` would, through nbgrader's own converter and ``Gradebook`` calls
(the destination, the copied files, the student and submission rows, the scores and comments, the
late penalty, the permissions), but many submissions to one transaction: nbgrader opens the
gradebook a dozen times and commits after every cell, which made this process the class's
bottleneck. A batch that fails is written again one submission at a time, and a submission that
still fails goes back to the caller for nbgrader's own ``autograde``, which fails it nbgrader's way.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from nbconvert.writers import FilesWriter
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter
from nbgrader.preprocessors import AssignLatePenalties
from nbgrader.utils import find_all_files

from autograder.judge.results import SubmissionResult
from autograder.judge.worker import GradingJob
from autograder.nbgrader_ext.plan import AutogradePlan, make_plan
from autograder.pipeline.course import CourseRoot
from autograder.reports.records import result_from_json, save_text


@dataclass(frozen=True)
class Built:
    """One graded submission as a worker built it: the record, and nbgrader's notebooks and scores."""

    job: GradingJob
    result: SubmissionResult
    record: str = ""  # the record's text, as the worker wrote it (``records.dumps``)
    notebooks: dict[str, str] = field(default_factory=dict)  # notebook name -> autograded notebook text
    scores: dict[str, dict] = field(default_factory=dict)  # name -> {"grades": {id: score}, "comments": {id: text}}

    @property
    def student(self) -> str:
        return self.job.student


def handed(job: GradingJob, text: str) -> tuple[SubmissionResult, Built | None]:
    """What an executor handed back: ``offline.run``'s record and build (None when it built
    nothing), or an executor's own record of a submission it could not grade."""
    payload = json.loads(text)
    if "record" not in payload:
        return result_from_json(payload), None
    result, built = result_from_json(json.loads(payload["record"])), payload["autograded"]
    return result, None if built is None else Built(job, result, payload["record"], built["notebooks"], built["scores"])


class Batches:
    """Built submissions waiting for the writer. They are written when ``size`` wait or when the
    last write was ``seconds`` ago: a quiet class is written as each arrives, a busy one in batches.
    ``add`` and ``flush`` return what was written, each with True if it needs nbgrader's own run."""

    def __init__(self, writer: Writer, size: int = 64, seconds: float = 0.5) -> None:
        self.writer, self.size, self.seconds = writer, size, seconds
        self.waiting: list[Built] = []
        self.last = 0.0

    def add(self, built: Built) -> list[tuple[Built, bool]]:
        self.waiting.append(built)
        if len(self.waiting) >= self.size or time.monotonic() - self.last >= self.seconds:
            return self.flush()
        return []

    def flush(self) -> list[tuple[Built, bool]]:
        batch, self.waiting = self.waiting, []
        if not batch:
            return []
        failed = {id(built) for built in self.writer.write(batch)}
        self.last = time.monotonic()
        return [(built, id(built) in failed) for built in batch]


class Excluded(Exception):
    """nbgrader would skip this student (``CourseDirectory.student_id_exclude``)."""


class Writer:
    """Writes ``Built`` submissions of one assignment; use as a context manager (one gradebook)."""

    def __init__(self, course: CourseRoot, api, assignment: str) -> None:
        self.course, self.assignment = course, assignment
        self.converter = Autograde(coursedir=api.coursedir, parent=api)
        self.converter.force = True
        self.converter.writer = FilesWriter(parent=self.converter, config=self.converter.config)  # as start() makes it
        self.converter.exporter = self.converter.exporter_class(parent=self.converter, config=self.converter.config)
        self.late = AssignLatePenalties(parent=self.converter)
        self.late.init_plugin()
        self.coursedir = api.coursedir
        self.gradebook = Gradebook(self.coursedir.db_url, self.coursedir.course_id)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.gradebook.close()

    def plan(self) -> AutogradePlan | None:
        try:
            return make_plan(self.converter, self.gradebook, self.assignment)
        finally:
            self.gradebook.db.rollback()  # hold no transaction while workers grade

    def write(self, batch: list[Built]) -> list[Built]:
        """Write ``batch`` in one transaction, then the records; return the submissions that need
        nbgrader's own ``autograde`` (an error here, or a student nbgrader would skip)."""
        try:
            with self._transaction() as gb:
                for built in batch:
                    self._write(gb, built)
        except Exception:  # noqa: BLE001 - retried alone; nbgrader's own run reports what is wrong
            if len(batch) == 1:
                return batch
            return [failed for built in batch for failed in self.write([built])]
        for built in batch:  # after the commit: a record says its gradebook rows are there
            save_text(built.record, self.course.record(built.student, self.assignment))
        return []

    @contextmanager
    def _transaction(self) -> Iterator[Gradebook]:
        """nbgrader's ``Gradebook`` calls commit after each change; here they only flush, and the
        batch commits once (or rolls back whole)."""
        gb = self.gradebook
        gb.db.commit = gb.db.flush
        try:
            with gb.db.no_autoflush:  # nbgrader's calls flush as they end: no flush half-way through one
                yield gb
            del gb.db.commit
            gb.db.commit()
        except BaseException:
            vars(gb.db).pop("commit", None)
            gb.db.rollback()
            raise
        finally:
            gb.db.expunge_all()  # the next batch reads the rows afresh (scores are SQL expressions)

    def _write(self, gb: Gradebook, built: Built) -> None:
        """What ``Autograde.init_destination``, ``init_assignment``, the notebook passes and
        ``set_permissions`` do for one student, in that order."""
        assignment, student, converter = self.assignment, built.student, self.converter
        if not converter.init_destination(assignment, student):
            raise Excluded(student)
        BaseConverter.init_assignment(converter, assignment, student)  # the student's other files
        gb.update_or_create_student(student)
        gb.find_assignment(assignment)
        submitted = self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment)
        timestamp = self.coursedir.get_existing_timestamp(submitted)
        submission = gb.update_or_create_submission(assignment, student,
                                                    **({"timestamp": timestamp} if timestamp else {}))
        dest = self.coursedir.format_path(self.coursedir.autograded_directory, student, assignment)
        self._copy_source_files(dest)
        rows = {row.name: row for row in submission.notebooks}
        for name, row in rows.items():
            if not os.path.exists(os.path.join(submitted, f"{name}.ipynb")):
                for grade in row.grades:  # no submitted file: zero, as nbgrader does
                    grade.auto_score, grade.needs_manual_grade = 0, False
        for name, text in built.notebooks.items():
            converter.writer._makedir(dest)
            converter.write_single_notebook(text, {"unique_key": name, "output_extension": ".ipynb",
                                                   "nbgrader": {"assignment": assignment, "student": student}})
            _save_scores(rows[name], built.scores.get(name, {}))
        gb.db.flush()
        for row in rows.values():
            gb.db.expire(row, ["score"])  # SQL over the grades just written
        for name in built.notebooks:
            self._late_penalty(submission, rows[name])
        converter.set_permissions(assignment, student)

    def _copy_source_files(self, dest: str) -> None:
        """The instructor's files that are not notebooks, over the student's, as nbgrader does."""
        source = self.coursedir.format_path(self.coursedir.source_directory, ".", self.assignment)
        keep = {os.path.join(source, x) for x in self.converter.exclude_overwriting.get(self.assignment, [])}
        for filename in set(find_all_files(source, self.coursedir.ignore + ["*.ipynb"])) - keep:
            target = os.path.join(dest, os.path.relpath(filename, source))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.exists(target):
                os.remove(target)
            shutil.copy(filename, target)

    def _late_penalty(self, submission, row) -> None:
        """``AssignLatePenalties``, with the course's plugin."""
        row.late_submission_penalty = None
        if submission.total_seconds_late > 0:
            penalty = self.late.plugin_inst.late_submission_penalty(
                submission.student_id, row.score, submission.total_seconds_late)
            if penalty is not None:
                row.late_submission_penalty = self.late._check_late_penalty(row, penalty)


def _save_scores(row, scores: dict) -> None:
    """``SaveAutoGrades`` on one submitted notebook's rows: the auto score (a manual score, or none,
    asks for a person) and the comment; a grade id the gradebook lacks fails, as there."""
    grades, comments = {g.name: g for g in row.grades}, {c.name: c for c in row.comments}
    for grade_id, score in scores.get("grades", {}).items():
        grade = _row(grades, grade_id, row)
        grade.auto_score = score
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
    for grade_id, text in scores.get("comments", {}).items():
        _row(comments, grade_id, row).auto_comment = text


def _row(rows: dict, grade_id: str, notebook):
    if grade_id not in rows:
        raise MissingEntry(f"No such grade or comment: {grade_id} in {notebook.name}")
    return rows[grade_id]
