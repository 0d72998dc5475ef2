"""The inputs every submission is asked, computed once per class and kept on disk.

The hidden properties are derandomized searches, and a search whose test body passes draws the
same sequence whatever that body does: the seed is a digest of ``run_property``'s own search
function, and only a failure (or ``assume``/``target``, which checks never call) changes what
is drawn next. So running ``run_property`` once with a check that records its arguments and
passes yields, for every property, exactly the inputs a fully passing submission is asked. Those
inputs, and the reference outputs the checks compute on them (found by running each check once
against the reference itself as the model answer), are what ``batched`` judges submissions on.

On disk: one ``.npz`` per key, read with ``allow_pickle=False``, holding a JSON index, one blob
of tensor bytes and a SHA-256 over both. The key covers everything that changes the draws or
the references: Hypothesis, torch, NumPy and Python versions, the machine, ``max_examples`` and
the source of the assignment's modules and of the judge modules below. Written atomically (temp
file, then rename), so workers building at once cannot corrupt it; a file that does not load
and validate is rebuilt, never trusted. Location: ``$AUTOGRADER_CACHE_DIR``, else
``$XDG_CACHE_HOME/autograder``, else ``~/.cache/autograder``: never the course root or cwd.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib
import json
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import hypothesis
import numpy as np
import torch

from autograder.cache_dir import cache_dir
from autograder.judge import memo
from autograder.judge.properties import Property, run_property
from autograder.sandbox.base import Reply

if TYPE_CHECKING:
    from autograder.judge.grader import Assignment

FORMAT = 1
JUDGE_SOURCES = ("strategies", "properties", "checks", "parts", "draws", "memo", "input_cache")
_JUDGE_DIR = Path(__file__).resolve().parent
_DTYPE_KINDS = "biuf"  # numeric arrays only: nothing in the file can name an object dtype
Inputs = tuple[tuple[torch.Tensor, ...], ...]


@dataclass(frozen=True)
class InputCache:
    """For each property of an assignment, the inputs of a fully passing run, in order."""

    max_examples: int
    inputs: Mapping[Property, Inputs]

    def of(self, prop: Property) -> Inputs | None:
        return self.inputs.get(prop)


def _properties(assignment: "Assignment") -> Iterator[tuple[str, int, Property]]:
    for grade_id, part in assignment.parts.items():
        for index, prop in enumerate(getattr(part, "checks", ())):
            if isinstance(prop, Property):
                yield grade_id, index, prop


def _package(assignment: "Assignment") -> Any:
    return importlib.import_module(f"assignments.{assignment.name}")


def cache_key(assignment: "Assignment", max_examples: int) -> str:
    hasher = hashlib.sha256()
    facts = (f"format {FORMAT}", f"max_examples {max_examples}", sys.version, platform.machine(),
             hypothesis.__version__, torch.__version__, np.__version__)
    sources = sorted(Path(_package(assignment).__file__).parent.glob("*.py"))
    sources += [_JUDGE_DIR / f"{name}.py" for name in JUDGE_SOURCES]
    for fact in facts:
        hasher.update(fact.encode() + b"\0")
    for path in sources:
        hasher.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hasher.hexdigest()[:32]


def record_inputs(prop: Property, max_examples: int) -> Inputs:
    """The inputs a passing search asks, in order: ``run_property`` with a check that records and passes."""
    asked: list[tuple[torch.Tensor, ...]] = []
    recorder = dataclasses.replace(prop, check=lambda subject, args: asked.append(tuple(args)))
    run_property(recorder, None, max_examples=max_examples)
    return tuple(asked)


class _ModelAnswer:
    """The reference in the student's place: a check run against it computes (and so records)
    every reference output a passing submission's check needs."""

    def __init__(self, name: str, function: Any) -> None:
        self.name, self._function = name, function

    def __call__(self, *tensors: torch.Tensor, grad: bool = False) -> Reply:
        args = tuple(t.detach().clone().requires_grad_(grad) for t in tensors)
        value = self._function(*args)
        grads = torch.autograd.grad(value.sum(), args, allow_unused=True) if grad else None
        detached = tuple(v.detach() for v in value) if isinstance(value, tuple) else value.detach()
        return Reply(value=detached, grads=grads, inputs_after=tuple(a.detach() for a in args))


def _model_answers(assignment: "Assignment") -> Any:
    """``assignments/<name>/references.py``, whose function of a student function's name is its
    model answer; without one, references are simply computed per submission."""
    try:
        return importlib.import_module(f"assignments.{assignment.name}.references")
    except ImportError:
        return None


def build(assignment: "Assignment", max_examples: int) -> tuple[InputCache, dict[memo.Key, memo.Value]]:
    references = _model_answers(assignment)
    inputs: dict[Property, Inputs] = {}
    with memo.recording() as outputs:
        for _, _, prop in _properties(assignment):
            inputs[prop] = record_inputs(prop, max_examples)
            model = getattr(references, prop.function, None)
            for args in inputs[prop] if callable(model) else ():
                try:
                    prop.check(_ModelAnswer(prop.function, model), args)
                except Exception:  # only the references it computed matter here
                    pass
    return InputCache(max_examples, inputs), dict(outputs)


