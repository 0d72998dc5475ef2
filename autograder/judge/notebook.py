"""Decide what of a submission runs and what gets graded, from the instructor's notebook.

The submission supplies only the student's answers and scratch cells. Everything else — the
locked cells, the list of graded parts, their points — comes from the instructor's source
notebook, so deleting, duplicating, retagging or rewriting a test cell changes nothing but a
flag for the TA.
"""
from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass
from itertools import accumulate, compress, count
from operator import not_, sub, xor

import nbformat
from nbformat import NotebookNode

from autograder.judge.results import Flag

SOLUTION, TEST, MANUAL, LOCKED = "solution", "test", "manual", "locked"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"  # nbgrader's default delimiters


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
    test_cells: tuple[int, ...] = ()  # with ``run_tests``: where in ``cells`` each of ``tests`` runs


def nbgrader_meta(cell: NotebookNode) -> dict:
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
        meta = nbgrader_meta(cell)
        kind = _kind(meta, cell.cell_type)
        if kind and meta.get("grade_id"):
            cells.append(InstructorCell(
                grade_id=str(meta["grade_id"]), kind=kind, cell_type=cell.cell_type,
                source=cell.source, points=float(meta.get("points") or 0),
            ))
    return tuple(cells)


MAX_NOTEBOOK_BYTES = 20 * 2**20  # a Jupyter notebook with a few dozen plots is a few MiB
MAX_OUTPUT_BYTES = 10 * 2**20  # text in cell outputs: the grader reruns the cells, never reads them
MAX_JSON_DEPTH = 64  # Jupyter writes 5 or 6 levels; json and nbformat recurse once per level
MAX_JSON_CONTAINERS = 500_000  # each "[]" or "{}" costs about 100 bytes once parsed, twice over
_NOT_SYNTAX = bytes(b for b in range(256) if b not in b'[]{}"')
_QUOTE_FLAG = bytes.maketrans(b'"[]{}', b"\x01\x00\x00\x00\x00")
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def _json_shape(data: bytes) -> tuple[int, int]:
    """(deepest nesting, number of arrays and objects) of JSON text, brackets in strings aside.

    Bytes operations and C iterators only (about 2 s for 20 MiB of brackets), so a hostile file
    is refused before a parser builds millions of objects from it: 3 bytes of "[]," become
    about 100 bytes of Python objects, twice (json, then nbformat's NotebookNode copy).
    Escaped backslashes and quotes are dropped first, so every quote left opens or closes a
    string; a bracket is outside strings where the count of quotes before it is even.
    """
    syntax = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_SYNTAX)
    in_string = accumulate(syntax.translate(_QUOTE_FLAG), xor)
    steps = bytes(compress(syntax, map(not_, in_string))).translate(None, b'"').translate(_OPEN_CLOSE)
    if not steps:
        return 0, 0
    return max(map(sub, accumulate(steps), count(1))), steps.count(2)


def _output_bytes(notebook: NotebookNode) -> int:
    """Characters of text in every cell's outputs (images count as their base64 text)."""
    def size(value) -> int:
        if isinstance(value, str):
            return len(value)
        if isinstance(value, dict):
            return sum(size(v) for v in value.values())
        if isinstance(value, list):
            return sum(size(v) for v in value)
        return 0
    return sum(size(cell.get("outputs", [])) for cell in notebook.get("cells", []))


def read_notebook(path) -> NotebookNode:
    """Read and validate a notebook; any problem is raised as ValueError with the reason.

    What a submission may cost is bounded before nbformat sees it: the file's size, then the
    depth and number of its JSON arrays and objects; the size of its outputs once parsed.
    """
    clear = "clear its outputs (Kernel > Restart & Clear Output), save it and submit it again"
    resave = "a notebook saved by Jupyter nests 5 or 6 levels in a few hundred; save it from Jupyter"
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a readable notebook: it is not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{path} is not a readable notebook: {type(exc).__name__}: {exc}") from None
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path} is not a readable notebook: it is {info.st_size / 2**20:.1f} MiB, "
                         f"over the {MAX_NOTEBOOK_BYTES // 2**20} MiB a notebook may be; {clear}")
    depth, containers = _json_shape(data)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{path} is not a readable notebook: its JSON nests {depth} levels deep, "
                         f"over the {MAX_JSON_DEPTH} allowed; {resave}")
    if containers > MAX_JSON_CONTAINERS:
        raise ValueError(f"{path} is not a readable notebook: its JSON has {containers} arrays and "
                         f"objects, over the {MAX_JSON_CONTAINERS} allowed; {resave}")
    try:
        with warnings.catch_warnings():  # e.g. missing cell ids: harmless, and not the student's doing
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
            nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises many types; the reason is what matters
        raise ValueError(f"{path} is not a readable notebook: {type(exc).__name__}: {exc}") from None
    outputs = _output_bytes(notebook)
    if outputs > MAX_OUTPUT_BYTES:
        raise ValueError(f"{path} is not a readable notebook: its cell outputs hold {outputs / 2**20:.1f} "
                         f"MiB, over the {MAX_OUTPUT_BYTES // 2**20} MiB a notebook may have; {clear}")
    return notebook


def plan_submission(instructor: tuple[InstructorCell, ...], submission: NotebookNode,
                    run_tests: bool = False) -> Plan:
    """Order the cells to run by the instructor's notebook, keeping the student's extra cells
    after the instructor cell they followed. ``run_tests``: the instructor's test cells run too,
    in place (an ordinary nbgrader assignment, whose tests are code run next to the student's)."""
    known = {c.grade_id: c for c in instructor}
    answers: dict[str, list[str]] = {}
    extras: dict[str | None, list[str]] = {}
    flags: list[Flag] = []
    seen: set[str] = set()
    anchor: str | None = None
    for cell in submission.cells:
        if cell.cell_type != "code":
            continue
        grade_id = nbgrader_meta(cell).get("grade_id")
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

    test_cells: list[int] = []
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
        elif item.kind == TEST and run_tests:
            test_cells.append(len(cells))
            emit([item.source], f"the test cell '{item.grade_id}'")
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
        test_cells=tuple(test_cells),
    )
