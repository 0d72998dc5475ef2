"""The only format that crosses the sandbox boundary: length-prefixed JSON with arrays as .npy.

Both sides import this module, so it uses nothing but the standard library and NumPy.
Arrays travel as base64 of NumPy's .npy format and are always read with
``allow_pickle=False``: a message can carry numbers, strings, lists, dicts and numeric
arrays, never code. Nothing here calls ``eval`` or ``pickle``.
"""
from __future__ import annotations

import base64
import io
import json
import struct
from typing import Any, BinaryIO

import numpy as np

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")
_ARRAY_KEY = "__ndarray__"
_NUMERIC_KINDS = "biuf"


class WireError(Exception):
    """A message that is not well-formed: truncated, oversized, or not plain data."""


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _NUMERIC_KINDS:
            raise WireError(f"only numeric arrays cross the wire, not dtype {obj.dtype}")
        buffer = io.BytesIO()
        np.save(buffer, obj, allow_pickle=False)
        return {_ARRAY_KEY: base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise WireError(f"cannot send a {type(obj).__name__} across the wire")


def _from_plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY_KEY}:
            try:
                raw = base64.b64decode(obj[_ARRAY_KEY], validate=True)
                array = np.load(io.BytesIO(raw), allow_pickle=False)
            except Exception as exc:  # any malformed payload is the sender's fault
                raise WireError(f"malformed array: {exc}") from None
            if array.dtype.kind not in _NUMERIC_KINDS:
                raise WireError(f"non-numeric array of dtype {array.dtype}")
            return array
        return {k: _from_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_plain(v) for v in obj]
    return obj


def encode(message: Any) -> bytes:
    """Serialize a message of plain data and numeric arrays to one frame."""
    body = json.dumps(_to_plain(message), allow_nan=True, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return _HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> Any:
    try:
        return _from_plain(json.loads(body))
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
