"""Benchmark: one notebook graded by a cold process, as Gradescope grades every submission.

Two paths, each a new process per notebook: ``python -m autograder grade-notebook PATH`` and
the Gradescope bundle's ``run_autograder`` (the zip this version builds, unpacked, prepared as
its ``setup.sh`` does, run with this venv's python). Notebooks: an honest one
(the demo's ``ada``) and a few typical mistakes. With ``--baseline REF`` the same runs are made
on a ``git worktree`` of REF, interleaved with this tree's, so the ratio is honest on a shared,
noisy machine; the results JSON of both must be byte-identical. Each version is installed as its
own ``setup.sh`` would (its bytecode compiled, if that script compiles it) and its input cache is
built by a warm-up run before timing (it is built at install or ``setup.sh`` time). Memory is
the peak summed PSS of the process tree (grader, template, sandboxes), sampled at 10 Hz.

    .venv/bin/python bench/cold_start.py [--reps 5] [--baseline HEAD~3] [--no-gradescope]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.demo import student_notebook  # noqa: E402
from autograder.demo_class import CLASS  # noqa: E402
from bench.grading import sampled  # noqa: E402

HONEST, MISTAKEN = ("ada",), ("dev", "fay", "jo")
PYTHON = ROOT / ".venv" / "bin" / "python"


def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, bytes]:
    """Wall seconds, peak summed PSS and stdout of ``command``."""
    elapsed, samples, out = sampled(command, cwd, env)
    return elapsed, max(samples, default=0), out


class Version:
    """One checkout of the grader and the two ways of grading a notebook with it."""

    def __init__(self, name: str, tree: Path, work: Path) -> None:
        self.name, self.tree = name, tree
        self.env = {**os.environ, "PYTHONPATH": str(tree)}
        self.gradescope = work / f"gradescope-{name}"

    def install(self, folder: Path) -> None:
        """What this version's setup.sh does beside pip: compile the grader's bytecode and build the
        sandbox's font list, if it does."""
        for script in (folder / "setup.sh", self.tree / "setup.sh"):
            if script.is_file():
                steps = script.read_text()
                if "compileall" in steps:
                    run([str(PYTHON), "-m", "compileall", "-q", "autograder", "assignments"], folder, self.env)
                if "font_cache" in steps:
                    run([str(PYTHON), "-m", "autograder.sandbox.font_cache"], folder, self.env)
                return

    def grade_notebook(self, notebook: Path) -> tuple[float, int, bytes]:
        return run([str(PYTHON), "-m", "autograder", "grade-notebook", str(notebook)], self.tree, self.env)

    def make_bundle(self) -> None:
        """The zip as ``gradescope`` builds it, unpacked at ``source/``, prepared as ``setup.sh`` does."""
        bundle = self.gradescope / "bundle.zip"
        self.gradescope.mkdir(parents=True)
        run([str(PYTHON), "-m", "autograder", "gradescope", "loss_functions", "--out", str(bundle)],
            self.tree, self.env)
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(self.gradescope / "source")
        (self.gradescope / "source" / "run_autograder").chmod(0o755)
        self.install(self.gradescope / "source")
        env = {**self.env, "AUTOGRADER_ROOT": str(self.gradescope), "PYTHONPATH": str(self.gradescope / "source")}
        run([str(PYTHON), "-m", "autograder.pipeline.gradescope_run", "--prepare", "loss_functions"],
            self.gradescope / "source", env)

    def run_autograder(self, notebook: Path) -> tuple[float, int, bytes]:
        submission = self.gradescope / "submission"
        shutil.rmtree(submission, ignore_errors=True)
        submission.mkdir()
        shutil.copy(notebook, submission / "loss_functions.ipynb")
        env = {**self.env, "AUTOGRADER_ROOT": str(self.gradescope), "AUTOGRADER_PYTHON": str(PYTHON)}
        env.pop("PYTHONPATH")
        elapsed, peak, _ = run([str(self.gradescope / "source" / "run_autograder")], self.gradescope, env)
        return elapsed, peak, (self.gradescope / "results" / "results.json").read_bytes()


def notebooks(where: Path) -> dict[str, Path]:
    released = nbformat.read(ROOT / "release/loss_functions/loss_functions.ipynb", as_version=4)
    paths = {}
    for student in CLASS:
        if student.id in HONEST + MISTAKEN:
            paths[student.id] = where / f"{student.id}.ipynb"
            paths[student.id].write_text(student_notebook(student, released))
    return paths


def line(name: str, samples: list[tuple[float, int]]) -> str:
    seconds = sorted(s for s, _ in samples)
    p90 = seconds[min(len(seconds) - 1, round(0.9 * (len(seconds) - 1)))]
    return (f"  {name:<34} median {statistics.median(seconds):5.2f} s  p90 {p90:5.2f} s  "
            f"peak {max(m for _, m in samples) / 2**20:5.0f} MiB  (n={len(seconds)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="runs per notebook, path and version")
    parser.add_argument("--baseline", default=None, metavar="REF", help="a git commit to compare with")
    parser.add_argument("--no-gradescope", action="store_true", help="time grade-notebook only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    versions = [Version("this tree", ROOT, work)]
    if args.baseline:
        subprocess.run(["git", "worktree", "add", "--detach", str(work / "baseline"), args.baseline],
                       cwd=ROOT, check=True, capture_output=True)
        versions.insert(0, Version(f"baseline {args.baseline}", work / "baseline", work))
    try:
        paths = notebooks(work)
        ways = ["grade_notebook"] + ([] if args.no_gradescope else ["run_autograder"])
        if not args.no_gradescope:
            for version in versions:
                version.make_bundle()
        results: dict[tuple[str, str, str], list[tuple[float, int]]] = {}
        outputs: dict[tuple[str, str], set[bytes]] = {}
        for version in versions:  # warm-up: each version's input cache, as install or setup.sh builds it
            version.install(version.tree)
            version.grade_notebook(paths[HONEST[0]])
        for rep in range(args.reps):
            for student, path in paths.items():
                for way in ways:
                    for version in versions:
                        elapsed, peak, out = getattr(version, way)(path)
                        results.setdefault((version.name, way, student), []).append((elapsed, peak))
                        outputs.setdefault((way, student), set()).add(out)
            print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr)
        for way in ways:
            print(f"{way}:")
            for version in versions:
                for kind, students in (("honest", HONEST), ("mistaken", MISTAKEN)):
                    samples = [s for student in students for s in results[(version.name, way, student)]]
                    print(line(f"{version.name}, {kind}", samples))
        differing = sorted(f"{way} {student}" for (way, student), seen in outputs.items() if len(seen) > 1)
        print("outputs byte-identical across versions and runs" if not differing
              else f"OUTPUTS DIFFER: {', '.join(differing)}")
        print(json.dumps({f"{v} {w} {s}": [round(x, 2) for x, _ in r] for (v, w, s), r in results.items()}))
    finally:
        if args.baseline:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "baseline")], cwd=ROOT, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
