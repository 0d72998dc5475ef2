"""Limits that hold for a whole sandbox, not per process: one cgroup per student's sandbox.

The rlimits (``Limits.rlimits``) hold per process: RLIMIT_AS lets every process of a submission
have its 2 GiB, so one that spreads memory over many processes could take the machine. Here each
sandbox also gets a cgroup of its own, with a memory limit without swap, a pids limit and a CPU
quota (``Limits.sandbox_memory``, ``sandbox_pids``, ``cpu_cores``) for all its processes together.

Where: cgroup v2 when a mounted unified hierarchy offers the memory and pids controllers (groups
under its root, ``/sys/fs/cgroup/autograder-<pid>/``: a v2 group with processes cannot hand
controllers down, so not under the grader's own group), else the v1 controllers, each under the
grader's own group (``/sys/fs/cgroup/memory/<own>/autograder-<pid>/``). Inside that parent: one
group per sandbox (``sandbox-<uid>-<n>``), and one per template (``template-<n>``), which has no
limits and only lets the host find a forked child's processes without a scan of ``/proc``.

Joining before any student code runs: a launched sandbox starts in its group (the launcher's
``preexec_fn``); a forked one moves the namespace's init, then the server it forked (the server
waits for the student's files, which the host sends only afterwards), see ``Group.adopt``.

On an out-of-memory kill the sandbox is over: v2 kills the whole group (``memory.oom.group``), and
on v1 the host checks the group's ``oom_kill`` counter after every answer. ``close`` kills what is
left and removes the group; the parent goes at exit (a dead grader's empty ones at the next start).

Where none of this works (not root, no writable hierarchy, v2 without the controllers), sandboxes
keep only their rlimits; this module warns once and ``fallback_reason`` says why, for the records.
"""
from __future__ import annotations

import atexit
import errno
import itertools
import logging
import multiprocessing.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from autograder.sandbox.cgroup_group import Group, kill_and_remove, read, remove_empty, write
from autograder.sandbox.limits import Limits

V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
OPTIONAL = {"cpu", "cpuacct"}  # without them: no CPU quota (or usage) per sandbox, the rest holds
CPU_PERIOD_US = 100_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hierarchy:
    """Where this grader's groups go: one folder for v2, one per controller for v1."""

    version: int
    bases: dict[str, Path] = field(hash=False)  # v2: {"unified": root}; v1: controller -> own group's folder

    @property
    def cpu(self) -> bool:
        return "cpu" in self.bases or self.version == 2 and self._v2_has("cpu")

    def _v2_has(self, controller: str) -> bool:
        return controller in read(self.bases["unified"] / "cgroup.controllers").split()


def detect(mountinfo: str, own_groups: str, euid: int) -> Hierarchy | str:
    """The hierarchy to use, from ``/proc/self/mountinfo`` and ``/proc/self/cgroup``, or why there is none."""
    if euid != 0:
        return "the grader does not run as root"
    own = {}
    for line in own_groups.splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else ["unified"]:
            own[name] = path
    v1, unified = {}, []
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line:
            continue
        kind, options = line.split(" - ", 1)[1].split()[0], line.split(" - ", 1)[1].split()[-1].split(",")
        root, point = fields[3], Path(fields[4].replace("\\040", " "))
        if kind == "cgroup2":
            unified.append(point)
        elif kind == "cgroup":
            for name in V1_CONTROLLERS:
                if name in options and name in own:
                    relative = os.path.relpath(own[name], root) if own[name].startswith(root) else "."
                    v1[name] = Path(os.path.normpath(point / relative))
    missing = []
    for point in unified:
        offered = read(point / "cgroup.controllers").split()
        if "memory" in offered and "pids" in offered:
            return Hierarchy(2, {"unified": point})
        missing.append(f"cgroup v2 at {point} offers no {' or '.join(c for c in ('memory', 'pids') if c not in offered)}"
                       " controller")
    if "memory" in v1 and "pids" in v1:
        return Hierarchy(1, v1)
    return "; ".join(missing) or "no cgroup hierarchy with the memory and pids controllers is mounted"


