"""Reference outputs remembered by their inputs, so a class's references are computed once.

A reference decorated with ``Remembered`` (and its gradients, via ``checks.reference_grads``)
first looks its arguments up by ``digest`` in a process-wide table that ``input_cache`` fills
from disk; a miss is computed as before and not kept, so the table stays the size of the cache
however many failing inputs shrinking tries. Values are cloned on the way out: no caller can
change what the next submission is compared with.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
from typing import Callable, Iterator, Sequence, Union

import numpy as np
import torch

Value = Union[torch.Tensor, tuple[torch.Tensor, ...]]
Key = tuple[str, bytes]  # (reference name, digest of its arguments)

_TABLE: dict[Key, Value] = {}
_RECORDERS: list[dict[Key, Value]] = []


def digest(tensors: Sequence[torch.Tensor]) -> bytes:
    """Dtype, shape and bytes of every tensor: equal digests, equal arguments."""
    hasher = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        known = _FIXED.get(id(tensor))
        hasher.update(known[2] if known is not None and known[0] is tensor and known[1] == tensor._version
                      else _described(tensor))
    return hasher.digest()


def _described(tensor: torch.Tensor) -> bytes:
    return described((tensor.detach() if tensor.requires_grad else tensor).numpy())


def described(array: np.ndarray) -> bytes:
    """Dtype, shape and bytes of an array, as a digest takes them."""
    return f"{array.dtype.str}{array.shape};".encode() + np.ascontiguousarray(array).tobytes()


_FIXED: dict[int, tuple[torch.Tensor, int, bytes]] = {}


def fix(tensors: Sequence[torch.Tensor]) -> None:
    """Describe these tensors once: the class's cached inputs, digested thousands of times a
    submission. Each is kept alive with its in-place version, so a changed one is described anew."""
    for tensor in tensors:
        _FIXED[id(tensor)] = (tensor, tensor._version, _described(tensor))


def storable(value: object) -> bool:
    """Only plain tensors and flat tuples of them are remembered (and written to disk)."""
    items = value if isinstance(value, tuple) else (value,)
    return all(isinstance(v, torch.Tensor) and not v.requires_grad for v in items)


def _clone(value: Value) -> Value:
    return tuple(v.clone() for v in value) if isinstance(value, tuple) else value.clone()


def recall(name: str, args: Sequence[torch.Tensor], compute: Callable[[], Value]) -> Value:
    """``compute()``, or the remembered value of ``name`` on these arguments."""
    key = (name, digest(args))
    value = _TABLE.get(key)
    if value is None:
        value = compute()
        if not storable(value):
            return value
    for recorder in _RECORDERS:
        recorder[key] = value
    return _clone(value)


def learn(entries: dict[Key, Value]) -> None:
    _TABLE.update(entries)


@contextlib.contextmanager
def recording() -> Iterator[dict[Key, Value]]:
    """Collect every value recalled inside the block (computed or remembered), for the cache."""
    seen: dict[Key, Value] = {}
    _RECORDERS.append(seen)
    try:
        yield seen
    finally:
        _RECORDERS.remove(seen)


class Remembered:
    """A reference function whose outputs are looked up before they are computed; calls with
    arguments that require grad (``reference_grads`` builds a graph through it) always compute."""

    def __init__(self, function: Callable[..., Value]) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.name = f"{function.__module__}.{function.__qualname__}"

    def __call__(self, *args: torch.Tensor) -> Value:
        if not all(isinstance(a, torch.Tensor) and not a.requires_grad for a in args):
            return self.function(*args)
        return recall(self.name, args, lambda: self.function(*args))
