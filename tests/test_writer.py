"""The single writer writes exactly what nbgrader's own autograde would, many submissions at a time.

The demo class is graded once; the same worker outputs are then written by the batched writer
in one course copy and by nbgrader's ``autograde`` (the result handed over, as before the
writer) in another. Every gradebook row (ids aside: nbgrader makes them at random), every
autograded file with its mode, and every record must be the same.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import nbformat
import pytest

from autograder.demo_class import CLASS
from autograder.errors import AutograderError
from autograder.judge.results import SubmissionResult
from autograder.judge.worker import GradingJob
from autograder.pipeline import grading
from autograder.pipeline.writer import Built, Writer
from autograder.reports.records import dumps, result_to_json
from tests.course_copy import course_with_students

ASSIGNMENT = "loss_functions"
# The rows' natural keys: every id is shown as the key of the row it names.
NATURAL = (("course", ("id",)), ("student", ("id",)), ("assignment", ("name",)),
           ("notebook", ("assignment_id", "name")), ("base_cell", ("notebook_id", "name", "type")),
           ("source_cell", ("notebook_id", "name")), ("submitted_assignment", ("assignment_id", "student_id")),
           ("submitted_notebook", ("assignment_id", "notebook_id")), ("grade", ("notebook_id", "cell_id")),
           ("comment", ("notebook_id", "cell_id")))


def gradebook_rows(db: Path) -> set[tuple]:
    """Every row of every table, each id replaced by the natural key of the row it names."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        labels: dict = {}
        for table, key in NATURAL:
            for row in con.execute(f"select * from {table}"):
                labels[row["id"]] = (table, *(labels.get(row[k], row[k]) for k in key))
        tables = [name for (name,) in con.execute("select name from sqlite_master where type = 'table'")]
        assert set(t for t, _ in NATURAL) <= set(tables)
        return {(table, *((k, labels.get(row[k], row[k])) for k in row.keys()))
                for table in tables for row in con.execute(f"select * from {table}")}
    finally:
        con.close()


def tree(root: Path, submitted: Path) -> dict[str, tuple]:
    """Every file under ``root``: bytes (a notebook's JSON) and mode. nbformat gives a cell that had
    no id a random one, in nbgrader's own path too, so those ids are left out."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        content: object = path.read_bytes()
        if path.suffix == ".ipynb":
            content = json.loads(content)
            original = json.loads((submitted / relative).read_text())["cells"]
            for cell, before in zip(content["cells"], original):
                if "id" not in before:
                    cell.pop("id", None)
        files[str(relative)] = (content, oct(path.stat().st_mode))
    return files


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The demo class written by the batched writer (``fast``) and by nbgrader's autograde (``stock``)."""
    students = tuple(s.id for s in CLASS)
    fast = course_with_students(tmp_path_factory.mktemp("fast"), students)
    stock = course_with_students(tmp_path_factory.mktemp("stock"), students)
    handed: dict[str, str] = {}
    real_executor = grading._executor

    def recording(planned, jobs, scheduler, run):
        for job, text in real_executor(planned, jobs, scheduler, run):
            handed[job.student] = text
            yield job, text

    def replaying(planned, jobs, scheduler, run):
        for job in planned:
            yield job, handed[job.student]

    alone: list[str] = []
    real_alone = grading._write_alone

    def counted(course, api, assignment, sandbox, built, digest):
        alone.append(built.student)
        return real_alone(course, api, assignment, sandbox, built, digest)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grading, "_executor", recording)
        mp.setattr(grading, "_write_alone", counted)
        fast_summary = grading.grade_class(fast, ASSIGNMENT, progress=False, jobs=2)
    assert alone == ["ravi"]  # only the notebook that is not JSON went through nbgrader's own autograde
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grading, "_executor", replaying)
        mp.setattr(Writer, "plan", lambda self: None)  # nbgrader's own autograde of every submission
        stock_summary = grading.grade_class(stock, ASSIGNMENT, progress=False, jobs=2)
    return fast, stock, fast_summary, stock_summary


@pytest.mark.slow
def test_gradebook_rows_are_nbgraders(both):
    fast, stock, fast_summary, stock_summary = both
    assert fast_summary.outcomes == stock_summary.outcomes
    fast_rows, stock_rows = gradebook_rows(fast.root / "gradebook.db"), gradebook_rows(stock.root / "gradebook.db")
    assert fast_rows == stock_rows, (sorted(fast_rows - stock_rows, key=repr)[:5], sorted(stock_rows - fast_rows, key=repr)[:5])
    assert any(row[0] == "grade" for row in fast_rows)


