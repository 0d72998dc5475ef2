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

import re
import zipfile
from pathlib import Path

import autograder
from autograder.errors import AuthoringError
from autograder.pipeline.course import CONFIG_FILE, CourseRoot

SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}
DATE = (1980, 1, 1, 0, 0, 0)

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source on its Ubuntu image, then keeps the
# image. It installs what is missing of bubblewrap (the sandbox), libseccomp2 (its system-call
# filter), util-linux (setpriv: the fallback's uid drop) and Python 3.11+ with venv (Ubuntu
# 22.04's python3 is 3.10: then python3.11, from Ubuntu's universe); makes $ROOT/venv and installs
# the pinned requirements (CPU-only torch) with that venv's pip, never the system's (PEP 668);
# compiles the grader's bytecode, makes the bundle root-only; and builds the input cache and the
# sandbox's font list and writes the course's grading settings, so no submission pays for them.
# AUTOGRADER_ROOT (default /autograder) is the folder that holds source/ (this bundle) and venv/,
# as for run_autograder; AUTOGRADER_TORCH_INDEX is the extra pip index torch comes from (default
# PyTorch's CPU wheels; empty: none). Run again, it installs nothing that is there already.
set -euo pipefail
die() { echo "setup.sh: error: $*" >&2; exit 1; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/venv"
TORCH_INDEX="${AUTOGRADER_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
[[ -d "$ROOT/source" && "$(cd "$ROOT/source" && pwd -P)" == "$HERE" ]] \
  || die "this bundle is in $HERE, but run_autograder grades with $ROOT/source: unzip it there, or set AUTOGRADER_ROOT to the folder that holds source/"
[[ -f "$HERE/requirements.txt" && -d "$HERE/autograder" ]] \
  || die "no requirements.txt or autograder/ beside setup.sh in $HERE: build the zip with python -m autograder gradescope ASSIGNMENT"

new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
has_venv() { command -v "$1" >/dev/null && "$1" -c 'import ensurepip, venv' >/dev/null 2>&1; }
venv_ready() { [[ -x "$VENV/bin/python" ]] && new_enough "$VENV/bin/python" && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }
has_libseccomp() {  # not grep -q: it would close the pipe early, and pipefail would take ldconfig's SIGPIPE for "no"
  { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep 'libseccomp\.so\.2 ' >/dev/null
}
UPDATED=""
apt_install() {  # the packages named, if any; `apt-get update` once, and only when something is missing
  (($#)) || return 0
  command -v apt-get >/dev/null \
    || die "$* must be installed and there is no apt-get here: use Gradescope's Ubuntu base image (22.04 or later), or install them first"
  local hint=""
  [[ " $* " != *" python3.11 "* ]] || hint=" (python3.11 is in Ubuntu's universe repository: enable it, or use the Ubuntu 24.04 base image)"
  echo "setup.sh: installing $*"
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z "$UPDATED" ]]; then apt-get update -qq || die "apt-get update failed (no network?)"; UPDATED=1; fi
  apt-get install -y -qq "$@" || die "apt-get could not install $*$hint"
}

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
has_libseccomp || need+=(libseccomp2)
command -v setpriv >/dev/null || need+=(util-linux)
PY=python3
if command -v python3 >/dev/null && ! new_enough python3; then PY=python3.11; fi  # Ubuntu 22.04: python3 is 3.10
venv_ready || has_venv "$PY" || need+=("$PY" "$PY-venv")  # python3 python3-venv, or python3.11 python3.11-venv
apt_install "${need[@]}"
if [[ "$PY" == python3 ]] && ! new_enough python3 && ! venv_ready; then  # a bare image's new python3 is too old
  PY=python3.11
  has_venv python3.11 || apt_install python3.11 python3.11-venv
fi
command -v bwrap >/dev/null || die "no bwrap on PATH, though bubblewrap was installed"
command -v setpriv >/dev/null || die "no setpriv on PATH, though util-linux was installed"
has_libseccomp || die "no libseccomp.so.2 (ldconfig -p), though libseccomp2 was installed"

if ! venv_ready; then
  new_enough "$PY" || die "$PY is $("$PY" -V 2>&1 || echo missing): the pinned requirements need Python 3.11 or newer"
  "$PY" -m venv --clear "$VENV" || die "$PY could not make a venv at $VENV (is $PY-venv installed?)"
  venv_ready || die "the venv at $VENV has no working pip"
fi
pip_args=(install -q --disable-pip-version-check -r "$HERE/requirements.txt")
[[ -z "$TORCH_INDEX" ]] || pip_args+=(--extra-index-url "$TORCH_INDEX")
"$VENV/bin/python" -m pip "${pip_args[@]}" || die "pip could not install $HERE/requirements.txt into $VENV (see above)"
cd "$HERE"
"$VENV/bin/python" -m compileall -q autograder assignments >/dev/null  # once, not at every submission
chmod -R go-rwx "$HERE"  # the hidden material and the grader: root-only, out of the student's reach
AUTOGRADER_ROOT="$ROOT" "$VENV/bin/python" -m autograder.pipeline.gradescope_run --prepare "{assignment}" \
  || die "$VENV/bin/python could not load {assignment} and build its input cache and font list (see above)"
echo "setup.sh: ready: $VENV/bin/python ($("$VENV/bin/python" -V 2>&1)) grades {assignment}"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission: grades the notebook in $ROOT/submission/ and writes
# $ROOT/results/results.json, with the python of the venv setup.sh made. AUTOGRADER_ROOT (default
# /autograder) and AUTOGRADER_PYTHON (default $ROOT/venv/bin/python) let it run anywhere, e.g. in a test.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
if ! command -v "$PYTHON" >/dev/null; then
  echo "run_autograder: error: no python at $PYTHON: run $ROOT/source/setup.sh first (it makes $ROOT/venv), or set AUTOGRADER_PYTHON" >&2
  exit 1
fi
if [[ -d "$ROOT/venv/bin" ]]; then export PATH="$ROOT/venv/bin:$PATH"; fi
chmod -R go-rwx "$ROOT/source"  # root-only, again: the student's code may run as another user
mkdir -p "$ROOT/results" && chmod 700 "$ROOT/results"
cd "$ROOT/source"
exec "$PYTHON" -m autograder.pipeline.gradescope_run "{assignment}"
"""
ASSIGNMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # it goes into both scripts, quoted


def script(template: str, assignment: str) -> bytes:
    """``SETUP_SH`` or ``RUN_AUTOGRADER`` for ``assignment``."""
    return template.replace("{assignment}", assignment).encode()


def _files(folder: Path) -> list[Path]:
    """Regular files under ``folder``; caches, checkpoints and links are left out."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.suffix != ".pyc"
                  and not SKIPPED & set(p.relative_to(folder).parts))


def bundle_members(course: CourseRoot, assignment: str) -> dict[str, Path]:
    """Zip name -> file on disk, for everything but the two generated scripts."""
    if not ASSIGNMENT_NAME.fullmatch(assignment):
        raise AuthoringError(f"{assignment!r} is not an assignment name (letters, digits, _ . -)")
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
        _write(archive, "setup.sh", script(SETUP_SH, assignment), 0o755)
        _write(archive, "run_autograder", script(RUN_AUTOGRADER, assignment), 0o755)
        for name, path in sorted(members.items()):
            _write(archive, name, path.read_bytes(), 0o644)
    return dest
