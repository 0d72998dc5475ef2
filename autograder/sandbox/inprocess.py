"""The sandbox's in-process twin: the same server, no process boundary, for fast unit tests.

Every message still goes through ``wire`` in both directions, so what a test sees is exactly
what the trusted side would decode from a real sandbox. It isolates nothing and has no time
limits: never use it on real submissions.
"""
from __future__ import annotations

from autograder.inside import wire
from autograder.inside.server import Server
from autograder.sandbox.base import Sandbox, SandboxFault


class InProcessSandbox(Sandbox):
    def __init__(self, namespace: dict | None = None) -> None:
        """``namespace``: serve the functions of an existing one (a kernel's globals) instead of a fresh one."""
        self._server: Server | None = Server(namespace)

    def request(self, message: dict, timeout: float | None = None) -> dict:
        if self._server is None:
            raise SandboxFault("the sandbox was closed")
        answer = self._server.handle(wire.decode_body(wire.encode(message)[4:]))
        return wire.decode_body(wire.encode(answer)[4:])

    def close(self) -> None:
        self._server = None
