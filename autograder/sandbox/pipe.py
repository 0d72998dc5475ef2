"""Frames over a pair of pipes, with a deadline on every read and write.

A blocking ``read()`` would let a student who never answers hang the grader, so both ends
are non-blocking and waited on with ``poll``. The frame is ``wire``'s: a 4-byte big-endian
length, then the JSON body. Anything else on the pipe is the sender's fault.
"""
from __future__ import annotations

import os
import select
import time

from autograder.inside import wire

_CHUNK = 1 << 20


class PipeClosed(Exception):
    """The other end closed its side: the process exited or was killed."""


class PipeTimeout(Exception):
    """The deadline passed before the frame was complete."""


class Pipe:
    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd, self._write_fd = read_fd, write_fd
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._readable, self._writable = select.poll(), select.poll()
        self._readable.register(read_fd, select.POLLIN)
        self._writable.register(write_fd, select.POLLOUT)
        self._buffer = bytearray()

    def send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._write_fd, view)
            except BlockingIOError:
                self._wait(self._writable, deadline)
                continue
            except BrokenPipeError:
                raise PipeClosed() from None
            view = view[written:]

    def receive(self, deadline: float) -> bytes:
        """Return the body of the next frame; raise ``wire.WireError`` for an impossible length."""
        self._fill(4, deadline)
        size = int.from_bytes(self._buffer[:4], "big")
        if size > wire.MAX_MESSAGE_BYTES:
            raise wire.WireError(f"a frame announced {size} bytes, more than the limit of {wire.MAX_MESSAGE_BYTES}")
        self._fill(4 + size, deadline)
        body = bytes(self._buffer[4:4 + size])
        del self._buffer[:4 + size]
        return body

    def has_unread(self) -> bool:
        """True when more bytes arrived than the frames asked for (someone wrote extra data)."""
        if not self._buffer and self._readable.poll(0):
            try:
                self._buffer += os.read(self._read_fd, _CHUNK)
            except (BlockingIOError, OSError):
                pass
        return bool(self._buffer)

    def _fill(self, size: int, deadline: float) -> None:
        while len(self._buffer) < size:
            try:
                chunk = os.read(self._read_fd, max(_CHUNK, size - len(self._buffer)))
            except BlockingIOError:
                self._wait(self._readable, deadline)
                continue
            if not chunk:
                raise PipeClosed()
            self._buffer += chunk

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    @staticmethod
    def _wait(poller: select.poll, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            if time.monotonic() >= deadline:
                raise PipeTimeout()


def wait_readable(fd: int, deadline: float) -> bool:
    """Wait until ``fd`` is readable (or hung up); False when the deadline passed first."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(deadline - time.monotonic(), 0) * 1000))