class _Blob:
    """Tensors as ``[dtype, shape, offset]`` specs into one buffer of bytes."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def put(self, tensor: torch.Tensor) -> list:
        array = tensor.detach().contiguous().numpy()
        spec = [array.dtype.str, list(array.shape), self._size]
        self._chunks.append(array.tobytes())
        self._size += array.nbytes
        return spec

    def value(self, value: memo.Value) -> dict:
        items = value if isinstance(value, tuple) else (value,)
        return {"tuple": isinstance(value, tuple), "tensors": [self.put(t) for t in items]}

    def array(self) -> np.ndarray:
        return np.frombuffer(b"".join(self._chunks), dtype=np.uint8)


def _tensor(blob: np.ndarray, spec: list) -> torch.Tensor:
    """One tensor back from its spec, refusing anything but a numeric array inside the blob."""
    dtype_str, shape, offset = spec
    dtype = np.dtype(str(dtype_str))
    if dtype.kind not in _DTYPE_KINDS or not all(isinstance(n, int) and n >= 0 for n in [*shape, offset]):
        raise ValueError(f"bad tensor spec {spec!r}")
    count = int(np.prod(shape, dtype=np.int64))
    if offset + count * dtype.itemsize > blob.size:
        raise ValueError(f"tensor spec {spec!r} runs past the blob")
    return torch.from_numpy(np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape).copy())


def _value(blob: np.ndarray, entry: dict) -> memo.Value:
    tensors = tuple(_tensor(blob, spec) for spec in entry["tensors"])
    return tensors if entry["tuple"] else tensors[0]


def _save(path: Path, key: str, assignment: "Assignment", cache: InputCache,
          outputs: dict[memo.Key, memo.Value]) -> None:
    blob = _Blob()
    index = {
        "format": FORMAT, "key": key, "assignment": assignment.name, "max_examples": cache.max_examples,
        "properties": [{"part": grade_id, "index": i, "name": prop.name,
                        "inputs": [[blob.put(t) for t in args] for args in cache.inputs[prop]]}
                       for grade_id, i, prop in _properties(assignment)],
        "references": [{"name": name, "digest": digest.hex(), **blob.value(value)}
                       for (name, digest), value in outputs.items()],
    }
    index_bytes, data = json.dumps(index).encode(), blob.array()
    checksum = hashlib.sha256(index_bytes + data.tobytes()).digest()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, index=np.frombuffer(index_bytes, dtype=np.uint8), blob=data,
                     sha256=np.frombuffer(checksum, dtype=np.uint8))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)  # atomic: a reader sees the old file or the whole new one
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _load(path: Path, key: str, assignment: "Assignment", max_examples: int
          ) -> tuple[InputCache, dict[memo.Key, memo.Value]]:
    with np.load(path, allow_pickle=False) as data:
        index_bytes, blob, checksum = data["index"].tobytes(), data["blob"], data["sha256"].tobytes()
    if blob.dtype != np.uint8 or hashlib.sha256(index_bytes + blob.tobytes()).digest() != checksum:
        raise ValueError(f"{path} fails its checksum")
    index = json.loads(index_bytes)
    if (index["format"], index["key"], index["max_examples"]) != (FORMAT, key, max_examples):
        raise ValueError(f"{path} was written for another key")
    expected = list(_properties(assignment))
    stored = index["properties"]
    if [(p["part"], p["index"], p["name"]) for p in stored] != [(g, i, prop.name) for g, i, prop in expected]:
        raise ValueError(f"{path} lists other properties")
    inputs = {prop: tuple(tuple(_tensor(blob, spec) for spec in args) for args in entry["inputs"])
              for (_, _, prop), entry in zip(expected, stored)}
    outputs = {(str(r["name"]), bytes.fromhex(r["digest"])): _value(blob, r) for r in index["references"]}
    return InputCache(max_examples, inputs), outputs


_LOADED: dict[tuple[str, tuple[int, ...]], InputCache] = {}


@contextlib.contextmanager
def _one_builder(path: Path) -> Iterator[None]:
    """Processes that miss the same cache at once (a pool's or a Dask node's workers) build it
    once: the others wait on the lock, then load the file. A cache folder that cannot be written
    has no lock: each process builds alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the lock


def load_or_build(assignment: "Assignment", max_examples: int) -> InputCache:
    """The class's input cache, once per process: from disk if a valid file has this key, else
    built (some seconds) and saved. Its reference outputs go to ``memo``'s table on the way."""
    key = cache_key(assignment, max_examples)
    loaded_key = (key, tuple(id(prop) for _, _, prop in _properties(assignment)))  # the cache keeps them alive
    if loaded_key in _LOADED:
        return _LOADED[loaded_key]
    path = cache_dir() / f"{assignment.name}-{max_examples}-{key}.npz"
    try:
        cache, outputs = _load(path, key, assignment, max_examples)
    except Exception:  # missing, unreadable, corrupt or stale: rebuild rather than trust it
        with _one_builder(path):
            try:  # built by another process while this one waited
                cache, outputs = _load(path, key, assignment, max_examples)
            except Exception:
                cache, outputs = build(assignment, max_examples)
                with contextlib.suppress(OSError):  # a read-only cache dir costs a rebuild per process, no more
                    _save(path, key, assignment, cache, outputs)
    memo.learn(outputs)
    memo.fix([tensor for entries in cache.inputs.values() for args in entries for tensor in args])
    _LOADED[loaded_key] = cache
    return cache
