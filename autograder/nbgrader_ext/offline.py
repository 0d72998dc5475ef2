"""nbgrader's autograde of one submission, done where it was graded, without the gradebook.

A worker runs the course's own autograde steps on the student's notebooks, exactly as nbgrader's
``Autograde`` converter would (two passes through a ``NotebookExporter``, the second reading the
first's output), with stand-ins for the four steps that touch the gradebook: the two that read
it answer from the writer's plan (``plan.py``), ``SaveAutoGrades`` collects the scores it would
save, and the grading step writes in the result just graded. What crosses back is JSON text (the
record, each notebook as nbgrader would write it, the scores), never pickle, and the writer
(``pipeline/writer.py``) only writes it.
"""
from __future__ import annotations

import copy
import functools
import glob
import io
import json
import os
from dataclasses import dataclass, field

import jsonschema
from nbconvert.exporters import NotebookExporter
from nbgrader import utils
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import (CheckCellMetadata, NbGraderPreprocessor, OverwriteCells, OverwriteKernelspec,
                                    SaveAutoGrades)
from traitlets.utils.importstring import import_item

from autograder.judge import worker
from autograder.judge.results import SubmissionResult
from autograder.judge.worker import GradingJob
from autograder.nbgrader_ext.plan import AutogradePlan, PlannedGradebook
from autograder.nbgrader_ext.preprocessor import SandboxedGrading, apply
from autograder.reports.records import dumps, result_to_json


@dataclass
class Context:
    """What the stand-ins read and collect. Attached to each stand-in, not put in ``resources``:
    nbconvert deep-copies those for every step."""

    gradebook: PlannedGradebook
    result: SubmissionResult
    collected: dict = field(default_factory=dict)  # notebook -> {"grades": {...}, "comments": {...}}


class StandIn:
    """A step in place of one of nbgrader's that touch the gradebook; ``_steps`` gives it the context."""

    context: Context


class OverwriteCellsFromPlan(StandIn, OverwriteCells):
    """nbgrader's ``OverwriteCells`` with the plan for a gradebook."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id, self.db_url = info["notebook"], info["assignment"], info["db_url"]
        self.gradebook = self.context.gradebook
        nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
        if self.add_missing_cells:
            nb, resources = self.add_missing_grade_cells(nb, resources)
            nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


class OverwriteKernelspecFromPlan(StandIn, OverwriteKernelspec):
    """nbgrader's ``OverwriteKernelspec`` with the plan for a gradebook."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        stored = self.context.gradebook.find_notebook(info["notebook"], info["assignment"]).kernelspec
        kernelspec = None if stored is None else json.loads(stored)
        if kernelspec:
            nb.metadata["kernelspec"] = kernelspec
        return nb, resources


class CollectAutoGrades(StandIn, SaveAutoGrades):
    """``SaveAutoGrades``'s scores and comments, collected for the writer instead of saved."""

    def preprocess(self, nb, resources):
        self.collected = self.context.collected.setdefault(resources["nbgrader"]["notebook"],
                                                           {"grades": {}, "comments": {}})
        return NbGraderPreprocessor.preprocess(self, nb, resources)

    def _add_score(self, cell, resources) -> None:
        self.collected["grades"][cell.metadata["nbgrader"]["grade_id"]] = utils.determine_grade(cell, self.log)[0]

    def _add_comment(self, cell, resources) -> None:
        unchanged = cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell)
        self.collected["comments"][cell.metadata["nbgrader"]["grade_id"]] = (
            "No response." if unchanged and not utils.is_task(cell) else None)


class _SchemaCheckedOnce(BaseMetadataValidator):
    """nbgrader's common cell check with the schema checked once: ``jsonschema.validate``, which it
    calls for every cell, checks the schema against its meta-schema each time (0.1 s a submission)."""

    def __init__(self) -> None:
        super().__init__()
        checker = jsonschema.validators.validator_for(self.schema)
        checker.check_schema(self.schema)
        self._checker = checker(self.schema)

    def validate_cell(self, cell):
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version or not self._checker.is_valid(meta):
            super().validate_cell(cell)  # nbgrader's own: its error for a wrong version or invalid metadata


class _Validator(MetadataValidator, _SchemaCheckedOnce):
    """nbgrader's validator; its ``super().validate_cell`` now reaches the check above."""


class CheckCellMetadataOnce(CheckCellMetadata):
    """nbgrader's ``CheckCellMetadata`` with ``_Validator``; a notebook it refuses goes through
    nbgrader's own step, for nbgrader's message."""

    def preprocess(self, nb, resources):
        try:
            _validator().validate_nb(nb)
        except ValidationError:
            return super().preprocess(nb, resources)
        return nb, resources


@functools.cache
def _validator() -> _Validator:
    return _Validator()


class HandedOutputs(StandIn, SandboxedGrading):
    """The grading step with its result already in hand."""

    def preprocess(self, nb, resources):
        return apply(nb, self.context.result, resources["nbgrader"]["notebook"]), resources


def build(job: GradingJob, result: SubmissionResult, plan: AutogradePlan) -> dict:
    """``{"notebooks": {name: text}, "scores": {name: {"grades": {...}, "comments": {...}}}}`` for
    every notebook of the submission that the assignment has, as nbgrader's autograde makes them."""
    known = {planned.name for planned in plan.notebooks}
    exporter = NotebookExporter(config=plan.config)
    context, notebooks = Context(PlannedGradebook(plan), result), {}
    for path in sorted(glob.glob(os.path.join(glob.escape(job.submission), "*.ipynb"))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name not in known:  # nbgrader skips a notebook the gradebook does not have
            continue
        resources = {"unique_key": name, "output_files_dir": f"{name}_files",
                     "nbgrader": {"student": job.student, "assignment": job.assignment, "notebook": name,
                                  "db_url": plan.db_url}}
        _steps(exporter, plan.sanitize, context)
        sanitized, _ = exporter.from_filename(path, resources=copy.deepcopy(resources))
        _steps(exporter, plan.autograde, context)
        with utils.setenv(NBGRADER_EXECUTION="autograde"):
            notebooks[name], _ = exporter.from_file(io.StringIO(sanitized), resources=resources)
    return {"notebooks": notebooks, "scores": context.collected}


def _steps(exporter: NotebookExporter, steps: tuple[str, ...], context: Context) -> None:
    """The exporter's steps for one pass, made as nbgrader's ``Autograde._init_preprocessors`` makes
    them (a fresh instance each, the exporter its parent), the stand-ins given the context."""
    exporter._preprocessors = []
    for step in steps:
        instance = import_item(step)(parent=exporter)
        if isinstance(instance, StandIn):
            instance.context = context
        exporter.register_preprocessor(instance)


def run(job: GradingJob, plan: AutogradePlan) -> str:
    """What an executor calls: grade, then build. A submission that is not graded, or that nbgrader's
    steps refuse, comes back without a build: the writer then runs nbgrader's own autograde, which
    fails it the way nbgrader does."""
    result = worker.grade(job)
    built = None
    if result.status == "graded":
        try:
            built = build(job, result, plan)
        except Exception:  # noqa: BLE001 - nbgrader's own run in the writer reports it
            built = None
    return json.dumps({"record": dumps(result_to_json(result)), "autograded": built}, allow_nan=False)
