"""The trusted side decodes whatever the student's process writes: every input is plain data or a
``WireError``, quickly and without a large allocation, and the rebuilt replies and figures never raise."""
from __future__ import annotations

import base64
import io
import json
import math
import os
import struct
import time
import tracemalloc
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.inside import wire
from autograder.sandbox.base import Figure, Reply, figure_from_wire, reply_from_wire, value_from_wire
from autograder.sandbox.pipe import Pipe, PipeClosed

MB = 1 << 20
FUZZ = settings(max_examples=600, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def array_body(dtype: Any = "<f8", shape: Any = (2,), data: Any = "AAAA") -> bytes:
    shape = list(shape) if isinstance(shape, tuple) else shape
    return json.dumps({"__ndarray__": {"dtype": dtype, "shape": shape, "data": data}}).encode()


def peak_bytes(action: Callable[[], Any]) -> int:
    """Peak Python allocation while ``action`` runs (whatever it returns or raises)."""
    tracemalloc.start()
    try:
        action()
    except Exception:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def assert_plain(value: Any) -> None:
    """Only JSON's types and whitelisted arrays within the bounds; walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            assert all(type(k) is str for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, np.ndarray):
            assert item.dtype.str in wire.DTYPES and item.ndim <= wire.MAX_DIMENSIONS
            assert item.nbytes <= wire.MAX_MESSAGE_BYTES and item.flags.writeable
        else:
            assert item is None or type(item) in (str, int, float, bool)


def assert_rebuilt_safely(value: Any) -> None:
    """``*_from_wire`` on every node of a decoded message: never raises, and gives sane objects."""
    stack = [value]
    while stack:
        item = stack.pop()
        reply, figure = reply_from_wire(item), figure_from_wire(item)
        value_from_wire(item)
        assert isinstance(reply, Reply) and isinstance(figure, Figure)
        for text in (reply.error or "", *reply.forbidden):
            text.encode("utf-8")
        for ax in figure.axes:
            (ax.title + ax.xlabel + ax.ylabel + "".join(ax.legend or ())).encode("utf-8")
            for line in ax.lines:
                assert line.x.ndim == 1 and line.x.shape == line.y.shape and line.x.dtype == np.float64
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def decode_or_refuse(body: bytes) -> None:
    started = time.perf_counter()
    try:
        value = wire.decode_body(body)
    except wire.WireError:
        value = None
    assert time.perf_counter() - started < 2.0
    assert_plain(value)
    assert_rebuilt_safely(value)


# Strategies ----------------------------------------------------------------------------------

hostile_ints = st.one_of(st.integers(-3, 5), st.integers(-2 ** 70, 2 ** 70),
                         st.sampled_from([2 ** 31, 2 ** 32, 2 ** 63 - 1, 2 ** 63, 2 ** 64, 10 ** 30]))
hostile_dtypes = st.one_of(st.sampled_from(sorted(wire.DTYPES)),
                           st.sampled_from([">f4", ">i8", "|O", "<c16", "<U1", "|S4", "|V8", "f4", "float32", "<f16",
                                            "<M8[s]", "", 5, None, [], {}, ["<f4"], {"<f4": 1}]))
hostile_shapes = st.one_of(
    st.lists(st.integers(0, 4), max_size=4),
    st.lists(hostile_ints, max_size=40),
    st.lists(st.one_of(st.integers(0, 3), st.floats(), st.booleans(), st.text(max_size=2), st.none()), max_size=5),
    st.one_of(st.none(), hostile_ints, st.text(max_size=4), st.dictionaries(st.text(max_size=2), st.integers())),
)
hostile_data = st.one_of(
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.text(alphabet="ABCD+/=", max_size=64),
    st.text(max_size=16),
    st.integers(), st.none(), st.lists(st.integers(), max_size=3),
)


@st.composite
def array_specs(draw: st.DrawFn) -> dict:
    """An ``__ndarray__`` spec: half of them well-formed, the others hostile in one or more ways."""
    if draw(st.booleans()):
        dtype, shape = draw(st.sampled_from(sorted(wire.DTYPES))), draw(st.lists(st.integers(0, 4), max_size=4))
        size = math.prod(shape) * np.dtype(dtype).itemsize
        spec = {"dtype": dtype, "shape": shape,
                "data": base64.b64encode(draw(st.binary(min_size=size, max_size=size))).decode()}
        return {"__ndarray__": spec}
    spec = {"dtype": draw(hostile_dtypes), "shape": draw(hostile_shapes), "data": draw(hostile_data)}
    if draw(st.integers(0, 4)) == 0:
        spec = draw(st.sampled_from([{}, {"dtype": spec["dtype"]}, {**spec, "extra": 1}, spec["data"], [spec]]))
    return {"__ndarray__": spec, **draw(st.sampled_from([{}, {}, {}, {"x": 1}]))}


leaves = st.one_of(
    st.none(), st.booleans(), hostile_ints, st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["\ud800", "\udfff", "x\ud83d"]), array_specs(),
)
json_trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["value", "kind", "data", "items", "grads", "inputs_after", "error",
                                         "forbidden", "axes", "lines", "x", "y", "label", "legend", "title",
                                         "replies", "figure", "tensor", "number", "tuple"]),
                        children, max_size=5),
        st.fixed_dictionaries({"kind": st.sampled_from(["tensor", "number", "tuple", "other"]),
                               "data": children, "items": children}),
    ),
    max_leaves=20,
)


# What decode_body can return, built directly: every whitelisted dtype, 1-D arrays often of one length.
decoded_values = st.recursive(
    st.one_of(st.none(), st.booleans(), hostile_ints, st.floats(), st.text(max_size=4),
              st.sampled_from(["\ud800", "x\udfff"]),
              hnp.arrays(st.sampled_from(sorted(wire.DTYPES)).map(np.dtype),
                         st.one_of(st.tuples(st.integers(0, 2)),
                                   hnp.array_shapes(min_dims=0, min_side=0, max_side=3)))),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["value", "kind", "data", "items", "grads", "inputs_after", "error",
                                         "forbidden", "axes", "lines", "x", "y", "label", "legend", "title"]),
                        children, max_size=6),
        st.fixed_dictionaries({"kind": st.sampled_from(["tensor", "number", "tuple"]), "data": children,
                               "items": st.lists(children, max_size=3)}),
    ),
    max_leaves=30,
)


def to_body(tree: Any, ascii_only: bool) -> bytes:
    return json.dumps(tree, allow_nan=True, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def valid_answer() -> dict:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    return {"id": 7, "replies": [{"value": {"kind": "tuple", "items": [{"kind": "tensor", "data": array},
                                                                        {"kind": "number", "data": 1.5}]},
                                  "grads": [array, None], "inputs_after": [array], "error": None,
                                  "forbidden": ["mse_loss"]}],
            "figure": {"axes": [{"title": "t", "legend": ["a"], "lines": [{"label": "a", "x": array[0],
                                                                            "y": array[1]}]}]}}


# Fuzzing: slow, bounded, deterministic --------------------------------------------------------

@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_to_plain_data_or_wire_error(body: bytes) -> None:
    decode_or_refuse(body)


@pytest.mark.slow
@FUZZ
@given(json_trees, st.sampled_from([True, True, True, False]))
def test_json_with_hostile_arrays_decodes_to_plain_data_or_wire_error(tree: Any, ascii_only: bool) -> None:
    decode_or_refuse(to_body(tree, ascii_only))


@pytest.mark.slow
@FUZZ
@given(decoded_values)
def test_rebuilding_replies_and_figures_never_raises(value: Any) -> None:
    assert_rebuilt_safely(value)


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_mutated_frames_decode_to_plain_data_or_fail_cleanly(data: st.DataObject) -> None:
    good = bytearray(wire.encode(valid_answer()))
    mutation = data.draw(st.sampled_from(["truncate", "flip", "insert", "length"]))
    if mutation == "truncate":
        del good[data.draw(st.integers(0, len(good) - 1)):]
    elif mutation == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            good[data.draw(st.integers(0, len(good) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif mutation == "insert":
        at = data.draw(st.integers(4, len(good)))
        good[at:at] = data.draw(st.sampled_from([b"[", b"{", b",", b"0", b'"', b"\\", b"\xff", b"NaN", b"A" * 9]))
        good[:4] = struct.pack(">I", len(good) - 4)
    else:
        good[:4] = struct.pack(">I", data.draw(st.sampled_from([0, 1, 2 ** 31, 2 ** 32 - 1,
                                                                wire.MAX_MESSAGE_BYTES + 1])))
    stream = io.BytesIO(bytes(good))
    try:
        value = wire.read_message(stream)
    except (wire.WireError, EOFError):
        return
    assert_plain(value)
    assert_rebuilt_safely(value)


# The nastiest cases, one by one, with their allocation measured ------------------------------

@pytest.mark.parametrize("body", [
    array_body(shape=[10 ** 12]),                                 # a terabyte declared, 3 bytes sent
    array_body(shape=[2 ** 32, 2 ** 32, 2 ** 32]),                 # the product overflows int64
    array_body(shape=[2 ** 40, 2 ** 40, 0], data=""),               # no elements, but NumPy cannot hold it
    array_body(shape=[10 ** 4000], data=""),                        # a 4000-digit size
    array_body(shape=[1] * 33, data="AAAAAAAA"),                    # too many dimensions
    array_body(shape=[-1], data=""), array_body(shape=[True]), array_body(shape=[2.0]),
    array_body(shape=[1], data="A" * (4 * MB)),                     # far more text than the shape holds
    array_body(shape=[1], data="AAAAAAAAAA=="),                     # the right length, but 7 bytes, not 8
    array_body(shape=[1], data="AAA=AAAAAAAA"),                     # padding in the middle
    array_body(shape=[1], data="AAAAAAAAAA\u00e9A"),                # a character that is not ASCII
    array_body(dtype=[]), array_body(dtype={}), array_body(dtype=">f8"), array_body(dtype="|O"),
    array_body(dtype="<c16"), array_body(dtype="float64"), array_body(dtype=None),
], ids=lambda b: repr(b[:60]))
def test_hostile_arrays_are_refused_before_allocating(body: bytes) -> None:
    with pytest.raises(wire.WireError, match="malformed array"):
        wire.decode_body(body)
    assert peak_bytes(lambda: wire.decode_body(body)) < 3 * len(body) + MB


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"0" + b"}" * 50_000,
    b'{"kind":"tuple","items":[' * 5_000 + b"0" + b"]}" * 5_000,
    b"[" + b"[]," * 300_000 + b"[]]", b"[" + b"0," * 300_000 + b"0]",       # more values than MAX_VALUES
    b"1" * 5_000, b"-" + b"9" * 100_000,                                      # integers beyond int()'s limit
    b"", b" ", b"{", b'{"a":1', b'"abc', b"[1,]", b"nan", b"infinity", b"undefined", b"\x00",
    '{"a":"é"}'.encode(), b'{"a":"\xff"}', '{"a": 1}'.encode("utf-16"), '"x"'.encode("utf-32"),
    b"\xef\xbb\xbf{}",                                                       # a byte-order mark
])
def test_hostile_json_is_a_wire_error(body: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_body(body)


def test_a_body_that_would_explode_into_objects_is_refused_before_parsing() -> None:
    body = b"[" + b"{}," * (wire.MAX_MESSAGE_BYTES // 3 - 1) + b"{}]"  # ~5.6 million dicts, ~400 MB of them
    started = time.perf_counter()
    assert peak_bytes(lambda: wire.decode_body(body)) < MB
    assert time.perf_counter() - started < 2.0
    with pytest.raises(wire.WireError, match="values"):
        wire.decode_body(body)


@pytest.mark.parametrize("body", [
    b"[" + b"[]," * 9_990 + b"[]]",
    b"[" + b'{"a":0},' * 9_990 + b'{"a":0}]',
    b"{" + b",".join(b'"%d":0.5' % i for i in range(19_990)) + b"}",
    b"[" + b"0.5," * 19_990 + b"0.5]",
    b'["' + b"a" * (2 * MB) + b'\\ud83d\\ude00"]',  # one emoji widens every character to four bytes
    b"[" + b",".join([array_body("|u1", [3], "AAAA")] * 3_300) + b"]",
    array_body("<f8", [MB // 8], base64.b64encode(bytes(MB)).decode()),
], ids=["lists", "dicts", "keys", "floats", "wide-string", "arrays", "one-array"])
def test_decoding_within_the_limits_allocates_a_bounded_multiple(monkeypatch: pytest.MonkeyPatch,
                                                                 body: bytes) -> None:
    """The worst bodies that pass the checks: ~7x the body plus ~200 bytes a value, whatever their shape."""
    monkeypatch.setattr(wire, "MAX_VALUES", 20_000)
    assert wire.decode_body(body) is not None
    values = 1 + body.count(b"[") + body.count(b"{") + body.count(b",")
    assert peak_bytes(lambda: wire.decode_body(body)) < 7 * len(body) + 200 * values + MB


def test_frames_announcing_too_much_are_refused_before_reading_the_body() -> None:
    for size in (wire.MAX_MESSAGE_BYTES + 1, 2 ** 32 - 1):
        stream = io.BytesIO(struct.pack(">I", size))  # no body at all: nothing may wait for it
        assert peak_bytes(lambda: wire.read_message(stream)) < MB
        with pytest.raises(wire.WireError, match="exceeds"):
            wire.read_message(io.BytesIO(struct.pack(">I", size)))


def test_the_grader_pipe_refuses_a_huge_length_without_waiting_or_allocating() -> None:
    to_grader, from_student = os.pipe()
    to_student, from_grader = os.pipe()
    try:
        os.write(from_student, b"\xff\xff\xff\xff" + b"x" * 100)
        started = time.perf_counter()
        assert peak_bytes(lambda: Pipe(to_grader, from_grader).receive(time.monotonic() + 30)) < 2 * MB  # one read
        assert time.perf_counter() - started < 5.0
        os.write(from_student, struct.pack(">I", wire.MAX_MESSAGE_BYTES + 1))
        with pytest.raises(wire.WireError, match="limit"):
            Pipe(to_grader, from_grader).receive(time.monotonic() + 30)
        os.write(from_student, frame(b'{"a":1}')[:-2])  # a truncated frame, then the student exits
        os.close(from_student)
        from_student = -1
        with pytest.raises(PipeClosed):
            Pipe(to_grader, from_grader).receive(time.monotonic() + 30)
    finally:
        for fd in (to_grader, from_student, to_student, from_grader):
            if fd >= 0:
                os.close(fd)


def test_nan_and_infinity_are_floats_and_huge_numbers_are_no_value() -> None:
    decoded = wire.decode_body(b'[NaN, Infinity, -Infinity, 1e999, -1e999, 1e-999]')
    assert math.isnan(decoded[0]) and decoded[1:5] == [math.inf, -math.inf, math.inf, -math.inf] and decoded[5] == 0
    assert math.isnan(value_from_wire({"kind": "number", "data": math.nan}))
    assert value_from_wire({"kind": "number", "data": 10 ** 400}) is None  # int() allows it, float() cannot
    assert value_from_wire({"kind": "number", "data": True}) is None
    assert value_from_wire({"kind": "number", "data": 3}) == 3.0


def test_duplicate_keys_keep_the_last_value_and_stay_plain_data() -> None:
    assert wire.decode_body(b'{"a":1,"a":2}') == {"a": 2}
    array = wire.decode_body(b'{"__ndarray__":1,"__ndarray__":{"dtype":"|u1","shape":[0],"data":""}}')
    assert isinstance(array, np.ndarray) and array.shape == (0,)


def test_tuples_nested_as_deep_as_json_allows_are_rebuilt_without_recursion_error() -> None:
    body = b'{"kind":"tuple","items":[' * 400 + b'{"kind":"number","data":1}' + b"]}" * 400
    raw = wire.decode_body(body)

    def deep(levels: int) -> Any:  # the grader calls this far down its own stack
        return deep(levels - 1) if levels else value_from_wire(raw)

    value = deep(300)
    for _ in range(15):
        value = value[0]
    assert value == (None,)  # cut off past 16 levels: not a value any function returns


def test_junk_replies_and_figures_become_failures_not_exceptions() -> None:
    assert reply_from_wire([1]).error == "the sandbox sent a malformed reply"
    assert figure_from_wire(None) == Figure() and figure_from_wire({"axes": 5}) == Figure()
    array = np.zeros(3)
    figure = figure_from_wire({"axes": [
        {"lines": None}, {"lines": 7}, {"lines": "ab"}, 3,
        {"title": "\ud800", "legend": [1, "\udfff"], "lines": [
            {"x": array, "y": np.zeros(2)}, {"x": np.zeros((3, 1)), "y": np.zeros((3, 1))}, {"x": array},
            {"x": 1.0, "y": 2.0}, {"x": np.zeros(3, np.uint8), "y": np.ones(3, np.int64), "label": 5}]},
    ]})
    assert [len(ax.lines) for ax in figure.axes] == [0, 0, 0, 1]
    last = figure.axes[-1]
    assert last.title == "\ufffd" and last.legend == ("", "\ufffd") and last.lines[0].label == ""
    reply = reply_from_wire({"value": {"kind": "tensor", "data": [1, 2]}, "grads": "x", "inputs_after": [1, array],
                             "error": "bad \ud800", "forbidden": ["a", 1, "\udc00"]})
    assert reply.value is None and reply.grads is None and len(reply.inputs_after) == 1
    assert reply.error == "bad \ufffd" and reply.forbidden == ("a", "\ufffd")


def test_encode_refuses_what_decode_would_so_the_server_reports_it_instead() -> None:
    with pytest.raises(wire.WireError, match="values"):
        wire.encode({"error": "," * wire.MAX_VALUES})
    assert wire.decode_body(wire.encode({"error": "," * (wire.MAX_VALUES - 10)})[4:])


def test_a_file_chunk_frame_fits_in_a_message() -> None:
    from autograder.sandbox.template import FILE_CHUNK

    chunk = wire.encode({"op": "write", "path": "p" * 255, "data": np.zeros(FILE_CHUNK, np.uint8)})
    assert len(chunk) <= wire.MAX_MESSAGE_BYTES
