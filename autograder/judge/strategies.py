"""Small composable Hypothesis strategies that draw the tensors the properties feed students.

Each function returns a lazy strategy built from ``hypothesis.extra.numpy`` and turned into
``torch.Tensor`` at the end, so they combine with ``flatmap``/``tuples`` like Hypothesis's own.
No NaN or infinity is ever drawn (the contract is about finite inputs), nor subnormals (whose
rounding differs between float32 and the float64 references for no lesson-relevant reason).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DTYPES = (torch.float32, torch.float64)
MAGNITUDES = (1e-6, 1e-3, 1.0, 1e2, 1e4)  # tiny to large, as students' data may be
_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}
_WIDTH = {torch.float32: 32, torch.float64: 64}


def dtypes(choices: Sequence[torch.dtype] = DTYPES) -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from(tuple(choices))


def shapes(*, min_dims: int = 0, max_dims: int = 4, max_side: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    """Scalars (0-d) up to ``max_dims``-d arrays; never empty, since the mean of nothing is NaN."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def _tensors(shape: tuple[int, ...], dtype: torch.dtype, elements: st.SearchStrategy[float]) -> st.SearchStrategy[torch.Tensor]:
    return hnp.arrays(_NUMPY[dtype], shape, elements=elements).map(torch.from_numpy)


def _floats(dtype: torch.dtype, low: float, high: float, *, open_interval: bool = False) -> st.SearchStrategy[float]:
    low, high = (float(_NUMPY[dtype](bound)) for bound in (low, high))  # representable in the dtype
    return st.floats(low, high, width=_WIDTH[dtype], allow_nan=False, allow_infinity=False, allow_subnormal=False,
                     exclude_min=open_interval, exclude_max=open_interval)


def float_tensors(shape: tuple[int, ...], dtype: torch.dtype = torch.float32,
                  magnitude: float = 1.0) -> st.SearchStrategy[torch.Tensor]:
    """Finite values in [-magnitude, magnitude]."""
    return _tensors(shape, dtype, _floats(dtype, -magnitude, magnitude))


def pairs_like(*, shape: st.SearchStrategy[tuple[int, ...]] | None = None,
               dtype: st.SearchStrategy[torch.dtype] | None = None,
               magnitudes: Sequence[float] = MAGNITUDES) -> st.SearchStrategy[tuple[torch.Tensor, torch.Tensor]]:
    """Two tensors of one shape, dtype and magnitude: a prediction and its target."""

    def pair(spec: tuple) -> st.SearchStrategy[tuple[torch.Tensor, torch.Tensor]]:
        size, kind, magnitude = spec
        return st.tuples(float_tensors(size, kind, magnitude), float_tensors(size, kind, magnitude))

    spec = st.tuples(shape or shapes(), dtype or dtypes(), st.sampled_from(tuple(magnitudes)))
    return spec.flatmap(pair)


def _unit_interval(dtype: torch.dtype, include_edges: bool, margin: float) -> st.SearchStrategy[float]:
    if include_edges:
        return st.one_of(st.sampled_from((0.0, 1.0)), _floats(dtype, 0.0, 1.0))
    return _floats(dtype, margin, 1.0 - margin, open_interval=True)


def probabilities(shape: tuple[int, ...], dtype: torch.dtype = torch.float32, *, include_edges: bool = True,
                  margin: float = 0.0) -> st.SearchStrategy[torch.Tensor]:
    """Values in [0, 1] (exact 0 and 1 drawn often), or in [margin, 1 - margin] strictly inside."""
    return _tensors(shape, dtype, _unit_interval(dtype, include_edges, margin))


def edge_probabilities(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> st.SearchStrategy[torch.Tensor]:
    """Only exact 0s and 1s: where a hand-written log must be clamped at -100."""
    return _tensors(shape, dtype, st.sampled_from((0.0, 1.0)))


def targets(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> st.SearchStrategy[torch.Tensor]:
    """Targets in [0, 1]: mostly hard labels 0/1, sometimes soft ones."""
    return _tensors(shape, dtype, _unit_interval(dtype, True, 0.0))


def probability_pairs(*, edges_only: bool = False, include_edges: bool = True, margin: float = 0.0,
                      shape: st.SearchStrategy[tuple[int, ...]] | None = None,
                      dtype: st.SearchStrategy[torch.dtype] | None = None) -> st.SearchStrategy[tuple[torch.Tensor, torch.Tensor]]:
    """(p, y) of one shape and dtype, for binary cross-entropy."""

    def pair(spec: tuple) -> st.SearchStrategy[tuple[torch.Tensor, torch.Tensor]]:
        size, kind = spec
        p = edge_probabilities(size, kind) if edges_only else probabilities(size, kind, include_edges=include_edges, margin=margin)
        return st.tuples(p, targets(size, kind))

    return st.tuples(shape or shapes(), dtype or dtypes()).flatmap(pair)


def vectors(dtype: torch.dtype, *, max_len: int = 8, magnitude: float = 1.0) -> st.SearchStrategy[torch.Tensor]:
    """1-D tensors of length 1..max_len, for the sweeps."""
    return st.integers(1, max_len).flatmap(lambda n: float_tensors((n,), dtype, magnitude))
