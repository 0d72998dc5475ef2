"""matplotlib's font list for the sandbox template, built once per machine instead of at each start.

On its first import matplotlib scans the system's fonts and saves the list in its config folder.
The template's home is a new tmpfs every time, so every cold start paid for that scan (about
0.35 s, on the critical path of one notebook graded by a cold process). ``build`` runs the scan
once in a jail of its own with the template's mounts, so the paths in the list are the ones the
template sees, and with only our code in it. It keeps the list in the cache folder. ``mount``
then gives each template the list read-only in its matplotlib folder. matplotlib checks the
list's version itself, and rescans if a font in it has gone.

    python -m autograder.sandbox.font_cache     # in setup.sh; the Gradescope bundle's runs build_for_setup
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.cache_dir import cache_dir
from autograder.sandbox.bwrap import NAMESPACES, BwrapSandbox, SandboxUnavailable, jail_command
from autograder.sandbox.limits import MiB
from autograder.sandbox.mounts import HOME, Mounts

MATPLOTLIB_DIR = f"{HOME}/.matplotlib"  # the jail's MPLCONFIGDIR (``launch.server_environment``)
BUILD_SECONDS = 120


def folder() -> Path:
    """One list per interpreter and venv: the jail's paths to matplotlib's own fonts follow them."""
    key = hashlib.sha256(f"{sys.base_prefix}\0{sys.prefix}".encode()).hexdigest()[:16]
    return cache_dir() / "matplotlib-fonts" / key


def saved() -> Path | None:
    return next(iter(sorted(folder().glob("fontlist-*.json"))), None)


def mount(mounts: Mounts) -> None:
    """Bind the saved list, if any, into a jail whose home is already a tmpfs."""
    listing = saved()
    if listing is not None:
        mounts.args += ["--perms", "0755", "--dir", MATPLOTLIB_DIR,
                        "--ro-bind", str(listing), f"{MATPLOTLIB_DIR}/{listing.name}"]


def build() -> Path:
    """The saved list, scanning the fonts in a jail first if there is none. Raises
    ``SandboxUnavailable`` without bubblewrap, ``RuntimeError`` if the scan fails."""
    BwrapSandbox.check_available()
    if (listing := saved()) is not None:
        return listing
    target = folder()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        mounts = Mounts()
        mounts.system()
        python = mounts.python()
        mounts.scratch(None, 16 * MiB)
        mounts.args += ["--bind", scratch, MATPLOTLIB_DIR]
        done = subprocess.run(
            jail_command([*NAMESPACES, "--die-with-parent"], mounts.args,
                         [python, "-s", "-P", "-c", "import matplotlib.font_manager"]),
            capture_output=True, text=True, timeout=BUILD_SECONDS, check=False)
        made = sorted(Path(scratch).glob("fontlist-*.json"))
        if done.returncode != 0 or not made:
            raise RuntimeError(f"matplotlib's font scan in the sandbox failed: {done.stderr.strip()[-500:]}")
        os.replace(made[0], target / made[0].name)  # atomic: builders racing each other write whole files
    return target / made[0].name


def build_for_setup() -> str | None:
    """``build`` in a set-up script: None, or why not. A template without the list still works;
    it only scans the fonts itself."""
    try:
        build()
    except (SandboxUnavailable, RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None


if __name__ == "__main__":
    if (reason := build_for_setup()) is not None:
        print(f"note: matplotlib's font list for the sandbox was not built ({reason}): "
              "each sandbox template scans the fonts itself (about 0.3 s)", file=sys.stderr)
