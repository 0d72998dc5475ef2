"""What the Gradescope bundle's ``run_autograder`` runs: find the student's notebook in
``$AUTOGRADER_ROOT/submission/``, grade it with ``grade_notebook_file`` (the grader behind
``grade-notebook``) and write ``$AUTOGRADER_ROOT/results/results.json``.

Students upload whatever they have, so a missing, misnamed or non-notebook upload is not an
error of the autograder: it scores 0 with a message saying what to upload. The isolation is
the best this container allows (``AUTOGRADER_ISOLATION`` forces one): bubblewrap, else an
unprivileged uid of the sandbox's own (Docker usually forbids namespaces), else none; the
results record which in ``extra_data``.

Each submission is a cold process, so what can be done once is done by ``setup.sh``
(``--prepare``): the input cache, and the course's grading settings as plain JSON beside the
bundle (reading ``nbgrader_config.py`` needs nbgrader, a second of imports); the sandbox's
template starts before the grader's own imports, which it then overlaps.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path

from autograder import one_shot
from autograder.errors import AuthoringError

BUBBLEWRAP, USER, NONE = "bubblewrap", "unprivileged user", "none"
CHOICES = {"auto": None, "bubblewrap": BUBBLEWRAP, "user": USER, "none": NONE}
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints"}
SETTINGS = "grading_settings.json"  # in the bundle's folder, written by --prepare
CONFIG = "nbgrader_config.py"  # pipeline.course.CONFIG_FILE, named here without importing nbgrader


def upload_hint(assignment: str) -> str:
    return (f"Upload your notebook {assignment}.ipynb: the .ipynb file you worked in (Jupyter: File > "
            "Download), not a .py, PDF, HTML or zip of it.")


def find_notebook(folder: Path, assignment: str) -> tuple[Path | None, str]:
    """The notebook to grade and a note for the student; no notebook: None and what to upload.

    One notebook is graded whatever its name; of several, the one named like the assignment.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                   and not IGNORED_PARTS & set(p.relative_to(folder).parts)) if folder.is_dir() else []
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0], ""
    if not notebooks:
        got = ", ".join(p.name for p in files[:5]) + (", ..." if len(files) > 5 else "")
        found = f"your submission has no notebook (got {got})" if files else "your submission is empty"
        return None, f"Not graded: {found}. {upload_hint(assignment)}\n"
    named = ([p for p in notebooks if p.name.lower() == f"{assignment}.ipynb"]
             or [p for p in notebooks if assignment in p.stem.lower()])
    names = ", ".join(p.name for p in notebooks)
    if len(named) == 1:
        return named[0], f"Graded {named[0].name}; ignored the other notebooks ({names}).\n"
    return None, (f"Not graded: your submission has {len(notebooks)} notebooks ({names}). "
                  f"Upload only one, {assignment}.ipynb, and submit again.\n")


def choose_isolation(requested: str = "auto") -> str:
    from autograder.sandbox import user
    from autograder.sandbox.bwrap import BwrapSandbox, SandboxUnavailable

    if requested not in CHOICES:
        raise AuthoringError(f"AUTOGRADER_ISOLATION={requested!r} is not one of {', '.join(CHOICES)}")
    if CHOICES[requested] is not None:
        return CHOICES[requested]
    if BwrapSandbox.available():
        return BUBBLEWRAP
    try:
        user.check_available()
    except SandboxUnavailable:
        return NONE
    return USER


def _config(source: Path):
    """The course's limits and ``max_examples`` (``c.SandboxedGrading`` in nbgrader_config.py)."""
    from autograder.nbgrader_ext.preprocessor import SandboxedGrading
    from autograder.pipeline.course import CourseRoot

    return SandboxedGrading(config=CourseRoot.at(source).config())


def _config_digest(source: Path) -> str:
    return hashlib.sha256((source / CONFIG).read_bytes()).hexdigest()


def save_settings(source: Path) -> None:
    """Write the course's limits and ``max_examples`` as plain JSON, for ``settings``."""
    traits = _config(source)
    doc = {"config_sha256": _config_digest(source), "max_examples": traits.max_examples,
           "limits": dataclasses.asdict(traits.limits())}
    (source / SETTINGS).write_text(json.dumps(doc, indent=1) + "\n")


def settings(source: Path):
    """``(limits, max_examples)``: from the JSON ``--prepare`` wrote, if it was written from this
    very nbgrader_config.py for these limits' fields; else read from the configuration itself."""
    from autograder.sandbox.limits import Limits

    try:
        doc = json.loads((source / SETTINGS).read_text())
    except (OSError, ValueError):
        doc = {}
    fields = {f.name for f in dataclasses.fields(Limits)}
    if doc.get("config_sha256") == _config_digest(source) and set(doc.get("limits", ())) == fields:
        return Limits(**doc["limits"]), doc["max_examples"]
    traits = _config(source)
    return traits.limits(), traits.max_examples


def grade(root: Path, assignment: str, isolation: str) -> dict:
    """Gradescope's results document for the submission under ``root``."""
    notebook, note = find_notebook(root / "submission", assignment)
    if notebook is None:
        return {"score": 0.0, "output": note, "tests": [], "extra_data": {"isolation": isolation}}
    if isolation == BUBBLEWRAP:
        from autograder.sandbox.template import start_shared

        start_shared()  # its imports overlap the grader's, below
    with one_shot.collector_paused():
        from autograder.judge.grader import Settings, grade_notebook_file  # loads torch: only here
        from autograder.reports.gradescope import to_gradescope
        from autograder.sandbox.user import UserSandbox

    limits, max_examples = settings(root / "source")
    factory = functools.partial(UserSandbox, None, limits) if isolation == USER else None
    result = grade_notebook_file(notebook, assignment, isolate=isolation == BUBBLEWRAP, limits=limits,
                                 settings=Settings(max_examples=max_examples, sandboxed=isolation != NONE),
                                 factory=factory)
    doc = to_gradescope(result)
    hint = "" if result.status == "graded" else upload_hint(assignment) + "\n"
    return {**doc, "output": note + doc["output"] + hint, "extra_data": {"isolation": isolation}}


def prepare(root: Path, assignment: str) -> None:
    """Build the input cache, the sandbox's font list and the settings once in setup.sh, so each
    submission does not (Gradescope keeps the image)."""
    from autograder.judge.grader import Assignment
    from autograder.judge.input_cache import load_or_build

    save_settings(root / "source")
    load_or_build(Assignment.load(assignment), settings(root / "source")[1])
    if choose_isolation() == BUBBLEWRAP:
        from autograder.sandbox import font_cache

        if (reason := font_cache.build_for_setup()) is not None:
            print(f"setup.sh: note: matplotlib's font list for the sandbox was not built ({reason})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_autograder", description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("--prepare", action="store_true",
                        help="only build the input cache and write the settings (setup.sh)")
    args = parser.parse_args(argv)
    root = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    if args.prepare:
        prepare(root, args.assignment)
        return 0
    from autograder.reports.gradescope import dump_json

    doc = grade(root, args.assignment, choose_isolation(os.environ.get("AUTOGRADER_ISOLATION", "auto")))
    (root / "results").mkdir(exist_ok=True)
    (root / "results" / "results.json").write_text(dump_json(doc))
    print(f"score {doc['score']} ({doc['extra_data']['isolation']}): {root / 'results' / 'results.json'}")
    one_shot.mark()
    return 0


if __name__ == "__main__":
    one_shot.finish(main())
