"""The wire format: plain data and numeric arrays round-trip; anything else is refused."""
from __future__ import annotations

import base64
import io
import json
import pickle
import struct

import numpy as np
import pytest

from autograder.inside import wire

ROUND_TRIP_DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
                     np.int64, np.uint64, np.float16, np.float32, np.float64]


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def array_message(**spec: object) -> bytes:
    good = {"dtype": "<f4", "shape": [2], "data": base64.b64encode(np.zeros(2, np.float32).tobytes()).decode()}
    good.update(spec)
    return json.dumps({"__ndarray__": good}).encode()


@pytest.mark.parametrize("dtype", ROUND_TRIP_DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (1, 1, 4)])
def test_arrays_round_trip_with_dtype_and_shape(dtype: type, shape: tuple) -> None:
    array = (np.arange(int(np.prod(shape))) % 7).astype(dtype).reshape(shape)
    back = wire.decode_body(wire.encode({"a": array})[4:])["a"]
    assert back.dtype == array.dtype and back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable  # fresh memory, safe to hand to torch.from_numpy


def test_non_contiguous_and_big_endian_arrays_arrive_as_little_endian_c_order() -> None:
    array = np.arange(12, dtype=">f8").reshape(3, 4).T
    back = wire.decode_body(wire.encode([array])[4:])[0]
    assert back.dtype == np.dtype("<f8")
    np.testing.assert_array_equal(back, array)


def test_plain_data_round_trips_and_numpy_scalars_become_numbers() -> None:
    message = {"s": "é", "n": None, "b": True, "i": 3, "f": float("nan"), "l": [1, [2.5]], "t": (1, 2),
               "np": np.float32(1.5), "ni": np.int64(7)}
    back = wire.decode_body(wire.encode(message)[4:])
    assert back["s"] == "é" and back["l"] == [1, [2.5]] and back["t"] == [1, 2]
    assert back["np"] == 1.5 and back["ni"] == 7 and np.isnan(back["f"])


@pytest.mark.parametrize("value", [
    np.array(["a", "b"]), np.array([object()], dtype=object), np.array([1 + 2j]),
    np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f4")]), object(), {1, 2}, b"bytes", (lambda: 1),
])
def test_what_is_not_plain_data_is_refused_on_encode(value: object) -> None:
    with pytest.raises(wire.WireError):
        wire.encode({"x": value})


@pytest.mark.parametrize("body", [
    b"", b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
    array_message(dtype="|O"), array_message(dtype="<c16"), array_message(dtype="<U1"), array_message(dtype=5),
    array_message(shape=[3]), array_message(shape=[-2]), array_message(shape=[2.0]), array_message(shape="2"),
    array_message(shape=[1] * 33), array_message(data="not base64!"), array_message(data=[0, 0]),
    json.dumps({"__ndarray__": {"dtype": "<f4", "shape": [2]}}).encode(),
    json.dumps({"__ndarray__": "AAAA"}).encode(),
    json.dumps({"__ndarray__": {"dtype": "<f4", "shape": [0], "data": ""}, "extra": 1}).encode(),
], ids=lambda b: repr(b[:40]))
def test_malformed_bodies_raise_wire_error(body: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_body(body)


def test_pickled_payloads_are_never_unpickled() -> None:
    class Boom:
        def __reduce__(self):  # would run on unpickling
            return (pytest.fail, ("unpickled!",))

    pickled = base64.b64encode(pickle.dumps(Boom())).decode()
    for body in (pickle.dumps(Boom()), array_message(dtype="|O", shape=[1], data=pickled),
                 json.dumps({"__ndarray__": pickled}).encode()):
        with pytest.raises(wire.WireError):
            wire.decode_body(body)


def test_npy_with_object_dtype_in_the_old_format_is_refused() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError):
        wire.decode_body(json.dumps({"__ndarray__": base64.b64encode(buffer.getvalue()).decode()}).encode())


def test_oversized_messages_are_refused_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1000)
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.encode({"a": np.zeros(1000)})
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.read_message(io.BytesIO(struct.pack(">I", 1001) + b"x" * 1001))


def test_frames_read_from_a_stream_and_truncation_is_end_of_file() -> None:
    stream = io.BytesIO(wire.encode({"op": "ping"}) + wire.encode([1]))
    assert wire.read_message(stream) == {"op": "ping"}
    assert wire.read_message(stream) == [1]
    with pytest.raises(EOFError):
        wire.read_message(io.BytesIO(frame(b'{"op": "ping"}')[:-3]))


def test_a_complex_result_fails_that_call_with_a_reason_not_the_whole_answer():
    from autograder.sandbox.inprocess import InProcessSandbox
    import torch

    with InProcessSandbox() as box:
        box.run_cell("import torch\ndef mse(a, b):\n    return torch.complex(a, b).abs().mean() + 0j")
        reply = box.call("mse", [torch.ones(2), torch.zeros(2)])
    assert reply.value is None and "returned a tensor of dtype torch.complex64" in reply.error
