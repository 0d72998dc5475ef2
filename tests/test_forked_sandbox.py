"""Students forked from ONE template, one after another and at the same time, against each other.

The attacks of a single student run against ``ForkedSandbox`` in ``test_sandbox_attacks`` and
``test_bwrap_sandbox``; here a student attacks the others and the template: their files on
disk and in memory, their processes, every channel two processes on one machine could share,
and their start-up (a fork bomb or a memory hog must not stop the next student).
"""
from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import pytest
import torch

from autograder.sandbox import template as template_module
from autograder.sandbox.base import SandboxDied
from autograder.sandbox.bwrap import BwrapSandbox
from autograder.sandbox.limits import Limits
from autograder.sandbox.template import ForkedSandbox, Template
from test_sandbox_attacks import host_processes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BwrapSandbox.available() or os.geteuid() != 0,
                       reason="the sandbox template needs bubblewrap and root"),
]
MARKER = f"student-secret-{secrets.token_hex(16)}"
FIRST, SECOND = MARKER[:20].encode(), MARKER[20:].encode()  # never held side by side but in the secret itself
SCAN = '''
def occurrences(pid, first, second):
    """How often first + second is in the writable memory of pid, without ever joining the two."""
    found = 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps.read().splitlines():
            fields = line.split()
            if not fields[1].startswith("rw"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            for offset in range(start, end, 1 << 24):
                try:
                    mem.seek(offset)
                    chunk = mem.read(min(end - offset, (1 << 24) + len(first) + len(second)))
                except (OSError, ValueError, OverflowError):
                    break
                at = chunk.find(first)
                while at != -1:
                    found += chunk[at + len(first):at + len(first) + len(second)] == second
                    at = chunk.find(first, at + 1)
    return found
'''


@pytest.fixture(scope="module")
def template():
    shared = Template()
    yield shared
    shared.close()


def student(template: Template, files: Path | None = None, limits: Limits = Limits()) -> ForkedSandbox:
    return ForkedSandbox(files, limits, template)


def scan_cell(pid: str) -> str:
    return f"{SCAN}\nprint('found', occurrences({pid!r}, bytes.fromhex({FIRST.hex()!r}), bytes.fromhex({SECOND.hex()!r})))"


def zygote_pid(template: Template) -> int:
    """The template's host pid: the first process under bwrap running the zygote module."""
    pending = [template._process.pid]
    while pending:
        pid = pending.pop(0)
        if b"autograder.inside.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
        for task in os.listdir(f"/proc/{pid}/task"):
            pending += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    raise AssertionError("no zygote under the template's bwrap")


def test_a_student_files_reach_neither_the_template_nor_a_later_student(template: Template, tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "secret.txt").write_text(MARKER)
    with student(template, tmp_path / "alice") as alice:
        assert alice.run_cell("kept = open('secret.txt').read()\nprint(kept)").stdout == MARKER + "\n"
        assert alice.run_cell(scan_cell("self")).stdout != "found 0\n"  # the scan does find a secret it holds
        exec(SCAN, scope := {})
        assert scope["occurrences"](zygote_pid(template), FIRST, SECOND) == 0
        with student(template) as bob:
            assert bob.run_cell(scan_cell("self")).stdout == "found 0\n"
            run = bob.run_cell("import os, glob\nprint(os.listdir('.'), os.listdir('/home'), "
                               "glob.glob('/proc/*/root/home/student/*'), glob.glob('/proc/*/cwd/*'))")
            assert run.stdout == "['.autograder.log'] ['student'] [] []\n"


def test_no_other_process_is_visible_signalable_or_traceable(template: Template) -> None:
    with student(template) as alice, student(template) as bob:
        assert alice.uid != bob.uid
        run = bob.run_cell(
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
            "reachable = []\nfor pid in range(1, 40000):\n    try:\n        os.kill(pid, 0); reachable.append(pid)\n"
            "    except ProcessLookupError:\n        pass\n    except PermissionError:\n        reachable.append(-pid)\n"
            "print(reachable, libc.ptrace(16, 1, 0, 0), ctypes.get_errno())\n"
            "print(open('/proc/self/status').read().split('Uid:')[1].split()[0])"
        )
        visible, reachable, identity = run.stdout.splitlines()
        assert visible == "[1, 2]"  # its reaper and itself: no sibling, no template
        assert reachable == "[-1, 2] -1 1"  # pid 1 refuses signals and PTRACE_ATTACH (EPERM)
        assert identity == str(bob.uid)
        assert alice.run_cell("print('alive')").stdout == "alive\n" and template.alive()


