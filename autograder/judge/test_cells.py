"""Ordinary nbgrader assignments: the instructor's test cells run next to the student's code.

An assignment without ``assignments/<name>/parts.py`` is graded as nbgrader grades it: every
notebook of ``source/<name>/`` in its own process, the student's cells with the instructor's
locked and test cells restored from the source (hidden tests included), and each test cell
scored by nbgrader's own rule (``nbgrader.utils.determine_grade``: an error or anything on
stderr scores 0, a number as the cell's value is partial credit, else full points). The
difference is where: in the student's sandbox, under the same limits, budgets and fault
containment as a property-tested assignment, so a hanging or crashing cell costs only its
own points and the student's code never touches the course, the gradebook or other students.

What this mode cannot promise: the test cells run in the student's process, as in nbgrader, so
a student who patches what the tests call can make them pass, and the score comes from what that
process reports. Property-tested assignments judge in the trusted process instead.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from nbformat import v4
from nbgrader.utils import determine_grade

from autograder.errors import AuthoringError
from autograder.judge import integrity
from autograder.judge.notebook import HIDDEN_BEGIN, HIDDEN_END, TEST, InstructorCell, instructor_cells, \
    nbgrader_meta, plan_submission, read_notebook
from autograder.judge.results import CheckResult, PartResult, SubmissionResult
from autograder.judge.student_process import StudentProcess
from autograder.sandbox.base import CellRun, Sandbox

AUTOTEST = re.compile(r"^\s*#.*\bAUTOTEST\b", re.MULTILINE)  # nbgrader's default delimiter, in a comment
RAN = "the test cell ran without an error"
OWN_SCORE = "the score the test cell gave"


def has_properties(course_root: str | Path, name: str) -> bool:
    """A property-tested assignment (``assignments/<name>/parts.py``), not an ordinary nbgrader one."""
    return (Path(course_root) / "assignments" / name / "parts.py").is_file()


@dataclass(frozen=True)
class SourceNotebook:
    file: str  # "problem1.ipynb"
    cells: tuple[InstructorCell, ...]
    manual: tuple[str, ...]  # grade ids of what TAs grade (written answers, graded code, tasks)


@dataclass(frozen=True)
class OrdinaryAssignment:
    name: str
    notebooks: tuple[SourceNotebook, ...]
    source: Path  # source/<name>/: its other files overwrite the student's, as nbgrader's autograde does

    @classmethod
    def load(cls, name: str, course_root: Path) -> "OrdinaryAssignment":
        folder = course_root / "source" / name
        files = sorted(folder.glob("*.ipynb"))
        if not files:
            raise AuthoringError(f"no instructor notebook for '{name}' in {folder}")
        notebooks = []
        for path in files:
            notebook = read_notebook(path)
            cells = instructor_cells(notebook)
            if any(c.kind == TEST and "grade_part(" in c.source for c in cells):
                raise AuthoringError(f"{path} calls grade_part, a property-tested assignment: "
                                     f"assignments/{name}/parts.py is missing")
            if any(c.kind == TEST and AUTOTEST.search(c.source) for c in cells):
                raise AuthoringError(f"{path} has nbgrader AUTOTEST lines, which this grader does not "
                                     "expand (they are comments: its tests would pass unrun); write the "
                                     "asserts out in the test cells")
            manual = tuple(str(m["grade_id"]) for m in map(nbgrader_meta, notebook.cells)
                           if m.get("grade_id") and (m.get("task") or m.get("grade") and m.get("solution")))
            notebooks.append(SourceNotebook(path.name, cells, manual))
        return cls(name, tuple(notebooks), folder)

    def key(self) -> bytes:
        """What two graders must share to grade alike: every file of the source folder."""
        return b"".join(p.relative_to(self.source).as_posix().encode() + b"\0" + p.read_bytes()
                        for p in sorted(self.source.rglob("*")) if p.is_file())


def grade(student: str, assignment: OrdinaryAssignment, files: Path,
          factory: Callable[[Path], Callable[[], Sandbox]], settings) -> SubmissionResult:
    """Grade the notebooks in ``files``; ``factory(folder)`` makes sandboxes holding ``folder``.
    A submitted notebook that cannot be read makes the submission ungradable, with the reason."""
    from autograder.judge.grader import sandbox_flags, ungradable

    parts, flags, cell_errors = [], [], []
    with tempfile.TemporaryDirectory(prefix="autograder-files-") as folder:
        work = _overlay(files, assignment.source, Path(folder) / "files")
        for source in assignment.notebooks:
            if not (files / source.file).is_file():
                parts += [_missing(test, source.file) for test in source.cells if test.kind == TEST]
                continue
            try:
                submitted = read_notebook(files / source.file)
            except ValueError as exc:
                return ungradable(student, assignment.name, str(exc), sandboxed=settings.sandboxed)
            plan = plan_submission(source.cells, submitted, run_tests=True)
            process = StudentProcess(factory(work), settings.limits)
            try:
                runs = process.run_cells(plan.cells)
            finally:
                process.close()
            parts += [_part(test, runs[i], source.file) for test, i in zip(plan.tests, plan.test_cells)]
            flags += [replace(f, detail=f"{source.file}: {f.detail}") for f in plan.flags]
            flags += integrity.tamper_signs(plan.student_cells)
            flags += integrity.escape_signs([run.error for run in runs if run.error])
            cell_errors += [f"{source.file}, {label}: {run.error.strip().splitlines()[-1]}"
                            for i, (label, run) in enumerate(zip(plan.labels, runs))
                            if run.error and run.error.strip() and i not in plan.test_cells]
    return SubmissionResult(
        student=student, assignment=assignment.name, status="graded", parts=tuple(parts),
        flags=tuple(flags) + sandbox_flags(settings), sandboxed=settings.sandboxed,
        manual_parts=tuple(m for source in assignment.notebooks for m in source.manual),
        cell_errors=tuple(cell_errors))


def _overlay(submitted: Path, source: Path, dest: Path) -> Path:
    """The student's folder with the instructor's files (not notebooks) copied over it; of the
    student's, folders and regular files only (a FIFO would hang the copy; links lead elsewhere)."""
    shutil.copytree(submitted, dest, ignore=_not_plain)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in relative.parts:
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            shutil.copyfile(path, target)
    return dest


