"""Ending a process that graded one notebook, without the interpreter's teardown of torch.

A cold ``grade-notebook`` or Gradescope ``run_autograder`` is over once its result is written,
but Python's finalisation then unloads torch's thousands of objects and modules: about 0.4 s
of the student's wait that writes nothing. A command that ends such a process calls ``mark()``;
the process's entry point then calls ``finish(code)``, which runs the exit handlers (the sandbox
template's close, temporary folders, logging), flushes the standard streams and leaves with
``os._exit``. Calling a command in-process (the tests, a notebook) is unaffected.
``collector_paused`` is the other start-up cost such a process need not pay.
"""
from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from typing import Iterator, NoReturn

_marked = False


def mark() -> None:
    """This process has nothing left to do once its command returns."""
    global _marked
    _marked = True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Around the grader's imports (torch's above all): they make many objects and little
    garbage, and the collector's passes over them cost about 0.1 s of a cold start."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def finish(code: int) -> NoReturn:
    """``sys.exit(code)``, or the quick exit above if a command asked for it."""
    if not _marked:
        sys.exit(code)
    atexit._run_exitfuncs()  # what sys.exit would run; only the module teardown after it is skipped
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)
