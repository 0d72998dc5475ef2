"""The feedback's "expected vs yours" pictures, drawn once per distinct picture in a process.

Drawing and PNG-encoding a picture costs about 20 ms, paid for every submission whose plot or
sweep is off, and a class's wrong curves are few: the sweep is the lesson's, so one typical
mistake draws the same lines for every student who makes it. The picture is a function of its
labels, arrays and title (fixed size, no metadata), so it is remembered by a digest of them, in a
bounded table: the bytes are the same as drawing it again.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from collections import OrderedDict
from typing import Protocol, Sequence

import numpy as np

from autograder.judge.memo import described

KEPT = 256  # pictures of 10-40 kB: at most a few MB per worker


class Drawn(Protocol):
    label: str
    x: np.ndarray
    y: np.ndarray


_drawn: OrderedDict[bytes, bytes] = OrderedDict()


def comparison_png(curves: Sequence[Drawn], lines: Sequence[Drawn], limit: int = 5, title: str = "") -> bytes:
    """Expected (``curves``) vs drawn (``lines``) on one axes."""
    key = _key(curves, lines, limit, title)
    if key in _drawn:
        _drawn.move_to_end(key)
        return _drawn[key]
    png = _draw(curves, lines, limit, title)
    _drawn[key] = png
    if len(_drawn) > KEPT:
        _drawn.popitem(last=False)
    return png


def _key(curves: Sequence[Drawn], lines: Sequence[Drawn], limit: int, title: str) -> bytes:
    hasher = hashlib.blake2b(f"{limit};{len(title)}:{title};{len(curves)}".encode(), digest_size=16)
    for item in (*curves, *lines):
        hasher.update(f"{len(item.label)}:{item.label}".encode())
        hasher.update(described(item.x) + described(item.y))
    return hasher.digest()


def _draw(curves: Sequence[Drawn], lines: Sequence[Drawn], limit: int, title: str) -> bytes:
    """Fixed size and no metadata, so the bytes are reproducible."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=80)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for i, curve in enumerate(curves):  # expected: thick dashed; yours: thin solid, same colour when paired
        ax.plot(curve.x, curve.y, "--", color=f"C{i}", linewidth=3, alpha=0.6, label=f"expected: {curve.label}")
    paired = len(lines) == len(curves)
    for i, line in enumerate(lines[:limit]):
        ax.plot(line.x, line.y, color=f"C{i if paired else len(curves) + i}", linewidth=1.2,
                label="yours" if line.label.startswith("_") else f"yours: {line.label}"[:40])
    ax.set_title(title or f"{curves[0].label}: expected vs your plot")
    ax.legend()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
