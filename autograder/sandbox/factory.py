"""Which sandbox grades a submission: the jail, or (``--no-sandbox``) a plain child process.

The grader asks for a *factory*, not a sandbox: a fault closes a sandbox for good, so the
grader starts a fresh one whenever it needs to, always with the same files and limits. The
jail is forked from this grader process's template (milliseconds) where the template runs,
and is a ``BwrapSandbox`` of its own (a new Python, seconds) where it cannot. The check that
bubblewrap works is made here, once, so a machine without it fails with the install hint
before the first submission is touched, not halfway through a class.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from autograder.sandbox.base import Sandbox
from autograder.sandbox.bwrap import BwrapSandbox
from autograder.sandbox.limits import Limits
from autograder.sandbox.local import LocalSandbox
from autograder.sandbox.template import ForkedSandbox, shared_template, start_shared


def sandbox_factory(limits: Limits, files: Path | None, isolate: bool = True) -> Callable[[], Sandbox]:
    """A zero-argument callable starting a new sandbox on ``files`` each time it is called.

    ``isolate=False`` is ``--no-sandbox``: student code runs in a child process without the
    jail (see ``autograder.sandbox.local``). Raises ``SandboxUnavailable`` when ``isolate`` is
    set and bubblewrap cannot run here; its message says what to install or enable.
    """
    if isolate:
        BwrapSandbox.check_available()
        return functools.partial(_jail, files, limits)
    return functools.partial(LocalSandbox, files, limits)


def start_early(isolate: bool = True) -> None:
    """Start this process's template now, without waiting, where the jail will fork from one:
    its imports (seconds) then overlap the grader's own, which matters to one notebook graded
    by a cold process (``grade-notebook``, Gradescope)."""
    if isolate and BwrapSandbox.available():
        start_shared()


def _jail(files: Path | None, limits: Limits) -> Sandbox:
    """Forked from the template, started (or restarted) on first need; a BwrapSandbox without one."""
    template = shared_template()
    return ForkedSandbox(files, limits, template) if template is not None else BwrapSandbox(files, limits)
