"""One cgroup of a sandbox (or of a template), in each folder of the hierarchy ``cgroups`` found.

What a sandbox does with its group: join it before any student code runs, count what the kernel
killed there for want of memory, read its CPU use, and at the end kill what is left and remove it.
The files are read and written directly: cgroupfs has no library worth depending on.
"""
from __future__ import annotations

import errno
import logging
import os
import signal
import time
from pathlib import Path

CLOSE_SECONDS = 5.0
log = logging.getLogger(__name__)


def read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def write(path: Path, value: object) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # cgroupfs refuses to create a file
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


class Group:
    """One cgroup, in each of the hierarchy's folders: a sandbox's (with limits) or a template's."""

    def __init__(self, version: int, dirs: dict[str, Path]) -> None:
        self.version = version
        self.dirs = dirs  # controller (or "unified") -> this group's folder
        self.folders = sorted(set(dirs.values()))
        memory = dirs.get("memory", dirs.get("unified"))
        self._oom_path = memory / ("memory.events" if version == 2 else "memory.oom_control")
        self._oom: int | None = None  # kept open: read after every answer on v1 (under a microsecond)
        self._failcnt = memory / "memory.failcnt"

    def join_self(self) -> None:
        """Put the calling process in the group (a ``preexec_fn``: after fork, before exec)."""
        for folder in self.folders:
            write(folder / "cgroup.procs", os.getpid())

    def add(self, pid: int) -> None:
        for folder in self.folders:
            write(folder / "cgroup.procs", pid)

    def adopt(self, init: int, among: "Group | None") -> None:
        """Move a forked sandbox's init, then whatever it already forked (the server, waiting for its files).

        Race-free: a child the init forks after it moved is born in the group; one forked before
        already shows, in the template's group (``among``) or, without one, in ``/proc``.
        """
        try:
            self.add(init)
            for pid in among.pids() if among is not None else _all_pids():
                if pid != init and _parent(pid) == init:
                    self.add(pid)
        except ProcessLookupError:
            pass  # it died already: the startup ping says how

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            found.update(int(p) for p in read(folder / "cgroup.procs").split())
        return found

    def oom_kills(self) -> int:
        """Processes the kernel killed here for want of memory."""
        try:
            if self._oom is None:
                self._oom = os.open(self._oom_path, os.O_RDONLY | os.O_CLOEXEC)
            text = os.pread(self._oom, 4096, 0).decode()
        except OSError:
            return 0
        for line in text.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0 if self.version == 2 else int(read(self._failcnt).strip() or 0)  # kernels before 4.13

    def cpu_usage(self) -> tuple[float, int]:
        """CPU seconds used and the number of periods throttled by the quota, for tests and reports."""
        if self.version == 2:
            stat = dict(line.split() for line in read(self.dirs["unified"] / "cpu.stat").splitlines())
            return int(stat.get("usage_usec", 0)) / 1e6, int(stat.get("nr_throttled", 0))
        used = int(read(self.dirs["cpuacct"] / "cpuacct.usage") or 0) / 1e9 if "cpuacct" in self.dirs else 0.0
        stat = dict(line.split() for line in read(self.dirs["cpu"] / "cpu.stat").splitlines()) if "cpu" in self.dirs else {}
        return used, int(stat.get("nr_throttled", 0))

    def cpu_quota(self) -> float | None:
        """Cores the group may use at once; None: no quota."""
        if self.version == 2:
            quota, period = (read(self.dirs["unified"] / "cpu.max").split() or ["max", "1"])[:2]
        else:
            quota, period = (read(self.dirs["cpu"] / f"cpu.cfs_{name}_us").strip() if "cpu" in self.dirs else "-1"
                             for name in ("quota", "period"))
        return None if quota in ("max", "-1") else int(quota) / int(period)

    def close(self) -> None:
        """Kill what is left in the group and remove it (a process that is gone may stay a zombie)."""
        if self._oom is not None:
            os.close(self._oom)
            self._oom = None
        kill_and_remove(self.folders)


def kill_and_remove(folders: list[Path]) -> None:
    """Kill every process of the groups in ``folders`` (v2: through ``cgroup.kill``) and remove them."""
    for folder in folders:
        if (folder / "cgroup.kill").exists():
            try:
                write(folder / "cgroup.kill", 1)
            except OSError:
                pass
    deadline = time.monotonic() + CLOSE_SECONDS
    left = list(folders)
    while left:
        for folder in left:
            for pid in read(folder / "cgroup.procs").split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        left = [folder for folder in left if not remove_empty(folder)]
        if left and time.monotonic() > deadline:
            log.warning("cgroup %s still busy after %g s; left in place", left[0], CLOSE_SECONDS)
            return
        if left:
            time.sleep(0.01)


def remove_empty(folder: Path) -> bool:
    """Remove an empty group; False while it still has processes."""
    try:
        folder.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return False
        log.warning("cannot remove cgroup %s: %s", folder, exc)
    return True


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int | None:
    stat = read(Path(f"/proc/{pid}/stat"))
    return int(stat.rsplit(")", 1)[1].split()[1]) if ")" in stat else None
