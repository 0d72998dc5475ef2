"""Grade one submission: student code in its sandbox, every judgement in this process.

The one grader behind all three entry points (nbgrader's autograde step, ``python -m
autograder grade`` and ``grade-notebook``), so they cannot disagree.
"""
from __future__ import annotations

import dataclasses
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from nbformat import NotebookNode

from autograder.errors import AuthoringError
from autograder.judge import integrity
from autograder.judge.input_cache import InputCache, load_or_build
from autograder.judge.notebook import InstructorCell, instructor_cells, plan_submission, read_notebook
from autograder.judge.results import PER_PROCESS_LIMITS, Flag, PartResult, SubmissionResult
from autograder.judge.student_process import StudentProcess
from autograder.judge.subject import SandboxFunctions
from autograder.sandbox import cgroups
from autograder.sandbox.base import Sandbox
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.limits import Limits

COURSE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Assignment:
    """What the instructor's side says about an assignment: its cells and its checks."""

    name: str
    instructor: tuple[InstructorCell, ...]
    parts: Mapping[str, object]
    functions: tuple[str, ...]

    @classmethod
    def load(cls, name: str, course_root: Path = COURSE_ROOT) -> "Assignment":
        if not (course_root / "assignments" / name / "parts.py").is_file():
            raise AuthoringError(
                f"'{name}' has no assignments/{name}/parts.py, so it is an ordinary nbgrader assignment: "
                f"grade its class with `python -m autograder grade {name}` (one notebook alone, and the "
                f"Gradescope bundle, need a property-tested assignment)")
        source = course_root / "source" / name / f"{name}.ipynb"
        if not source.is_file():
            raise AuthoringError(f"no instructor notebook for '{name}' at {source}")
        if sys.path[:1] != [str(course_root)]:  # first: a stale course copy on the path must not win
            sys.path[:] = [str(course_root), *(p for p in sys.path if p != str(course_root))]
        try:
            module = importlib.import_module(f"assignments.{name}.parts")
        except ImportError as exc:
            raise AuthoringError(f"assignments/{name}/parts.py cannot be imported: {exc}") from None
        instructor = instructor_cells(read_notebook(source))
        missing = [c.grade_id for c in instructor if c.kind == "test" and c.grade_id not in module.PARTS]
        if missing:
            raise AuthoringError(f"grade cells {missing} have no check in assignments/{name}/parts.py")
        functions = tuple(sorted({f for part in module.PARTS.values() for f in part.functions}))
        return cls(name=name, instructor=instructor, parts=module.PARTS, functions=functions)


@dataclass(frozen=True)
class Settings:
    max_examples: int = 50
    sandboxed: bool = True
    limits: Limits = Limits()  # those of the sandbox factory: its deadlines, and the time budgets


def grade_submission(
    student: str,
    assignment: Assignment,
    submission: NotebookNode,
    sandbox_factory: Callable[[], Sandbox],
    settings: Settings = Settings(),
    inputs: InputCache | None = None,
) -> SubmissionResult:
    """``inputs``: the class's ``load_or_build(assignment, settings.max_examples)``, to judge the
    properties a submission passes from cached inputs in batches instead of searching (same result)."""
    if inputs is not None and inputs.max_examples != settings.max_examples:
        raise ValueError(f"input cache for max_examples={inputs.max_examples}, grading with {settings.max_examples}")
    plan = plan_submission(assignment.instructor, submission)
    process = StudentProcess(sandbox_factory, settings.limits)
    try:
        runs = process.run_cells(plan.cells)
        functions = SandboxFunctions(process, inputs=inputs)
        parts = tuple(
            _grade_part(assignment, test, functions, settings) for test in plan.tests
        )
    finally:
        process.close()
    errors = [run.error for run in runs if run.error]
    cell_errors = tuple(f"{label}: {_last_line(run.error)}" for label, run in zip(plan.labels, runs) if run.error)
    flags = list(plan.flags)
    flags += integrity.forbidden_uses(plan.student_cells, assignment.functions)
    flags += integrity.tamper_signs(plan.student_cells)
    flags += integrity.escape_signs(errors)
    for function, used in sorted(process.forbidden.items()):
        flags += integrity.runtime_forbidden(function, used)
    return SubmissionResult(
        student=student,
        assignment=assignment.name,
        status="graded",
        parts=parts,
        flags=tuple(flags) + sandbox_flags(settings),
        sandboxed=settings.sandboxed,
        manual_parts=tuple(c.grade_id for c in plan.manual),
        cell_errors=cell_errors,
    )


def sandbox_flags(settings: Settings) -> tuple[Flag, ...]:
    """What the TA must know about how the student's code was contained."""
    if not settings.sandboxed:
        return (Flag("no-sandbox", "graded WITHOUT the sandbox (--no-sandbox): student code was not isolated"),)
    if (reason := cgroups.fallback_reason()) is not None:
        return (Flag(PER_PROCESS_LIMITS, f"per-process limits only: cgroups unavailable ({reason})"),)
    return ()


def _last_line(error: str) -> str:
    lines = error.strip().splitlines()
    return lines[-1] if lines else error


def _grade_part(assignment: Assignment, test: InstructorCell, functions, settings: Settings) -> PartResult:
    part = assignment.parts[test.grade_id]
    try:
        result = part.grade(functions, max_score=test.points, max_examples=settings.max_examples,
                            grade_id=test.grade_id)
    except Exception as exc:  # a grader bug must not cost the class: record it, give no points
        return PartResult(
            grade_id=test.grade_id, title=getattr(part, "title", test.grade_id),
            functions=tuple(getattr(part, "functions", ())), max_score=test.points, score=0.0,
            error=f"internal grader error ({type(exc).__name__}: {exc}); please tell the course staff",
        )
    return dataclasses.replace(result, max_score=test.points, score=min(max(result.score, 0.0), test.points))


def ungradable(student: str, assignment: str, reason: str, sandboxed: bool = True) -> SubmissionResult:
    """A submission that could not be graded at all, with the reason: never a silent zero."""
    return SubmissionResult(student=student, assignment=assignment, status="ungradable",
                            reason=reason, sandboxed=sandboxed)


def grade_notebook_file(path: str | Path, assignment_name: str, *, isolate: bool = True,
                        limits: Limits = Limits(), settings: Settings | None = None,
                        factory: Callable[[], Sandbox] | None = None) -> SubmissionResult:
    """Grade one notebook with no course directory or gradebook (Gradescope-style).

    ``factory``: a sandbox other than the one ``isolate`` picks (the Gradescope bundle's
    unprivileged user, where bubblewrap cannot run)."""
    assignment = Assignment.load(assignment_name)
    settings = dataclasses.replace(settings or Settings(sandboxed=isolate), limits=limits)
    factory = factory or sandbox_factory(limits, None, isolate=isolate)
    student = Path(path).stem
    try:
        notebook = read_notebook(path)
    except ValueError as exc:
        return ungradable(student, assignment_name, str(exc), sandboxed=isolate)
    inputs = load_or_build(assignment, settings.max_examples)
    return grade_submission(student, assignment, notebook, factory, settings, inputs)
