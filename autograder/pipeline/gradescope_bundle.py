"""``python -m autograder gradescope``: the zip Gradescope takes as a programming assignment's
autograder, built from the course.

Gradescope unpacks the zip at ``/autograder/source``, runs ``setup.sh`` there once (as root, on
its Ubuntu image, then keeps the image) and, for each submission, ``/autograder/run_autograder``,
which its harness copies from the zip's root: so both sit at the root. The zip holds the grader
(``autograder/``, with its pinned ``requirements.txt``), the assignment's hidden material
(``assignments/<name>/``, ``source/<name>/``) and ``nbgrader_config.py`` (its limits), and
nothing else of the course: no gradebook, submissions, feedback, tests or caches. Members are
written in a fixed order with a fixed date, so the same course gives the same zip.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import autograder
from autograder.errors import AuthoringError
from autograder.pipeline.course import CONFIG_FILE, CourseRoot

SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}
DATE = (1980, 1, 1, 0, 0, 0)

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source on its Ubuntu image: bubblewrap (the
# sandbox), libseccomp2 (its system-call filter), util-linux (setpriv: the fallback's uid drop),
# Python 3.11+ and a venv at /autograder/venv with the pinned requirements (CPU-only torch).
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd .. && pwd)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq bubblewrap libseccomp2 util-linux python3 python3-venv python3-pip
PY=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  apt-get install -y -qq python3.11 python3.11-venv  # Ubuntu 22.04's python3 is 3.10; the pins need 3.11
  PY=python3.11
fi
"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install -q --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
chmod -R go-rwx .  # the hidden material and the grader: root-only, out of the student's reach
AUTOGRADER_ROOT="$ROOT" "$ROOT/venv/bin/python" -m autograder.pipeline.gradescope_run --prepare {assignment}
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grades the notebook in $ROOT/submission/ and writes
# $ROOT/results/results.json. AUTOGRADER_ROOT (default /autograder) and AUTOGRADER_PYTHON
# (default python3, the venv's when setup.sh made one) let it run anywhere, e.g. in a test.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
if [[ -d "$ROOT/venv/bin" ]]; then export PATH="$ROOT/venv/bin:$PATH"; fi
PYTHON="${{AUTOGRADER_PYTHON:-python3}}"
chmod -R go-rwx "$ROOT/source"  # root-only, again: the student's code may run as another user
mkdir -p "$ROOT/results" && chmod 700 "$ROOT/results"
cd "$ROOT/source"
exec "$PYTHON" -m autograder.pipeline.gradescope_run {assignment}
"""


def _files(folder: Path) -> list[Path]:
    """Regular files under ``folder``; caches, checkpoints and links are left out."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.suffix != ".pyc"
                  and not SKIPPED & set(p.relative_to(folder).parts))


def bundle_members(course: CourseRoot, assignment: str) -> dict[str, Path]:
    """Zip name -> file on disk, for everything but the two generated scripts."""
    notebook = course.source(assignment) / f"{assignment}.ipynb"
    material = course.root / "assignments" / assignment
    if not notebook.is_file() or not (material / "parts.py").is_file():
        raise AuthoringError(
            f"{assignment} has no instructor notebook at {notebook} or no checks at {material / 'parts.py'}: "
            "a Gradescope autograder needs both (check the assignment's name)")
    package = Path(autograder.__file__).resolve().parent  # the grader that builds is the one that ships
    requirements = package.parent / "requirements.txt"
    if not requirements.is_file():
        raise AuthoringError(f"no {requirements} beside the grader: setup.sh installs the pinned requirements from it")
    members = {"requirements.txt": requirements, CONFIG_FILE: course.root / CONFIG_FILE}
    init = course.root / "assignments" / "__init__.py"
    if init.is_file():
        members["assignments/__init__.py"] = init
    for folder, name in ((package, "autograder"), (material, f"assignments/{assignment}"),
                         (course.source(assignment), f"source/{assignment}")):
        members.update({f"{name}/{p.relative_to(folder).as_posix()}": p for p in _files(folder)})
    return members


def _write(archive: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=DATE)
    info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions (unzip keeps them)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_bundle(course: CourseRoot, assignment: str, out: Path | None = None) -> Path:
    """Write the autograder zip of ``assignment``; default ``gradescope_<assignment>.zip`` in the course."""
    members = bundle_members(course, assignment)
    dest = Path(out) if out else course.root / f"gradescope_{assignment}.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as archive:
        _write(archive, "setup.sh", SETUP_SH.format(assignment=assignment).encode(), 0o755)
        _write(archive, "run_autograder", RUN_AUTOGRADER.format(assignment=assignment).encode(), 0o755)
        for name, path in sorted(members.items()):
            _write(archive, name, path.read_bytes(), 0o644)
    return dest