@pytest.mark.slow
def test_autograded_files_and_records_are_nbgraders(both):
    fast, stock, _, _ = both
    fast_files = tree(fast.root / "autograded", fast.root / "submitted")
    assert fast_files == tree(stock.root / "autograded", stock.root / "submitted")
    assert len(fast_files) == len(CLASS) - 1  # ravi's notebook is not JSON: nothing autograded, as in nbgrader
    fast_records = {p.name: p.read_text() for p in (fast.root / "grading" / ASSIGNMENT).glob("*.json")}
    stock_records = {p.name: p.read_text() for p in (stock.root / "grading" / ASSIGNMENT).glob("*.json")}
    assert fast_records.keys() == stock_records.keys() == {f"{s.id}.json" for s in CLASS}
    assert fast_records == stock_records


@pytest.mark.slow
def test_nbgrader_keeps_working_on_what_the_writer_wrote(both):
    """A later plain ``nbgrader autograde`` of one student, and nbgrader's own reading of the rows."""
    fast, _, fast_summary, _ = both
    api = fast.api()
    assert api.autograde(ASSIGNMENT, "ada", force=True, create=True)["success"]
    with fast.gradebook() as gb:
        scores = {s.student_id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}
    assert scores["ada"] == next(o.score for o in fast_summary.outcomes if o.student == "ada")
    assert scores["ben"] == next(o.score for o in fast_summary.outcomes if o.student == "ben")


def _built(course, student: str, scores: dict, job: GradingJob | None = None) -> Built:
    """A ready result that needs no grading: the submitted notebook, scored as ``scores`` says."""
    folder = course.submitted(student, ASSIGNMENT)
    job = job or GradingJob(str(course.root), ASSIGNMENT, student, str(folder), f"{ASSIGNMENT}.ipynb")
    result = SubmissionResult(student, ASSIGNMENT, "graded")
    text = nbformat.writes(nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)) + "\n"
    return Built(job, result, dumps(result_to_json(result)), {ASSIGNMENT: text}, {ASSIGNMENT: scores})


def test_a_lost_cluster_keeps_what_came_back(tmp_path, monkeypatch):
    """The executor stops (a lost Dask scheduler) after two results: both are written, even the one
    still waiting for its batch, and the third student has nothing."""
    course = course_with_students(tmp_path, ("ada", "ben", "cara"))

    def executor(planned, jobs, scheduler, run):
        for job in planned[:2]:
            built = _built(course, job.student, {"grades": {"mse_public": 1.0}, "comments": {}}, job)
            yield job, json.dumps({"record": built.record,
                                   "autograded": {"notebooks": built.notebooks, "scores": built.scores}})
        raise AutograderError("lost the connection to the Dask scheduler")

    monkeypatch.setattr(grading, "_executor", executor)
    with pytest.raises(AutograderError):
        grading.grade_class(course, ASSIGNMENT, progress=False, jobs=2)
    with course.gradebook() as gb:
        assert {s.student_id for s in gb.find_assignment(ASSIGNMENT).submissions} == {"ada", "ben"}
    assert [course.record(s, ASSIGNMENT).exists() for s in ("ada", "ben", "cara")] == [True, True, False]


def test_a_batch_with_a_bad_submission_writes_the_rest(tmp_path):
    """One submission the gradebook refuses (a grade id it does not have) goes back for nbgrader's
    own autograde; the rest of its batch is written, each with its record."""
    course = course_with_students(tmp_path, ("ada", "ben", "cara"))
    good = {"grades": {"mse_public": 1.0}, "comments": {}}
    batch = [_built(course, "ada", good), _built(course, "ben", {"grades": {"no_such_cell": 1.0}}),
             _built(course, "cara", good)]
    with Writer(course, course.api(), ASSIGNMENT) as writer:
        refused = writer.write(batch)
    assert [b.student for b in refused] == ["ben"]
    with course.gradebook() as gb:
        assert {s.student_id for s in gb.find_assignment(ASSIGNMENT).submissions} == {"ada", "cara"}
        assert gb.find_grade("mse_public", ASSIGNMENT, ASSIGNMENT, "ada").auto_score == 1.0
    assert course.record("ada", ASSIGNMENT).exists() and not course.record("ben", ASSIGNMENT).exists()
    assert (course.root / "autograded" / "cara" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()


@pytest.mark.parametrize("damage", [
    None,
    lambda meta: meta.update(points="ten"),        # the schema's type
    lambda meta: meta.update(schema_version=2),    # nbgrader's version check
    lambda meta: meta.update(grade_id=""),         # nbgrader's own rule beyond the schema
])
def test_the_metadata_check_with_its_schema_checked_once_agrees_with_nbgraders(damage):
    from nbgrader.preprocessors import CheckCellMetadata

    from autograder.nbgrader_ext.offline import CheckCellMetadataOnce

    notebook = nbformat.read(Path(__file__).parents[1] / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    if damage is not None:
        damage(next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")).metadata.nbgrader)
    outcomes = []
    for step in (CheckCellMetadata(), CheckCellMetadataOnce()):
        try:
            step.preprocess(notebook, {})
            outcomes.append("valid")
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            outcomes.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0] == "valid") == (damage is None)
