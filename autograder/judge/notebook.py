"""Decide what of a submission runs and what gets graded, from the instructor's notebook.

The submission supplies only the student's answers and scratch cells. Everything else — the
locked cells, the list of graded parts, their points — comes from the instructor's source
notebook, so deleting, duplicating, retagging or rewriting a test cell changes nothing but a
flag for the TA.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import nbformat
from nbformat import NotebookNode

from autograder.judge.results import Flag

SOLUTION, TEST, MANUAL, LOCKED = "solution", "test", "manual", "locked"


@dataclass(frozen=True)
class InstructorCell:
    grade_id: str
    kind: str
    cell_type: str
    source: str
    points: float = 0.0


@dataclass(frozen=True)
class Plan:
    """What to run in the sandbox (in order) and what the trusted grader judges afterwards."""

    cells: tuple[str, ...]
    labels: tuple[str, ...]  # one per cell, naming it for the student ("your answer in 'mse_solution'")
    tests: tuple[InstructorCell, ...]
    manual: tuple[InstructorCell, ...]
    student_cells: tuple[str, ...]  # sources the student wrote, for static checks
    flags: tuple[Flag, ...]


def _nbgrader(cell: NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _kind(meta: dict, cell_type: str) -> str | None:
    if meta.get("solution") and meta.get("grade") and cell_type == "markdown":
        return MANUAL
    if meta.get("solution"):
        return SOLUTION
    if meta.get("grade"):
        return TEST if cell_type == "code" else MANUAL
    if meta.get("locked"):
        return LOCKED
    return None


def instructor_cells(source: NotebookNode) -> tuple[InstructorCell, ...]:
    """The nbgrader cells of the instructor's notebook, in order."""
    cells = []
    for cell in source.cells:
        meta = _nbgrader(cell)
        kind = _kind(meta, cell.cell_type)
        if kind and meta.get("grade_id"):
            cells.append(InstructorCell(
                grade_id=str(meta["grade_id"]), kind=kind, cell_type=cell.cell_type,
                source=cell.source, points=float(meta.get("points") or 0),
            ))
    return tuple(cells)


def read_notebook(path) -> NotebookNode:
    """Read and validate a notebook; any problem is raised as ValueError with the reason."""
    try:
        with warnings.catch_warnings():  # e.g. missing cell ids: harmless, and not the student's doing
            warnings.simplefilter("ignore")
            notebook = nbformat.read(str(path), as_version=4)
            nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises many types; the reason is what matters
        raise ValueError(f"{path} is not a readable notebook: {type(exc).__name__}: {exc}") from None
    return notebook


def plan_submission(instructor: tuple[InstructorCell, ...], submission: NotebookNode) -> Plan:
    """Order the cells to run by the instructor's notebook, keeping the student's extra cells
    after the instructor cell they followed."""
    known = {c.grade_id: c for c in instructor}
    answers: dict[str, list[str]] = {}
    extras: dict[str | None, list[str]] = {}
    flags: list[Flag] = []
    seen: set[str] = set()
    anchor: str | None = None
    for cell in submission.cells:
        if cell.cell_type != "code":
            continue
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in known:
            if grade_id in seen:
                flags.append(Flag("duplicate-cell", f"cell '{grade_id}' appears more than once; "
                                                    "only the instructor's version was graded"))
            seen.add(grade_id)
            anchor = grade_id
            if known[grade_id].kind == SOLUTION:
                answers.setdefault(grade_id, []).append(cell.source)
            continue
        if grade_id:
            flags.append(Flag("unknown-cell", f"a cell claims grade id '{grade_id}', which the "
                                              "assignment does not have; it ran as student code"))
        extras.setdefault(anchor, []).append(cell.source)

    cells: list[str] = list(extras.get(None, []))
    labels: list[str] = ["your own cell at the top"] * len(cells)

    def emit(sources: list[str], label: str) -> None:
        cells.extend(sources)
        labels.extend([label] * len(sources))

    for item in instructor:
        if item.cell_type != "code":
            continue
        if item.grade_id not in seen:
            flags.append(Flag("missing-cell", f"cell '{item.grade_id}' ({item.kind}) was deleted; "
                                              + ("the student's answer is missing" if item.kind == SOLUTION
                                                 else "it was restored from the instructor's notebook")))
        if item.kind == LOCKED:
            emit([item.source], f"the read-only cell '{item.grade_id}'")
        elif item.kind == SOLUTION:
            emit(answers.get(item.grade_id, [])[:1], f"your answer in '{item.grade_id}'")
        emit(extras.get(item.grade_id, []), f"your own cell after '{item.grade_id}'")
    student = [src for sources in answers.values() for src in sources[:1]]
    student += [src for sources in extras.values() for src in sources]
    return Plan(
        cells=tuple(cells),
        labels=tuple(labels),
        tests=tuple(c for c in instructor if c.kind == TEST),
        manual=tuple(c for c in instructor if c.kind == MANUAL),
        student_cells=tuple(student),
        flags=tuple(flags),
    )
