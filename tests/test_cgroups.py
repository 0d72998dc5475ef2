"""Limits for a whole sandbox (``autograder.sandbox.cgroups``): memory, processes and CPU of all
its processes together, one cgroup per student, for both jails.

The real-kernel tests run on whichever hierarchy the machine has (v1 controllers or v2 with the
memory and pids controllers); the v2 file writes are also checked against a fake tree, so they
are checked even on a v1 machine (there, not against a kernel).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from nbformat import v4

import cheats
from autograder.judge.grader import Assignment, Settings, grade_submission
from autograder.judge.results import PER_PROCESS_LIMITS
from autograder.reports.html_report import write_report
from autograder.reports.records import result_from_json, result_to_json
from autograder.sandbox import cgroup_group, cgroups
from autograder.sandbox.base import SandboxDied
from autograder.sandbox.bwrap import BwrapSandbox
from autograder.sandbox.factory import sandbox_factory
from autograder.sandbox.limits import GiB, Limits
from autograder.sandbox.process import _describe_exit
from autograder.sandbox.template import ForkedSandbox

REAL = cgroups.detect(Path("/proc/self/mountinfo").read_text(), Path("/proc/self/cgroup").read_text(), os.geteuid())
needs_cgroups = pytest.mark.skipif(
    isinstance(REAL, str) or not BwrapSandbox.available(), reason=f"no usable cgroups or bubblewrap here: {REAL}")
JAILS = [pytest.param(BwrapSandbox, id="bwrap"), pytest.param(ForkedSandbox, id="forked")]

V1_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V1_OWN = "8:pids:/\n4:memory:/docker/abc/grader\n1:cpu,cpuacct:/\n0::/\n"


# --- detection and the v2 writes, against fake trees -------------------------------------------

def test_v1_controllers_are_found_under_the_graders_own_groups(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("")  # a v2 mount without controllers does not count
    found = cgroups.detect(V1_MOUNTINFO.replace("/sys/fs/cgroup/unified", str(tmp_path)), V1_OWN, 0)
    assert found == cgroups.Hierarchy(1, {
        "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"), "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "memory": Path("/sys/fs/cgroup/memory/grader"), "pids": Path("/sys/fs/cgroup/pids")})


def test_v2_is_preferred_when_it_offers_memory_and_pids(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mountinfo = f"29 23 0:26 / {tmp_path} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    assert cgroups.detect(mountinfo, "0::/user.slice/grader.scope\n", 0) == cgroups.Hierarchy(2, {"unified": tmp_path})
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory\n")
    assert "offers no pids controller" in cgroups.detect(mountinfo, "0::/\n", 0)
    assert cgroups.detect(mountinfo, "0::/\n", 1000) == "the grader does not run as root"
    assert "no cgroup hierarchy" in cgroups.detect("", "0::/\n", 0)


def test_v2_groups_get_their_limits_in_a_fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The v2 path's writes, in order. Not a kernel: the limits themselves are checked on v1 here."""
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory\n")
    writes: list[tuple[str, str]] = []
    real_write = cgroups.write

    def recorded(path: Path, value: object) -> None:
        writes.append((str(path.relative_to(tmp_path)), str(value)))
        real_write(path, value)

    monkeypatch.setattr(cgroups, "write", recorded)
    monkeypatch.setattr(cgroup_group, "write", recorded)
    manager = cgroups.Manager(cgroups.Hierarchy(2, {"unified": tmp_path}), name="autograder-test")
    assert writes == [("cgroup.subtree_control", "+pids"), ("cgroup.subtree_control", "+cpu"),
                      ("autograder-test/cgroup.subtree_control", "+memory"),
                      ("autograder-test/cgroup.subtree_control", "+pids"),
                      ("autograder-test/cgroup.subtree_control", "+cpu")]
    writes.clear()
    group = manager.group("sandbox-7", Limits(sandbox_memory_bytes=GiB, processes=10, cpu_cores=1.5))
    assert writes == [("autograder-test/sandbox-7-0/memory.max", str(GiB)),
                      ("autograder-test/sandbox-7-0/memory.oom.group", "1"),
                      ("autograder-test/sandbox-7-0/pids.max", "14"),
                      ("autograder-test/sandbox-7-0/cpu.max", "150000 100000")]
    writes.clear()
    group.add(4321)
    assert writes == [("autograder-test/sandbox-7-0/cgroup.procs", "4321")]
    folder = tmp_path / "autograder-test/sandbox-7-0"
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 1\noom_kill 2\noom_group_kill 1\n")
    (folder / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nnr_throttled 3\n")
    assert group.oom_kills() == 2 and group.cpu_usage() == (1.5, 3) and group.cpu_quota() == 1.5


def test_an_out_of_memory_kill_is_described_as_the_whole_sandboxs() -> None:
    limits = Limits(sandbox_memory_bytes=GiB)
    assert (_describe_exit(-9, limits, out_of_memory=True)
            == "the kernel died: exceeded the memory limit of 1 GiB for the whole sandbox")
    assert "likely exceeded the memory limit of 2 GiB" in _describe_exit(-9, limits)
    assert Limits().sandbox_memory == 2 * GiB and Limits(processes=10).sandbox_pids == 14


# --- the real kernel: both jails --------------------------------------------------------------

def counter(group: cgroups.Group, controller: str, v1_file: str, v2_file: str) -> int:
    if group.version == 2:
        return int((group.dirs["unified"] / v2_file).read_text().split()[0])
    return int((group.dirs[controller] / v1_file).read_text().split()[0])


@needs_cgroups
@pytest.mark.slow
@pytest.mark.parametrize("jail", JAILS)
def test_memory_spread_over_processes_is_held_for_the_whole_sandbox(jail: type) -> None:
    """Six processes of 400 MiB, each far under its 2 GiB address space, but 2.4 GiB in all."""
    limits = Limits(sandbox_memory_bytes=GiB)
    box = jail(limits=limits)
    group = box._group
    assert group is not None and box.child_pid in group.pids()
    assert counter(group, "memory", "memory.limit_in_bytes", "memory.max") == GiB
    hog = ("import os, time\nchildren = []\nfor i in range(6):\n    pid = os.fork()\n    if pid == 0:\n"
           "        block = b'x' * (400 * 2**20)\n        time.sleep(3)\n        os._exit(0)\n"
           "    children.append(pid)\nfor pid in children:\n    os.waitpid(pid, 0)\nprint('all done')")
    with pytest.raises(SandboxDied, match="exceeded the memory limit of 1 GiB for the whole sandbox"):
        box.run_cell(hog, timeout=60)
    assert not any(folder.exists() for folder in group.folders)
    with jail(limits=limits) as fresh:  # the grader goes on: the next sandbox works
        assert fresh.run_cell("print(6 * 7)").stdout == "42\n"


@needs_cgroups
@pytest.mark.slow
@pytest.mark.parametrize("jail", JAILS)
def test_a_fork_bomb_is_held_by_the_sandboxs_pids_limit(jail: type) -> None:
    """RLIMIT_NPROC far away (1000): what stops it is the group's limit of 24 tasks."""
    box = jail(limits=Limits(processes=1000, sandbox_processes=24))
    group = box._group
    run = box.run_cell(
        cheats.FORK_BOMB, timeout=60)
    assert "stopped" in run.stdout and "BlockingIOError" in run.stdout
    assert counter(group, "pids", "pids.current", "pids.current") <= 24
    assert counter(group, "pids", "pids.max", "pids.max") == 24
    folders = group.folders
    box.close()
    assert not any(folder.exists() for folder in folders)


@needs_cgroups
@pytest.mark.slow
@pytest.mark.parametrize("jail", JAILS)
def test_busy_processes_share_the_sandboxs_cpu_quota(jail: type) -> None:
    """One core by default; measured with half a core, which two busy processes exceed even on a
    loaded machine (with a whole core, two cores shared with other work may never reach it)."""
    with jail() as box:
        assert box._group.cpu_quota() == 1.0
    with jail(limits=Limits(cpu_cores=0.5)) as box:
        group = box._group
        used_before, throttled_before = group.cpu_usage()
        started = time.monotonic()
        box.run_cell("import os, time\npid = os.fork()\nend = time.time() + 2.0\nwhile time.time() < end:\n"
                     "    pass\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)")
        wall = time.monotonic() - started
        used, throttled = group.cpu_usage()
    share = (used - used_before) / wall
    assert share < 0.5 * 1.2, f"{share:.2f} cores"
    assert throttled > throttled_before


@needs_cgroups
@pytest.mark.slow
def test_groups_are_removed_and_the_template_is_in_none_of_them() -> None:
    with ForkedSandbox() as box:
        template = box.template
        assert template.group is not None and not template.group.pids() & box._group.pids()
        assert template._process.pid in template.group.pids()
        folders = box._group.folders
        assert all(folder.parent.name == f"autograder-{os.getpid()}" for folder in folders)
    assert not any(folder.exists() for folder in folders)
    manager = cgroups.Manager(REAL, name=f"autograder-test-{os.getpid()}")
    group = manager.group("sandbox-1", Limits())
    parents = set(manager.parents.values())
    assert all(parent.is_dir() for parent in parents)
    manager.close()  # as at exit: what is left under the parent, then the parent
    assert not any(folder.exists() for folder in [*group.folders, *parents])


# --- where cgroups cannot be used -------------------------------------------------------------

@pytest.fixture
def no_cgroups(monkeypatch: pytest.MonkeyPatch) -> str:
    reason = "simulated: no cgroup hierarchy with the memory and pids controllers is mounted"
    monkeypatch.setattr(cgroups, "detect", lambda *args: reason)
    for name, value in (("_manager", None), ("_reason", None), ("_fell_back", False)):
        monkeypatch.setattr(cgroups, name, value)
    return reason


@pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here")
@pytest.mark.slow
def test_without_cgroups_grading_warns_once_and_the_records_and_report_say_so(
        no_cgroups: str, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    jail = ForkedSandbox if os.geteuid() == 0 else BwrapSandbox
    with caplog.at_level(logging.WARNING, logger=cgroups.__name__):
        for _ in range(2):
            with jail() as box:
                assert box._group is None and box.run_cell("print(1)").stdout == "1\n"
    warnings = [r.getMessage() for r in caplog.records if r.name == cgroups.__name__]
    assert len(warnings) == 1 and f"cgroups unavailable ({no_cgroups})" in warnings[0]
    assert cgroups.fallback_reason() == no_cgroups

    result = grade_submission("ada", Assignment.load("loss_functions"), v4.new_notebook(),
                              sandbox_factory(Limits(), None), Settings(max_examples=5))
    flag = [f for f in result.flags if f.kind == PER_PROCESS_LIMITS]
    assert [f.detail for f in flag] == [f"per-process limits only: cgroups unavailable ({no_cgroups})"]
    assert result_from_json(result_to_json(result)) == result
    text = write_report([result], tmp_path / "report.html", assignment="loss_functions", sandboxed=True).read_text()
    assert "limited per process only" in text and no_cgroups in text
    assert f"<code>{PER_PROCESS_LIMITS}</code>" not in text  # a banner, not an integrity flag on the student


@needs_cgroups
@pytest.mark.slow
def test_with_cgroups_no_record_carries_the_flag() -> None:
    result = grade_submission("ada", Assignment.load("loss_functions"), v4.new_notebook(),
                              sandbox_factory(Limits(), None), Settings(max_examples=5))
    assert result.status == "graded" and PER_PROCESS_LIMITS not in {f.kind for f in result.flags}
