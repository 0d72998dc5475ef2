"""What a worker needs to build nbgrader's autograded notebook without the gradebook.

nbgrader's autograde reads the gradebook in two preprocessors (``OverwriteCells`` restores the
instructor's cells, ``OverwriteKernelspec`` the kernel) and writes it in two more
(``SaveAutoGrades``, ``AssignLatePenalties``). The writer reads what the first two need once per
class into an ``AutogradePlan`` (plain data, sent to every worker); the worker builds the
notebook and the scores (``offline.py``) and the writer alone writes them (``pipeline/writer.py``).
A course whose configured steps this project does not know gets no plan: nbgrader's own
``autograde`` runs in the writer, as before.
"""
from __future__ import annotations

from dataclasses import dataclass

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.api import MissingEntry
from nbgrader.converters import Autograde
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                    SaveAutoGrades)
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from autograder.nbgrader_ext.preprocessor import SandboxedGrading

# Steps that touch neither the gradebook nor anything outside the notebook: they run as they are.
PURE = (ClearOutput, DeduplicateIds, IgnorePattern, ClearMetadataPreprocessor, LimitOutput)
# Steps with a stand-in in offline.py (None: the writer does it): gradebook-free for those that read
# or write it, and nbgrader's metadata check with its schema checked once, not once a cell.
STAND_INS = {OverwriteCells: "OverwriteCellsFromPlan", OverwriteKernelspec: "OverwriteKernelspecFromPlan",
             SaveAutoGrades: "CollectAutoGrades", SandboxedGrading: "HandedOutputs", AssignLatePenalties: None,
             CheckCellMetadata: "CheckCellMetadataOnce"}


@dataclass(frozen=True)
class Cell:
    """The columns of a source, grade, solution or task cell that nbgrader's steps read."""

    name: str
    cell_type: str = ""
    locked: bool = False
    checksum: str | None = None
    source: str = ""
    max_score: float = 0.0


@dataclass(frozen=True)
class NotebookPlan:
    name: str
    kernelspec: str | None
    source_cells: tuple[Cell, ...]  # in the gradebook's order, which add_missing_cells relies on
    grade_cells: tuple[Cell, ...]
    solution_cells: tuple[Cell, ...]
    task_cells: tuple[Cell, ...]


@dataclass(frozen=True)
class AutogradePlan:
    """The class's autograde steps, as import paths with stand-ins in place, and the config they read."""

    assignment: str
    db_url: str  # only put in the steps' resources, as nbgrader does; never opened by a worker
    config: Config
    sanitize: tuple[str, ...]
    autograde: tuple[str, ...]
    notebooks: tuple[NotebookPlan, ...]

    def notebook(self, name: str) -> NotebookPlan:
        for planned in self.notebooks:
            if planned.name == name:
                return planned
        raise MissingEntry(f"No such notebook: {name}")


class PlannedGradebook:
    """The gradebook's read methods that ``OverwriteCells`` and ``OverwriteKernelspec`` call, answered
    from the plan, with nbgrader's ``MissingEntry`` where the gradebook would raise it."""

    def __init__(self, plan: AutogradePlan) -> None:
        self.plan = plan

    def find_notebook(self, notebook: str, assignment: str) -> NotebookPlan:
        return self.plan.notebook(notebook)

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> Cell:
        return self._find(self.plan.notebook(notebook).source_cells, name, "source cell")

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> Cell:
        planned = self.plan.notebook(notebook)
        return self._find(planned.grade_cells + planned.task_cells, name, "graded cell")

    @staticmethod
    def _find(cells: tuple[Cell, ...], name: str, kind: str) -> Cell:
        for cell in cells:
            if cell.name == name:
                return cell
        raise MissingEntry(f"No such {kind}: {name}")


def make_plan(converter: Autograde, gradebook, assignment: str) -> AutogradePlan | None:
    """The plan for ``assignment`` under ``converter``'s config, or None when a configured step or
    hook is one this project cannot run away from the gradebook (nbgrader's own path then)."""
    if converter.pre_convert_hook or converter.post_convert_hook:
        return None
    steps = []
    for configured in (converter.sanitize_preprocessors, converter.autograde_preprocessors):
        names = []
        for step in configured:
            cls = import_item(step) if isinstance(step, str) else step
            if cls in STAND_INS:
                if STAND_INS[cls] is not None:
                    names.append(f"autograder.nbgrader_ext.offline.{STAND_INS[cls]}")
            elif cls in PURE:
                names.append(f"{cls.__module__}.{cls.__name__}")
            else:
                return None
        steps.append(tuple(names))
    notebooks = tuple(_notebook_plan(nb) for nb in gradebook.find_assignment(assignment).notebooks)
    return AutogradePlan(assignment, converter.coursedir.db_url, Config(converter.config),
                         steps[0], steps[1], notebooks)


def _notebook_plan(notebook) -> NotebookPlan:
    def cells(rows, scored: bool = False) -> tuple[Cell, ...]:
        return tuple(Cell(row.name, max_score=float(row.max_score) if scored else 0.0) for row in rows)

    return NotebookPlan(
        notebook.name, notebook.kernelspec,
        tuple(Cell(c.name, c.cell_type, bool(c.locked), c.checksum, c.source) for c in notebook.source_cells),
        cells(notebook.grade_cells, scored=True), cells(notebook.solution_cells),
        cells(notebook.task_cells, scored=True))
