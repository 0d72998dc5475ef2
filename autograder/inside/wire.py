"""The only format that crosses the sandbox boundary: length-prefixed JSON, arrays as raw bytes.

Both sides import this module, so it uses nothing but the standard library and NumPy.
A frame is a 4-byte big-endian length and a JSON body. An array travels as
``{"__ndarray__": {"dtype": "<f4", "shape": [2, 3], "data": base64 of the C-order bytes}}``
with the dtype taken from a short whitelist of little-endian numeric types, so a message can
carry numbers, strings, lists, dicts and numeric arrays, never code: nothing here calls
``eval``, ``pickle`` or ``np.load``. Raw bytes instead of ``.npy`` because parsing a .npy header
costs more than a whole small call; JSON's C encoder walks the message and calls back into
Python only for arrays.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from typing import Any, BinaryIO

import numpy as np

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_DIMENSIONS = 32
_HEADER = struct.Struct(">I")
_ARRAY_KEY = "__ndarray__"
DTYPES = frozenset({
    "|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8",
})


class WireError(Exception):
    """A message that is not well-formed: truncated, oversized, or not plain data."""


def _encode_array(array: np.ndarray) -> dict:
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.dtype.str not in DTYPES:
        raise WireError(f"only numeric arrays cross the wire, not dtype {array.dtype}")
    return {_ARRAY_KEY: {
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes()).decode("ascii"),
    }}


def _default(obj: Any) -> Any:
    """Called by ``json`` only for what it cannot write itself."""
    if isinstance(obj, np.ndarray):
        return _encode_array(obj)
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    raise WireError(f"cannot send a {type(obj).__name__} across the wire")


def _decode_array(spec: Any) -> np.ndarray:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise WireError("malformed array: expected exactly the keys dtype, shape and data")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if dtype not in DTYPES:
        raise WireError(f"malformed array: dtype {dtype!r} is not one of the numeric types {sorted(DTYPES)}")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS
            or not all(type(n) is int and n >= 0 for n in shape)):
        raise WireError(f"malformed array: shape {shape!r} is not a list of at most {MAX_DIMENSIONS} sizes")
    if not isinstance(data, str):
        raise WireError("malformed array: data is not a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise WireError("malformed array: data is not valid base64") from None
    itemsize = np.dtype(dtype).itemsize
    if len(raw) != math.prod(shape) * itemsize:
        raise WireError(f"malformed array: {len(raw)} bytes do not fill shape {shape} of {dtype}")
    return np.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)


def _object_hook(obj: dict) -> Any:
    if _ARRAY_KEY in obj:
        if len(obj) != 1:
            raise WireError(f"malformed array: {_ARRAY_KEY} next to other keys")
        return _decode_array(obj[_ARRAY_KEY])
    return obj


def encode(message: Any) -> bytes:
    """Serialize a message of plain data and numeric arrays to one frame."""
    try:
        body = json.dumps(message, default=_default, allow_nan=True, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:  # e.g. a dict key that is not a string or a cycle
        raise WireError(f"not plain data: {exc}") from None
    if len(body) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return _HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> Any:
    try:
        return json.loads(body, object_hook=_object_hook)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {exc}") from None


def read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> Any:
    (size,) = _HEADER.unpack(read_exactly(stream, _HEADER.size))
    if size > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
    return decode_body(read_exactly(stream, size))


def write_message(stream: BinaryIO, message: Any) -> None:
    stream.write(encode(message))
    stream.flush()
