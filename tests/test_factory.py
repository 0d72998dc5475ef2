"""sandbox_factory: a fresh sandbox per call, and a missing bwrap refused before any grading."""
from __future__ import annotations

import shutil

import pytest

from autograder.sandbox import bwrap
from autograder.sandbox.bwrap import BwrapSandbox, SandboxUnavailable
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.limits import Limits
from autograder.sandbox.local import LocalSandbox


@pytest.mark.slow
def test_no_sandbox_starts_a_fresh_local_process_each_call(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    make = sandbox_factory(Limits(), tmp_path, isolate=False)
    with make() as first, make() as second:
        assert isinstance(first, LocalSandbox) and first is not second
        assert first.run_cell("print(open('notes.txt').read())").stdout == "hello\n"
        first.run_cell("x = 1")
        assert "NameError" in (second.run_cell("x").error or "")


@pytest.mark.slow
@pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here")
def test_isolate_starts_a_fresh_bwrap_sandbox_each_call() -> None:
    make = sandbox_factory(Limits(), None)
    with make() as first, make() as second:
        assert isinstance(first, BwrapSandbox) and isinstance(second, BwrapSandbox) and first is not second


def test_a_missing_bwrap_fails_up_front_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    bwrap._unavailable_reason.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match=r"apt-get install -y bubblewrap.*--no-sandbox"):
            sandbox_factory(Limits(), None, isolate=True)
        assert callable(sandbox_factory(Limits(), None, isolate=False))  # --no-sandbox needs no bwrap
    finally:
        bwrap._unavailable_reason.cache_clear()
