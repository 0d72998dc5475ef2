"""sandbox_factory: a fresh sandbox per call, and a missing bwrap refused before any grading."""
from __future__ import annotations

import os
import shutil

import pytest

from autograder.sandbox import bwrap, factory
from autograder.sandbox.bwrap import BwrapSandbox, SandboxUnavailable
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.limits import Limits
from autograder.sandbox.local import LocalSandbox
from autograder.sandbox.template import ForkedSandbox


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
def test_isolate_starts_a_fresh_jail_each_call_forked_from_the_template_as_root() -> None:
    make = sandbox_factory(Limits(), None)
    with make() as first, make() as second:
        jail = ForkedSandbox if os.geteuid() == 0 else BwrapSandbox
        assert isinstance(first, jail) and isinstance(second, jail) and first is not second
        assert first.uid != second.uid or os.geteuid() != 0


@pytest.mark.slow
@pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here")
def test_without_a_template_the_jail_is_a_bwrap_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "shared_template", lambda: None)
    with sandbox_factory(Limits(), None)() as box:
        assert isinstance(box, BwrapSandbox)


def test_a_missing_bwrap_fails_up_front_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    bwrap._unavailable_reason.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match=r"apt-get install -y bubblewrap.*--no-sandbox"):
            sandbox_factory(Limits(), None, isolate=True)
        assert callable(sandbox_factory(Limits(), None, isolate=False))  # --no-sandbox needs no bwrap
    finally:
        bwrap._unavailable_reason.cache_clear()
