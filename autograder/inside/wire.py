"""The only format that crosses the sandbox boundary: length-prefixed JSON, arrays as raw bytes.

Both sides import this module, so it uses nothing but the standard library and NumPy.
A frame is a 4-byte big-endian length and a JSON body. An array travels as
``{"__ndarray__": {"dtype": "<f4", "shape": [2, 3], "data": base64 of the C-order bytes}}``
with the dtype taken from a short whitelist of little-endian numeric types, so a message can
carry numbers, strings, lists, dicts and numeric arrays, never code: nothing here calls
``eval``, ``pickle`` or ``np.load``. Raw bytes instead of ``.npy`` because parsing a .npy header
costs more than a whole small call; JSON's C encoder walks the message and calls back into
Python only for arrays.

The trusted side decodes whatever the student's process wrote, so decoding a body must fail
with ``WireError`` (never another exception) and must never allocate much more than the body:
sizes are checked before anything is built. Bodies are ASCII (``json.dumps`` escapes the
rest), which keeps the decoded text one byte a character; the count of JSON values is bounded
because an empty list costs Python ~25 times its three bytes; an array's declared shape is
checked against its base64 length before decoding. NaN and +-Infinity are accepted as floats,
as any float tensor may hold them: the grader's checks never count a NaN as close to a value.
A duplicate key keeps its last value, as ``json`` does: it is still plain data.
"""
from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any, BinaryIO

import numpy as np

# Decoding takes up to ~7x the body (text, strings, then base64 and array bytes): 16 MiB keeps
# that near 100 MB, and is still far above a real answer and a file chunk (template.FILE_CHUNK).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_VALUES = 200_000  # JSON values in a message: each costs at most ~200 bytes of Python objects
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
    """Check the declared dtype and shape against the length of the text before decoding it."""
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise WireError("malformed array: expected exactly the keys dtype, shape and data")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise WireError(f"malformed array: dtype {dtype!r:.40} is not one of the numeric types {sorted(DTYPES)}")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS
            or not all(type(n) is int and 0 <= n <= MAX_MESSAGE_BYTES for n in shape)):
        raise WireError(f"malformed array: shape {shape!r:.80} is not a list of at most {MAX_DIMENSIONS} sizes")
    itemsize = np.dtype(dtype).itemsize
    # Sizes next to a zero still count: NumPy refuses shapes whose nonzero sizes overflow.
    if math.prod(n or 1 for n in shape) * itemsize > MAX_MESSAGE_BYTES:
        raise WireError(f"malformed array: shape {shape} of {dtype} is larger than a message")
    size = math.prod(shape) * itemsize
    if not isinstance(data, str) or len(data) != 4 * -(-size // 3):
        raise WireError(f"malformed array: data is not the base64 of {size} bytes for shape {shape} of {dtype}")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:  # binascii.Error, or a character that is not ASCII
        raise WireError("malformed array: data is not valid base64") from None
    if len(raw) != size:
        raise WireError(f"malformed array: {len(raw)} bytes do not fill shape {shape} of {dtype}")
    return np.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)


def _object_hook(obj: dict) -> Any:
    if _ARRAY_KEY in obj:
        if len(obj) != 1:
            raise WireError(f"malformed array: {_ARRAY_KEY} next to other keys")
        return _decode_array(obj[_ARRAY_KEY])
    return obj


def _check_size(body: bytes) -> None:
    """Refuse a body that would be too big once decoded, before decoding it."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")
    # Every JSON value is the first one, or follows "[" or ",", or is a member's (after "{" or ","):
    # an upper bound, counting these characters inside strings too.
    values = 1 + body.count(b"[") + body.count(b"{") + body.count(b",")
    if values > MAX_VALUES:
        raise WireError(f"message of up to {values} values exceeds {MAX_VALUES}")


def encode(message: Any) -> bytes:
    """Serialize a message of plain data and numeric arrays to one frame."""
    try:  # ensure_ascii (the default) escapes everything else: decode_body wants ASCII
        body = json.dumps(message, default=_default, allow_nan=True, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:  # e.g. a dict key that is not a string or a cycle
        raise WireError(f"not plain data: {exc}") from None
    _check_size(body)
    return _HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> Any:
    """The message in one frame's body; ``WireError`` for anything ``encode`` would not write."""
    _check_size(body)
    if not body.isascii():
        raise WireError("not JSON: a byte that is not ASCII")
    try:
        return json.loads(body, object_hook=_object_hook)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the stack
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
