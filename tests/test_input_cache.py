"""The per-class input cache: keyed by everything that changes it, kept outside the course, plain
data written atomically, rebuilt when it cannot be trusted; and draws that depend on nothing but
the strategy, whoever imports what."""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.judge import input_cache, memo
from autograder.judge.grader import Assignment
from autograder.judge.input_cache import cache_dir, cache_key, load_or_build, record_inputs

REFERENCES = '''
from autograder.judge.memo import Remembered

@Remembered
def double(x):
    return 2 * x
'''
PARTS = '''
import torch
from hypothesis import strategies as st

from assignments.tiny.references import double
from autograder.judge.checks import as_tensor, call, expect_close
from autograder.judge.parts import FunctionPart
from autograder.judge.properties import Property


def doubles(subject, args):
    reply = call(subject, args)
    expect_close(as_tensor(reply.value, reply, what="the result"), double(*args), reply,
                 what="the result", rule="2 * x")


VALUES = st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=4).map(
    lambda v: (torch.tensor(v, dtype=torch.float64),))
PARTS = {"double_test": FunctionPart("double", (Property("doubles x", "double", VALUES, ("x",), doubles),))}
'''
ODD_CONSTANTS = '''
ODD = [0.123456789, -0.987654321, 0.333333333, -0.5123, 0.7771, 1e-3, -2.5e-4, 0.06125, 9.87654e-5,
       0.4242, -0.3141, 0.2718, -0.1618, 0.9999, -0.0001234, 123.456, -7654.321, 42.4242]
'''


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Assignment:
    """A one-property assignment imported from a temporary course root, a cache dir of its own
    and a working directory that must stay empty."""
    monkeypatch.setattr(sys, "path", [str(tmp_path / "course"), *sys.path])
    for name in [n for n in sys.modules if n == "assignments" or n.startswith("assignments.")]:
        monkeypatch.delitem(sys.modules, name)
    package = tmp_path / "course" / "assignments" / "tiny"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "references.py").write_text(REFERENCES)
    (package / "parts.py").write_text(PARTS)
    monkeypatch.setenv("AUTOGRADER_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(input_cache, "_LOADED", {})
    from assignments.tiny.parts import PARTS as parts
    yield Assignment(name="tiny", instructor=(), parts=parts, functions=("double",))
    assert list((tmp_path / "cwd").iterdir()) == [], "grading wrote into the working directory"
    for name in [n for n in sys.modules if n == "assignments" or n.startswith("assignments.")]:
        del sys.modules[name]


def the_property(assignment: Assignment):
    return assignment.parts["double_test"].checks[0]


def cache_file(assignment: Assignment, max_examples: int) -> Path:
    return cache_dir() / f"{assignment.name}-{max_examples}-{cache_key(assignment, max_examples)}.npz"


def same_inputs(a, b) -> bool:
    return len(a) == len(b) and all(len(x) == len(y) and all(t.dtype == u.dtype and torch.equal(t, u)
                                                             for t, u in zip(x, y)) for x, y in zip(a, b))


def test_key_changes_with_max_examples_and_with_any_source(tiny, tmp_path):
    key = cache_key(tiny, 10)
    assert cache_key(tiny, 10) == key and cache_key(tiny, 11) != key
    references = tmp_path / "course" / "assignments" / "tiny" / "references.py"
    references.write_text(references.read_text() + "\n# a comment changes the key too\n")
    assert cache_key(tiny, 10) != key


def test_cache_holds_the_passing_runs_inputs_and_references_in_plain_data(tiny):
    cache = load_or_build(tiny, 10)
    inputs = cache.of(the_property(tiny))
    assert same_inputs(inputs, record_inputs(the_property(tiny), 10)) and len(inputs) == 10
    assert load_or_build(tiny, 10) is cache  # once per process
    with np.load(cache_file(tiny, 10), allow_pickle=False) as data:
        assert sorted(data.files) == ["blob", "index", "sha256"]
        assert {data[name].dtype for name in data.files} == {np.dtype(np.uint8)}
        index = json.loads(data["index"].tobytes())
    assert len(index["references"]) == len({memo.digest(args) for args in inputs})  # double(x) on each
    x = inputs[0][0]
    stored = memo._TABLE[("assignments.tiny.references.double", memo.digest((x,)))]
    assert torch.equal(stored, 2 * x)


def test_a_second_process_loads_what_the_first_built(tiny, monkeypatch):
    built = load_or_build(tiny, 10)
    monkeypatch.setattr(input_cache, "_LOADED", {})
    monkeypatch.setattr(input_cache, "build", lambda *a: pytest.fail("rebuilt a valid cache"))
    assert same_inputs(load_or_build(tiny, 10).of(the_property(tiny)), built.of(the_property(tiny)))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped byte", "pickle"])
def test_a_damaged_cache_is_rebuilt_never_trusted(tiny, monkeypatch, damage):
    built = load_or_build(tiny, 10).of(the_property(tiny))
    path = cache_file(tiny, 10)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a cache at all")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name].copy() for name in npz.files}
        arrays["blob"][3] ^= 0xFF
        np.savez(path, **arrays)
    else:
        np.savez(path, index=np.array([{"format": 1}], dtype=object))
    monkeypatch.setattr(input_cache, "_LOADED", {})
    rebuilt = load_or_build(tiny, 10).of(the_property(tiny))
    assert same_inputs(rebuilt, built)
    with np.load(path, allow_pickle=False) as npz:  # and the file is whole again
        assert sorted(npz.files) == ["blob", "index", "sha256"]


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary(tiny, monkeypatch):
    cache = load_or_build(tiny, 10)
    path = cache_file(tiny, 10)
    before = path.read_bytes()

    def half_written(file, **arrays):
        file.write(b"PK half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(OSError):
        input_cache._save(path, cache_key(tiny, 10), tiny, cache, {})
    left = [p for p in path.parent.iterdir() if p.name != f".{path.name}.lock"]  # the builders' lock stays
    assert path.read_bytes() == before and left == [path]


def test_location_is_never_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOGRADER_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid per the XDG spec: ignored
    assert cache_dir() == tmp_path / "home" / ".cache" / "autograder"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "autograder"
    monkeypatch.setenv("AUTOGRADER_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_draws_ignore_constants_of_local_modules_and_write_nothing(tiny, tmp_path, monkeypatch):
    """Hypothesis's private local-constants source is replaced by ``draws``: a local module full
    of odd floats must not change a single draw. Fails if a newer Hypothesis bypasses the patch."""
    before = record_inputs(the_property(tiny), 30)
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "odd_constants_for_draws.py").write_text(ODD_CONSTANTS)
    monkeypatch.syspath_prepend(str(tmp_path / "odd"))
    import odd_constants_for_draws  # noqa: F401  (a local module Hypothesis would mine for constants)
    assert same_inputs(record_inputs(the_property(tiny), 30), before)


def test_a_fixed_tensor_keeps_its_digest_until_it_changes_in_place():
    """The cached inputs are described once (memo.fix); a tensor changed in place is described anew."""
    tensors = (torch.linspace(-1, 1, 5), torch.tensor(0.5), torch.arange(12.0).reshape(3, 4).t())
    before = memo.digest(tensors)
    memo.fix(tensors)
    assert memo.digest(tensors) == before == memo.digest(tuple(t.clone() for t in tensors))
    tensors[0].mul_(2)
    assert memo.digest(tensors) == memo.digest(tuple(t.clone() for t in tensors)) != before


def test_builders_that_miss_the_cache_at_once_build_it_once(tiny, monkeypatch):
    """Two threads stand for two workers: each opens the lock file itself, so flock keeps them
    apart as it keeps processes apart; the second waits, then loads what the first built."""
    real, calls = input_cache.build, []

    def slow_build(*args):
        calls.append(args)
        time.sleep(0.5)  # the other builder reaches the lock meanwhile
        return real(*args)

    monkeypatch.setattr(input_cache, "build", slow_build)
    loaded: list = []
    builders = [threading.Thread(target=lambda: loaded.append(load_or_build(tiny, 10))) for _ in range(2)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    assert len(calls) == 1 and len(loaded) == 2
    first, second = (cache.of(the_property(tiny)) for cache in loaded)
    assert len(first) == len(second) and all(torch.equal(a, b) for x, y in zip(first, second) for a, b in zip(x, y))
