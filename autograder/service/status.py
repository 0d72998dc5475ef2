"""``python -m autograder service-status``: what the service is doing, from its state file."""
from __future__ import annotations

import fcntl
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import AuthoringError
from autograder.service.store import Store

WAITING = ("waiting", "queued", "grading", "graded")


def lock_path(state: Path) -> Path:
    return state.with_name(state.name + ".lock")


def running(state: Path) -> bool:
    """Whether a service holds the course's lock now."""
    try:
        fd = os.open(lock_path(state), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass(frozen=True)
class Status:
    running: bool
    pid: str | None
    started: str | None
    watching: str | None
    metrics: str | None
    counts: dict[str, int]
    queue_depth: int
    p50: float | None
    p95: float | None
    answered: int
    flags: int

    def lines(self) -> list[str]:
        head = (f"running (pid {self.pid}, since {self.started}, {self.watching})" if self.running
                else "not running" + (f" (last started {self.started})" if self.started else ""))
        fmt = lambda x: "-" if x is None else f"{x:.1f} s"  # noqa: E731
        out = [f"service: {head}", f"queue depth: {self.queue_depth}",
               f"submit to feedback: p50 {fmt(self.p50)}, p95 {fmt(self.p95)} over {self.answered} feedbacks "
               "(not counting waits for the rate limit)",
               "submissions: " + (", ".join(f"{n} {s}" for s, n in sorted(self.counts.items())) or "none"),
               f"flagged timestamps: {self.flags}"]
        if self.running and self.metrics:
            out.append(f"metrics: {self.metrics}")
        return out


def read_status(state: Path) -> Status:
    if not state.is_file():
        raise AuthoringError(f"no service state at {state}: start the service with `python -m autograder serve`")
    store = Store(state, readonly=True)
    try:
        counts = store.counts()
        latencies = store.latencies()
        flags = len(store.flags())
        meta = {k: store.meta(k) for k in ("pid", "started", "watching", "metrics")}
    finally:
        store.close()
    return Status(running(state), meta["pid"], meta["started"], meta["watching"], meta["metrics"], counts,
                  sum(counts.get(s, 0) for s in WAITING), percentile(latencies, 50), percentile(latencies, 95),
                  len(latencies), flags)


def acquire(state: Path) -> int:
    """Take the course's lock (one service per course) or say who holds it."""
    state.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(state), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise AuthoringError(f"a grading service is already running for this course (pid {holder}, lock "
                             f"{lock_path(state)}): stop it first; `python -m autograder service-status` "
                             "shows what it is doing") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")
