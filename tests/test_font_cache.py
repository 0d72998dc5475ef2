"""matplotlib's font list, scanned once in a jail and handed to every sandbox template read-only.

Real bubblewrap: the list is built in a jail and read in a jail with the template's own mounts,
and matplotlib says whether it had to scan the fonts again.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from autograder.sandbox import font_cache
from autograder.sandbox.bwrap import NAMESPACES, BwrapSandbox, jail_command
from autograder.sandbox.template import template_mounts

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BwrapSandbox.available() or os.geteuid() != 0,
                       reason="the sandbox template needs bubblewrap and root"),
]
SCANNED = "generated new fontManager"  # matplotlib's log line when it scans the fonts
IMPORT = ("import logging; logging.basicConfig(level=logging.INFO); "
          "import matplotlib.font_manager as fm; print(fm.findfont('DejaVu Sans'))")


def in_template_jail() -> subprocess.CompletedProcess:
    """matplotlib's first import in a jail with the template's mounts, as the template makes it."""
    mounts, python = template_mounts()
    return subprocess.run(jail_command([*NAMESPACES, "--die-with-parent"], mounts.args, [python, "-s", "-P", "-c", IMPORT]),
                          capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AUTOGRADER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_template_without_the_list_scans_the_fonts(cache):
    assert font_cache.saved() is None
    assert SCANNED in in_template_jail().stderr


def test_a_template_with_the_list_does_not_scan_again_and_finds_its_fonts(cache):
    listing = font_cache.build()
    assert listing.parent.is_relative_to(cache) and listing.name.startswith("fontlist-v")
    before = listing.read_bytes()
    saved = json.loads(before)
    system_fonts = [entry["fname"] for entry in saved["ttflist"] if os.path.isabs(entry["fname"])]
    assert all(Path(name).is_file() for name in system_fonts)  # the jail's /usr is the host's
    done = in_template_jail()
    assert SCANNED not in done.stderr
    assert done.stdout.strip().endswith("DejaVuSans.ttf")  # matplotlib's own font, at the jail's venv path
    assert listing.read_bytes() == before  # read-only in the jail


def test_building_again_keeps_the_saved_list(cache):
    first = font_cache.build()
    stamp = first.stat().st_mtime_ns
    assert font_cache.build() == first and first.stat().st_mtime_ns == stamp
    assert font_cache.build_for_setup() is None
