"""Where the grader keeps what it builds once per machine (input caches, the sandbox's font list).

``$AUTOGRADER_CACHE_DIR``, else ``$XDG_CACHE_HOME/autograder``, else ``~/.cache/autograder``:
never the course root or the working directory, whose contents students may shape.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    if os.environ.get("AUTOGRADER_CACHE_DIR"):
        return Path(os.environ["AUTOGRADER_CACHE_DIR"]).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # a relative XDG path is invalid
    return base / "autograder"
