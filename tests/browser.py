"""Render a local HTML file in headless Chromium: a screenshot and the DOM after parsing."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from matplotlib.image import imread

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_REASON = ("headless Chromium is not installed (Debian: apt-get install -y chromium); "
               "CI installs it")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1200,2400")


def _run(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra,
                           page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)


def screenshot(page: Path, tmp: Path) -> np.ndarray:
    """RGB(A) floats in [0, 1] of the page at 1200x2400."""
    png = tmp / (page.stem + ".png")
    _run(page, tmp / "profile-shot", f"--screenshot={png}")
    return imread(png)


def dump_dom(page: Path, tmp: Path) -> str:
    return _run(page, tmp / "profile-dom", "--dump-dom").stdout


def non_white_fraction(pixels: np.ndarray) -> float:
    return float((pixels[..., :3].min(axis=-1) < 0.95).mean())
