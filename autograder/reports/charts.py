"""Charts for the staff report, as PNG bytes that are identical run to run.

Figures are built with the object API on the Agg canvas (no pyplot global state, no display),
at a fixed size and dpi, and saved without the "Software" metadata so the bytes depend only on
the data.
"""
from __future__ import annotations

import io
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SIZE = (6.4, 3.2)
DPI = 100
BAR = "#3b6ea8"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def score_histogram(scores: Sequence[float], max_score: float) -> bytes:
    """Distribution of total autograded scores, one bin per point, 0..max_score."""
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    top = max(max_score, max(scores, default=0.0), 1.0)
    bins = [float(b) for b in range(int(top) + 2)]
    ax.hist(list(scores), bins=bins, color=BAR, edgecolor="white")
    ax.set_xlim(0, bins[-1])
    ax.set_xlabel(f"autograded score (out of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.set_title(f"Score distribution ({len(scores)} graded submissions)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def pass_rate_bars(labels: Sequence[str], rates: Sequence[float]) -> bytes:
    """Share of submissions with full marks on each part, one horizontal bar per part."""
    height = max(SIZE[1], 0.32 * len(labels) + 1.0)
    fig = Figure(figsize=(SIZE[0], height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(labels)))
    ax.barh(positions, [100.0 * r for r in rates], color=BAR)
    ax.set_yticks(positions, labels=list(labels))
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("submissions with full marks (%)")
    ax.set_title("Pass rate per part")
    for y, r in zip(positions, rates):
        ax.text(min(100.0 * r + 1, 92), y, f"{100 * r:.0f}%", va="center", fontsize=8)
    return _png(fig)
