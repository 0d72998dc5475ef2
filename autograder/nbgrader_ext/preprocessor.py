"""nbgrader's autograde step, made safe: a drop-in replacement for its ``Execute`` preprocessor.

Configured in ``nbgrader_config.py``, so the gradebook, formgrader and feedback keep working:
nbgrader's ``SaveAutoGrades`` reads each test cell's score from the ``execute_result`` this
step writes. The student's cells run in the sandbox; the test cells never run anywhere — the
trusted grader judges each by its grade id, and its feedback replaces the hidden test code.
"""
from __future__ import annotations

import base64
import re

from nbformat import NotebookNode, v4
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer

from autograder.errors import SubmissionError
from autograder.judge.notebook import HIDDEN_BEGIN, HIDDEN_END
from autograder.judge.results import SubmissionResult
from autograder.nbgrader_ext import handoff
from autograder.judge import worker
from autograder.judge.test_cells import has_properties
from autograder.judge.worker import GradingJob
from autograder.reports.feedback_text import render_part
from autograder.reports.records import record_path, save_result
from autograder.sandbox.limits import Limits, MiB

HIDDEN_BLOCK = re.compile(f"{re.escape(HIDDEN_BEGIN)}.*?{re.escape(HIDDEN_END)}\n?", re.DOTALL)


class SandboxedGrading(NbGraderPreprocessor):
    sandbox = Bool(True, help="Run student code in bubblewrap. False only with --no-sandbox; "
                              "every report then says so.").tag(config=True)
    max_examples = Integer(50, help="Hypothesis examples per property").tag(config=True)
    cell_timeout = Float(60.0, help="Wall-clock seconds for one student cell").tag(config=True)
    call_timeout = Float(30.0, help="Wall-clock seconds for one batch of calls of a student function").tag(config=True)
    # Budgets far above an honest submission's cost (see autograder.judge.student_process), so they only
    # ever stop a slow one: its result may then vary a little with the machine's load.
    function_budget = Float(60.0, help="Wall-clock seconds spent on one graded function, over all "
                                       "its checks").tag(config=True)
    submission_budget = Float(300.0, help="Wall-clock seconds spent on one submission: cells, calls "
                                          "and figures").tag(config=True)
    cpu_seconds = Integer(900, help="CPU seconds for one submission's process, over its life").tag(config=True)
    memory_mb = Integer(2048, help="Address-space limit of the student's process (MiB)").tag(config=True)
    max_processes = Integer(64, help="Processes and threads the student's code may run at once").tag(config=True)
    file_size_mb = Integer(64, help="Largest file the student's code may write (MiB)").tag(config=True)
    sandbox_memory_mb = Integer(None, allow_none=True, help="Memory of a student's whole sandbox, all its processes "
                                "together, without swap (MiB; a cgroup, where the grader can make one). "
                                "None: memory_mb").tag(config=True)
    sandbox_cpus = Float(1.0, help="CPU cores a student's whole sandbox may use at once (a cgroup quota, "
                                   "where the grader can make one)").tag(config=True)

    def limits(self) -> Limits:
        return Limits(
            cell_seconds=self.cell_timeout, call_seconds=self.call_timeout, function_seconds=self.function_budget,
            submission_seconds=self.submission_budget, cpu_seconds=self.cpu_seconds,
            memory_bytes=self.memory_mb * MiB, processes=self.max_processes, file_bytes=self.file_size_mb * MiB,
            sandbox_memory_bytes=None if self.sandbox_memory_mb is None else self.sandbox_memory_mb * MiB,
            cpu_cores=self.sandbox_cpus,
        )

    def job(self, student: str, assignment: str, notebook: str) -> GradingJob:
        """The grading job of one submitted notebook (``notebook`` without ``.ipynb``), with these traits."""
        coursedir = CourseDirectory(config=self.config)
        # Grade what the student submitted, not nbgrader's sanitized copy: OverwriteCells has
        # already restored deleted test cells there, which would hide them from the TA's flags.
        files = coursedir.format_path(coursedir.submitted_directory, student, assignment)
        # A test-cell assignment is graded whole (every notebook): one job, whichever notebook asks.
        graded = f"{notebook}.ipynb" if has_properties(str(coursedir.root), assignment) else ""
        return GradingJob(course_root=str(coursedir.root), assignment=assignment, student=student,
                          submission=str(files), notebook=graded, limits=self.limits(),
                          max_examples=self.max_examples, sandboxed=self.sandbox)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        job = self.job(info["student"], info["assignment"], info["notebook"])
        result = handoff.take(job) or _remembered(job) or worker.grade(job)
        if not job.notebook:
            _last[:] = [(job, handoff.notebook_digest(job), result)]
        save_result(result, record_path(job.course_root, job.assignment, job.student))
        return apply(nb, result, info["notebook"]), resources


# The last result graded here: a test-cell assignment is graded whole, and nbgrader asks once per
# notebook (with a new preprocessor each time), so the second notebook takes the first one's.
_last: list[tuple[GradingJob, str, SubmissionResult]] = []


def _remembered(job: GradingJob) -> SubmissionResult | None:
    for graded, digest, result in _last:
        if graded == job and digest == handoff.notebook_digest(job):
            return result
    return None


def apply(nb: NotebookNode, result: SubmissionResult, notebook: str) -> NotebookNode:
    """``nb`` with ``result`` written in, or a ``SubmissionError`` for a result that is not a grade
    (test cells left without output would get full credit)."""
    if result.status != "graded":
        raise SubmissionError(result.reason or "the submission could not be graded")
    write_outputs(nb, result, f"{notebook}.ipynb")
    return nb


def write_outputs(nb: NotebookNode, result: SubmissionResult, notebook: str = "") -> None:
    """Put each part's feedback and score where nbgrader's SaveAutoGrades and feedback read them;
    ``notebook``: the file ``nb`` is, whose parts these are in an assignment of several."""
    parts = {part.grade_id: part for part in result.parts if part.notebook in ("", notebook)}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        part = parts.get(grade_id)
        if part is None or cell.cell_type != "code":
            continue
        cell.source = HIDDEN_BLOCK.sub("", cell.source).rstrip() or "# Hidden tests"
        images = [
            v4.new_output("display_data", data={"image/png": base64.b64encode(check.image_png).decode("ascii"),
                                                "text/plain": f"<your curve vs the reference: {check.name}>"})
            for check in part.checks if check.image_png
        ]
        cell.outputs = [
            v4.new_output("stream", name="stdout", text=render_part(part)),
            *images,
            v4.new_output("execute_result", data={"text/plain": repr(float(part.score))}, execution_count=None),
        ]
