"""UserSandbox for real: the student's process runs as a uid of its own and cannot read root's 0600 files."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from course_copy import REPO
from readable_python import reachable

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop needs root")]

CHECK = """
import json, os, resource, sys, tempfile
from pathlib import Path
from autograder.sandbox.user import UserSandbox
shared = Path(tempfile.mkdtemp()); shared.chmod(0o755)
(shared / "secret").write_text("hidden"); (shared / "secret").chmod(0o600)
(shared / "public").write_text("open"); (shared / "public").chmod(0o644)
files = Path(tempfile.mkdtemp()); (files / "data.txt").write_text("mine")
with UserSandbox(files) as box:
    runs = [box.run_cell(code) for code in (
        "import os, resource\\nprint(os.getuid(), os.getgroups(), resource.getrlimit(resource.RLIMIT_NPROC)[0])",
        "print(open('data.txt').read(), open(%r).read())" % str(shared / "public"),
        "open(%r).read()" % str(shared / "secret"),
        "open(%r).read()" % str(Path(sys.argv[1]) / "autograder" / "__init__.py"),
        "import torch\\nprint(torch.ones(3).sum().item())")]
    home = box.home
print(json.dumps({"out": [r.stdout for r in runs], "err": [r.error and r.error.splitlines()[-1] for r in runs],
                  "home_left": home.exists()}))
"""


def test_the_student_runs_as_its_own_uid_and_cannot_read_root_only_files(tmp_path):
    grader = tmp_path / "grader"  # a root-only copy of the grader's package, as run_autograder leaves it
    (grader / "autograder").mkdir(parents=True)
    (grader / "autograder" / "__init__.py").write_text("SECRET = 1\n")
    grader.chmod(0o755)
    (grader / "autograder").chmod(0o700)
    done = subprocess.run(reachable([sys.executable, "-c", CHECK, str(grader)]), capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    uid, groups, nproc = result["out"][0].split(" ", 1)[0], result["out"][0].split()[1], result["out"][0].split()[-1]
    assert int(uid) >= 1_000_000_000 and groups == "[]" and nproc == "64"
    assert result["out"][1] == "mine open\n" and result["err"][1] is None
    assert result["err"][2].startswith("PermissionError") and "secret" in result["err"][2]
    assert result["err"][3].startswith("PermissionError")
    assert result["out"][4] == "3.0\n"
    assert not result["home_left"]