def test_students_share_no_loopback_socket_ipc_or_writable_place(template: Template) -> None:
    with student(template) as alice, student(template) as bob:
        setup = alice.run_cell(
            "import ctypes, socket\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "tcp = socket.create_server(('127.0.0.1', 45678))\n"
            "abstract = socket.socket(socket.AF_UNIX)\nabstract.bind('\\0autograder-alice')\nabstract.listen()\n"
            "socket.create_connection(('127.0.0.1', 45678), timeout=3).close()\n"
            "print('shm', libc.shmget(0x4242, 4096, 0o1666) >= 0)\n"
            "import os\nterminal = os.openpty()\nwith open('/dev/shm/alice', 'w') as shm:\n    shm.write('secret')\n"
        )
        assert setup.error is None and setup.stdout == "shm True\n"  # its own loopback and IPC work
        run = bob.run_cell(
            "import ctypes, os, socket\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "for attempt in (lambda: socket.create_connection(('127.0.0.1', 45678), timeout=3),\n"
            "                lambda: socket.socket(socket.AF_UNIX).connect('\\0autograder-alice'),\n"
            "                lambda: open('/dev/shm/alice'), lambda: open('/tmp/x', 'w')):\n"
            "    try:\n        attempt(); print('REACHED')\n    except OSError as exc:\n        print(type(exc).__name__)\n"
            "print(libc.shmget(0x4242, 0, 0), ctypes.get_errno(), os.listdir('/dev/shm'), os.listdir('/dev/pts'))"
        )
        assert run.stdout.split() == ["ConnectionRefusedError", "ConnectionRefusedError", "FileNotFoundError",
                                      "FileNotFoundError", "-1", "2", "[]", "['ptmx']"]  # bob's /dev/shm is his own


def test_what_a_student_leaves_behind_dies_with_it_and_spares_the_others(template: Template) -> None:
    marker = "AUTOGRADER-LEFT-BEHIND"
    bob = student(template)
    with student(template) as alice:
        run = alice.run_cell(
            "import os, subprocess, sys, time\n"
            f"subprocess.Popen([sys.executable, '-c', 'import os, time\\nif os.fork(): os._exit(0)\\n"
            f"os.setsid()\\ntime.sleep(600)', '{marker}'], start_new_session=True)\n"
            "if os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n"
        )
        assert run.error is None and len(host_processes(uid=alice.uid)) >= 3
    assert host_processes(uid=alice.uid) == [] and host_processes(marker=marker) == []
    assert bob.run_cell("print(6 * 7)").stdout == "42\n"
    bob.close()


def test_a_fork_bomb_and_a_memory_hog_do_not_stop_the_next_student(template: Template) -> None:
    with student(template) as alice:
        bomb = alice.run_cell(
            "import os, time\nforks = 0\n"
            "while True:\n    try:\n        pid = os.fork()\n    except OSError as exc:\n"
            "        print('stopped', type(exc).__name__); break\n"
            "    if pid == 0:\n        while True:\n            try:\n                os.fork()\n"
            "            except OSError:\n                time.sleep(60)\n"
            "    forks += 1\n"
            "blocks = []\ntry:\n    while True:\n        blocks.append(bytearray(64 * 2**20))\n"
            "except MemoryError:\n    print('hogging', len(blocks) * 64, 'MiB')\n"
        )
        assert "stopped BlockingIOError" in bomb.stdout and "hogging" in bomb.stdout
        with student(template) as bob:
            assert bob.startup_seconds < 5
            assert bob.run_cell("print(sum(range(10)))").stdout == "45\n"
    assert host_processes(uid=alice.uid) == []


def test_students_one_after_another_and_at_the_same_time(template: Template) -> None:
    one_after_another = []
    for _ in range(5):
        with student(template) as box:
            one_after_another.append(box.startup_seconds)
            assert box.run_cell("import torch\nprint(torch.rand(1).item())").error is None
    assert sorted(one_after_another)[2] < 1.0  # a fork, not a new Python (about 2.5 s)
    answers: dict[int, str] = {}

    def grade(n: int) -> None:
        with student(template) as box:
            box.run_cell(f"import torch\ndef f(a):\n    return a * {n}")
            answers[n] = f"{float(box.call('f', [torch.tensor(2.0)]).value):g} {box.uid}"

    threads = [threading.Thread(target=grade, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answers[n].split()[0] for n in range(4)] == ["0", "2", "4", "6"]
    assert len({answer.split()[1] for answer in answers.values()}) == 4


def test_every_student_starts_from_the_same_seeded_state(template: Template) -> None:
    draws = set()
    for _ in range(2):
        with student(template) as box:
            draws.add(box.run_cell("import random, numpy, torch\n"
                                   "print(random.random(), numpy.random.rand(), torch.rand(1).item())").stdout)
    assert len(draws) == 1


def test_closing_a_template_ends_every_child_it_forked() -> None:
    own = Template()
    box = student(own)
    assert box.run_cell("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)").error is None
    own.close()
    assert host_processes(uid=box.uid) == []
    with pytest.raises(SandboxDied):
        box.run_cell("1")


def test_a_dead_template_is_replaced_on_next_use(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = Template()
    dead._process.kill()
    dead._process.wait()
    monkeypatch.setattr(template_module, "_shared", dead)
    fresh = template_module.shared_template()
    try:
        assert fresh is not dead and fresh.alive() and not dead.alive()
        with ForkedSandbox() as box:
            assert box.template is fresh and box.run_cell("print('ok')").stdout == "ok\n"
    finally:
        fresh.close()
