"""Prometheus metrics on ``/metrics`` (prometheus_client), on the loopback interface by default.

The same figures as ``service-status``: submissions by state, queue depth, gradings in hand,
submit-to-feedback latency, flagged timestamps. Counters count from the service's start (as
Prometheus expects); ``service-status`` reads the all-time figures from the state file.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from autograder.errors import AuthoringError

LATENCY_BUCKETS = (0.5, 1, 2, 3, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.transitions = Counter("autograder_submissions", "Submissions reaching each state",
                                   ("assignment", "state"), registry=self.registry)
        self.queue = Gauge("autograder_queue_depth", "Submissions waiting for feedback (queued or "
                           "being written)", registry=self.registry)
        self.grading = Gauge("autograder_grading", "Submissions being graded now", registry=self.registry)
        self.latency = Histogram("autograder_feedback_latency_seconds",
                                 "Seconds from submission (time of record) to its feedback in the exchange "
                                 "(not counting submissions that waited for the rate limit)",
                                 ("assignment",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.flags = Counter("autograder_timestamp_flags", "timestamp.txt files earlier than the time of "
                             "record beyond the tolerance", ("assignment",), registry=self.registry)
        self.address = ""
        self._server = None

    def serve(self, host: str, port: int) -> str:
        """Start ``/metrics``; returns its address ("" when ``port`` is -1)."""
        if port < 0:
            return ""
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise AuthoringError(
                f"cannot serve /metrics on {host}:{port} ({exc.strerror}): another program has that port; "
                "set c.InstantFeedback.metrics_port (0: any free port, -1: none) or pass --metrics-port") from None
        self._server = server
        shown = f"[{host}]" if ":" in host else host
        self.address = f"http://{shown}:{server.server_port}/metrics"
        return self.address

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
