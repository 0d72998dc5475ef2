"""Noticing new submission folders in the exchange's inbound folder.

inotify (watchdog's native observer) tells within milliseconds that a folder appeared; on a
network filesystem, where inotify does not see other machines' writes, ``polling`` lists the
folder every ``poll_seconds`` instead (watchdog's polling observer). Only the inbound folder
itself is watched, not each submission: a folder name is all the service needs to hear, and it
then looks at the folder until nbgrader has finished writing it. Either way a full listing every
``rescan_seconds`` (``Watcher.due_for_rescan``) catches anything an event missed.
"""
from __future__ import annotations

import os
import queue
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver


class _Handler(FileSystemEventHandler):
    def __init__(self, inbound: Path, names: "queue.Queue[tuple[str, float]]") -> None:
        self.inbound, self.names = str(inbound), names

    def on_any_event(self, event: FileSystemEvent) -> None:
        for path in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(path)
            if path and os.path.dirname(path.rstrip("/")) == self.inbound:
                self.names.put((os.path.basename(path.rstrip("/")), time.time()))


class Watcher:
    """Folder names seen in ``inbound``, each with the time it was seen, through ``names``."""

    def __init__(self, inbound: Path, polling: bool, poll_seconds: float, rescan_seconds: float) -> None:
        self.inbound = inbound
        self.names: "queue.Queue[tuple[str, float]]" = queue.Queue()
        self.observer = PollingObserver(timeout=poll_seconds) if polling else Observer()
        self.observer.schedule(_Handler(inbound, self.names), str(inbound), recursive=False)
        self.rescan_seconds = rescan_seconds
        self.last_scan = 0.0
        self.kind = "polling" if polling else "inotify"

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)

    def listing(self) -> list[str]:
        """Every folder name in ``inbound`` now (the work list, read at start and every rescan)."""
        self.last_scan = time.monotonic()
        try:
            return sorted(e.name for e in os.scandir(self.inbound))
        except FileNotFoundError:
            return []

    def due_for_rescan(self) -> bool:
        return time.monotonic() - self.last_scan >= self.rescan_seconds

    def drain(self, wait: float) -> list[tuple[str, float]]:
        """Names seen since the last call (waiting up to ``wait`` seconds for the first)."""
        out = []
        try:
            out.append(self.names.get(timeout=wait) if wait > 0 else self.names.get_nowait())
            while True:
                out.append(self.names.get_nowait())
        except queue.Empty:
            pass
        return out