def _not_plain(folder: str, names: list[str]) -> list[str]:
    paths = {name: os.path.join(folder, name) for name in names}
    return [name for name, path in paths.items()
            if os.path.islink(path) or not (os.path.isdir(path) or os.path.isfile(path))]


def _missing(test: InstructorCell, file: str) -> PartResult:
    return PartResult(grade_id=test.grade_id, title=test.grade_id, functions=(), max_score=test.points,
                      score=0.0, notebook=file,
                      error=f"{file} was not submitted: submit it with the assignment's other notebooks")


def outputs(run: CellRun) -> list:
    """The cell's outputs as a kernel would have sent them, for nbgrader's scoring rule."""
    out = [v4.new_output("stream", name=name, text=text)
           for name, text in (("stdout", run.stdout), ("stderr", run.stderr)) if text]
    if run.error:
        name, _, value = run.error.partition(": ")
        out.append(v4.new_output("error", ename=name, evalue=value, traceback=[run.error]))
    elif run.result is not None:
        out.append(v4.new_output("execute_result", data={"text/plain": run.result}, execution_count=None))
    return out


def _part(test: InstructorCell, run: CellRun, file: str) -> PartResult:
    cell = v4.new_code_cell(test.source, metadata={"nbgrader": {
        "grade": True, "solution": False, "points": test.points, "grade_id": test.grade_id}})
    cell.outputs = outputs(run)
    try:
        score, _ = determine_grade(cell)
    except ValueError:  # nbgrader's own autograde stops on this notebook; here it costs the part
        check = CheckResult(OWN_SCORE, False, message=f"the test cell's value {run.result} is more than "
                                                      f"its {test.points:g} points; the course staff will look")
        return PartResult(test.grade_id, test.grade_id, (), test.points, 0.0, (check,), notebook=file)
    if run.error:
        check = CheckResult(RAN, False, message=_where(run, test.source))
    elif run.stderr:
        check = CheckResult(RAN, False, message="it wrote to stderr, which scores a test cell 0: "
                                                + run.stderr.strip().splitlines()[0])
    elif score < test.points:
        check = CheckResult(OWN_SCORE, False, message=f"{score:g} of {test.points:g} points")
    else:
        check = CheckResult(RAN, True)
    return PartResult(test.grade_id, test.grade_id, (), test.points, float(score), (check,), notebook=file)


def _where(run: CellRun, source: str) -> str:
    """The error, and the test's line that raised it unless that line is a hidden test."""
    error = run.error.strip().splitlines()[-1] if run.error.strip() else "the cell failed"
    lines = source.splitlines()
    if run.line is None or run.line > len(lines):
        return error
    hidden = False
    for number, text in enumerate(lines, 1):
        hidden = (hidden or text.strip() == HIDDEN_BEGIN) and text.strip() != HIDDEN_END
        if number == run.line:
            return f"{error}, in a hidden test" if hidden else f"{error}, at line {number}: {text.strip()}"
    return error
