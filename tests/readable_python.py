"""Run a command where another uid can reach this Python, for the tests of the unprivileged-user sandbox.

A pyenv under root's 0700 home (as on this machine) is out of reach of any other uid, while
Gradescope's system Python is not. In a private mount namespace (the test runs as root), the
folder that blocks the way is overlaid with a traversable one holding only the path to Python;
nothing changes outside the command.
"""
from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path


def reachable(command: list[str]) -> list[str]:
    base = Path(os.path.realpath(sys.base_prefix))
    for parent in reversed(base.parents):
        if not parent.stat().st_mode & 0o001:
            child, overlay = base.relative_to(parent).parts[0], tempfile.mkdtemp()
            script = (f"chmod 711 {overlay} && mkdir {overlay}/{child} && "
                      f"mount --bind {shlex.quote(str(parent / child))} {overlay}/{child} && "
                      f"mount --rbind {overlay} {shlex.quote(str(parent))} && exec \"$@\"")
            return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *command]
    return command