class Manager:
    """This grader process's parent group and the groups under it."""

    def __init__(self, hierarchy: Hierarchy, name: str | None = None) -> None:
        self.hierarchy = hierarchy
        self.owner = os.getpid()
        self.parents: dict[str, Path] = {}
        self._serial = itertools.count()
        name = name or f"autograder-{self.owner}"
        try:
            for base in sorted(set(hierarchy.bases.values())):
                controllers = [c for c, where in hierarchy.bases.items() if where == base]
                try:
                    _sweep(base)
                    (base / name).mkdir()
                except OSError as exc:
                    if not set(controllers) <= OPTIONAL:
                        raise OSError(exc.errno, f"cannot create {base / name}: {exc.strerror}") from None
                    log.warning("no %s per sandbox: cannot create %s (%s)", "/".join(controllers), base / name, exc)
                    continue
                self.parents.update((controller, base / name) for controller in controllers)
            self.cpu = "cpu" in self.parents  # v2: once the controller is delegated
            if hierarchy.version == 2:
                self._delegate(hierarchy.bases["unified"], self.parents["unified"])
        except OSError:
            self.close()
            raise

    def _delegate(self, base: Path, parent: Path) -> None:
        """v2: the memory and pids controllers (and cpu if it can be had) for the groups under ``parent``."""
        wanted = ["memory", "pids", *(["cpu"] if self.hierarchy.cpu else [])]
        self.cpu = False
        for folder in (base, parent):
            enabled = read(folder / "cgroup.subtree_control").split()
            for controller in list(wanted):
                if controller not in enabled:
                    try:
                        write(folder / "cgroup.subtree_control", f"+{controller}")
                    except OSError as exc:
                        if controller != "cpu":
                            raise OSError(exc.errno, f"cannot enable the {controller} controller in {folder}: "
                                                     f"{exc.strerror}") from None
                        wanted.remove("cpu")
                        log.warning("no CPU quota per sandbox: cannot enable the cpu controller in %s", folder)
        self.cpu = "cpu" in wanted

    def group(self, name: str, limits: Limits | None) -> Group:
        """A new group; with ``limits``, a sandbox's: memory without swap, pids and CPU for all its processes."""
        name = f"{name}-{next(self._serial)}"
        dirs = {controller: parent / name for controller, parent in self.parents.items()}
        made: list[Path] = []
        try:
            for folder in sorted(set(dirs.values())):
                folder.mkdir()
                made.append(folder)
            if limits is not None:
                self._limit(dirs, limits)
            return Group(self.hierarchy.version, dirs)
        except OSError:
            for folder in made:
                remove_empty(folder)
            raise

    def _limit(self, dirs: dict[str, Path], limits: Limits) -> None:
        memory, pids, quota = limits.sandbox_memory, limits.sandbox_pids, int(limits.cpu_cores * CPU_PERIOD_US)
        if self.hierarchy.version == 2:
            here = dirs["unified"]
            write(here / "memory.max", memory)
            if (here / "memory.swap.max").exists():
                write(here / "memory.swap.max", 0)
            write(here / "memory.oom.group", 1)
            write(here / "pids.max", pids)
            if self.cpu:
                write(here / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return
        write(dirs["memory"] / "memory.limit_in_bytes", memory)
        if (dirs["memory"] / "memory.memsw.limit_in_bytes").exists():  # memory + swap: no swap at all
            write(dirs["memory"] / "memory.memsw.limit_in_bytes", memory)
        write(dirs["pids"] / "pids.max", pids)
        if "cpu" in dirs:
            write(dirs["cpu"] / "cpu.cfs_period_us", CPU_PERIOD_US)
            write(dirs["cpu"] / "cpu.cfs_quota_us", quota)

    def close(self) -> None:
        """Remove every group left under the parent (killing what runs there), then the parent."""
        for parent in sorted(set(self.parents.values())):
            if parent.is_dir():
                kill_and_remove([child for child in parent.iterdir() if child.is_dir()])
                remove_empty(parent)
        self.parents = {}


def _sweep(base: Path) -> None:
    """Remove the empty groups of graders that died without removing them."""
    for entry in base.glob("autograder-*"):
        pid = entry.name.removeprefix("autograder-")
        if not pid.isdigit() or _alive(int(pid)):
            continue
        for child in entry.iterdir():
            if child.is_dir():
                remove_empty(child)
        remove_empty(entry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


_lock = threading.Lock()
_manager: Manager | None = None
_reason: str | None = None  # why there are no groups, once known
_fell_back = False  # a sandbox that wanted a group ran without one


def _manager_or_reason() -> Manager | None:
    global _manager, _reason
    if _manager is None and _reason is None:
        found = detect(read(Path("/proc/self/mountinfo")), read(Path("/proc/self/cgroup")), os.geteuid())
        try:
            if isinstance(found, str):
                raise OSError(errno.ENOTSUP, found)
            _manager = Manager(found)
            multiprocessing.util.Finalize(None, _close, exitpriority=0)  # pool workers leave through os._exit
        except OSError as exc:
            _reason = exc.strerror or str(exc)
            log.warning("memory, processes and CPU are limited per process only, not per sandbox: "
                        "cgroups unavailable (%s)", _reason)
    return _manager


def sandbox_group(uid: int | None, limits: Limits) -> Group | None:
    """A group for one sandbox, with ``limits``; None (warned once) where cgroups cannot be used."""
    global _fell_back, _reason
    with _lock:
        manager = _manager_or_reason()
        if manager is not None:
            try:
                return manager.group(f"sandbox-{uid if uid is not None else 'x'}", limits)
            except OSError as exc:
                _reason = f"cannot create a sandbox's cgroup: {exc}"
                log.warning("this sandbox is limited per process only: %s", _reason)
        _fell_back = True
        return None


def template_group() -> Group | None:
    """A group without limits for a template (the children it forks leave it for their own)."""
    with _lock:
        manager = _manager_or_reason()
        try:
            return manager.group("template", None) if manager is not None else None
        except OSError as exc:
            log.warning("no cgroup for the sandbox template (%s); forked sandboxes are found through /proc", exc)
            return None


def fallback_reason() -> str | None:
    """Why a sandbox of this process ran with per-process limits only; None if none did."""
    return (_reason or "unknown") if _fell_back else None


def unavailable_reason() -> str | None:
    """Why this process cannot put sandboxes in cgroups (detecting it now if need be); None if it can."""
    with _lock:
        _manager_or_reason()
        return _reason


def _close() -> None:
    global _manager
    if _manager is not None and _manager.owner == os.getpid():
        _manager.close()
        _manager = None


def _forget() -> None:
    """In a forked copy of the grader: the parent's groups are the parent's; make its own when needed."""
    global _manager, _lock, _fell_back
    _lock = threading.Lock()
    _manager = None
    _fell_back = False


atexit.register(_close)
os.register_at_fork(after_in_child=_forget)
