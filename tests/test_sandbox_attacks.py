"""A hostile submission against the REAL bubblewrap sandboxes: every payload runs as student code.

Every attack runs against both jails: ``BwrapSandbox`` (a new Python per sandbox) and
``ForkedSandbox`` (forked from the template); the attacks between students forked from one
template are in ``test_forked_sandbox``.

Each attack must end as a value the grader can report (an error in the cell, ``CallTimeout``,
``SandboxDied``, ``SandboxFault``), never as a read or a write outside the sandbox, a hung
grader, or a process that outlives ``close()``.
"""
from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

import cheats
from autograder.inside import wire
from autograder.sandbox.base import CallTimeout, SandboxDied, SandboxFault
from autograder.sandbox.bwrap import BwrapSandbox
from autograder.sandbox.limits import Limits
from autograder.sandbox.process import ProcessSandbox
from autograder.sandbox.template import ForkedSandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here"),
]
REAL_COURSE = Path(__file__).resolve().parents[1]
SECRET = "TOP-SECRET-HIDDEN-TEST"
JAILS = [
    pytest.param(BwrapSandbox, id="bwrap"),
    pytest.param(ForkedSandbox, id="forked",
                 marks=pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox template needs root")),
]


@pytest.fixture(scope="module", params=JAILS)
def jail(request: pytest.FixtureRequest) -> type:
    """Which sandbox class the attacks run against."""
    return request.param


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course root with hidden material, a gradebook and two students' submissions."""
    root = tmp_path_factory.mktemp("course")
    for relative in ("source/loss_functions/secret.txt", "assignments/loss_functions/parts.py",
                     "gradebook.db", "submitted/bob/loss_functions/answers.txt"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(SECRET)
    alice = root / "submitted/alice/loss_functions"
    alice.mkdir(parents=True)
    (alice / "loss_functions.ipynb").write_text("{}")
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir" for p in root.rglob("*")}


def targets(course: Path) -> list[str]:
    return [str(course / "source/loss_functions/secret.txt"), str(course / "gradebook.db"),
            str(course / "submitted/bob/loss_functions/answers.txt"),
            str(course / "assignments/loss_functions/parts.py"), str(REAL_COURSE / "gradebook.db"),
            str(REAL_COURSE / "assignments/loss_functions/parts.py"), "/proc/1/root/etc/hostname",
            "/root/.bash_history"]


@pytest.fixture(scope="module")
def sandbox(course: Path, jail: type):
    with jail(course / "submitted/alice/loss_functions") as box:
        yield box


def host_processes(uid: int | None = None, marker: str | None = None) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            owner = entry.stat().st_uid
            cmdline = Path(entry.path, "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if (uid is not None and owner == uid) or (marker is not None and marker in cmdline):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """A zombie waiting for the host's init to reap it is dead too."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_secrets_of_the_course_and_other_students_cannot_be_read(sandbox: ProcessSandbox, course: Path) -> None:
    run = sandbox.run_cell(
        f"for path in {targets(course)!r}:\n"
        "    try:\n        print('READ', path, open(path).read()[:40])\n"
        "    except OSError as exc:\n        print('refused', path, type(exc).__name__)\n"
    )
    assert run.error is None
    assert "READ" not in run.stdout and SECRET not in run.stdout
    assert run.stdout.count("refused") == len(targets(course))


def test_the_course_root_cannot_be_written(sandbox: ProcessSandbox, course: Path) -> None:
    before = snapshot(course)
    run = sandbox.run_cell(
        f"for path in {targets(course)[:4]!r} + [{str(course / 'submitted/alice/new.txt')!r}]:\n"
        "    try:\n        open(path, 'w').write('pwned'); print('WROTE', path)\n"
        "    except OSError as exc:\n        print('refused', type(exc).__name__)\n"
    )
    assert "WROTE" not in run.stdout
    assert snapshot(course) == before


def test_the_sandbox_sees_only_its_own_files_and_the_inside_code(sandbox: ProcessSandbox) -> None:
    run = sandbox.run_cell(
        "import os\nprint(sorted(os.listdir('.')), sorted(os.listdir('/opt/grader/autograder')), "
        "sorted(os.listdir('/')), os.getuid())"
    )
    assert "'loss_functions.ipynb'" in run.stdout and "['__init__.py', 'inside']" in run.stdout
    assert "work" not in run.stdout and "tmp" not in run.stdout
    assert not run.stdout.rstrip().endswith(" 0")


def test_network_reaches_neither_the_host_loopback_nor_the_outside(sandbox: ProcessSandbox) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        run = sandbox.run_cell(
            "import socket\n"
            f"for address in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('pypi.org', 443)]:\n"
            "    try:\n        socket.create_connection(address, timeout=3); print('CONNECTED', address)\n"
            "    except OSError as exc:\n        print('refused', address, type(exc).__name__)\n"
        )
    finally:
        listener.close()
    assert "CONNECTED" not in run.stdout and run.stdout.count("refused") == 3


def test_an_infinite_loop_in_a_cell_times_out_and_a_fresh_sandbox_works(jail: type) -> None:
    box = jail()
    with pytest.raises(CallTimeout, match="timed out after 2 s"):
        box.run_cell("while True:\n    pass", timeout=2)
    with pytest.raises(SandboxFault, match="already closed"):
        box.run_cell("1")
    with jail() as fresh:
        assert fresh.run_cell("print(6 * 7)").stdout == "42\n"


def test_an_infinite_loop_inside_a_called_function_times_out(jail: type) -> None:
    with jail() as box:
        box.run_cell("def mse(a, b):\n    while True:\n        pass")
        with pytest.raises(CallTimeout):
            box.call("mse", [torch.zeros(2), torch.zeros(2)], timeout=2)


def test_a_memory_bomb_fails_inside_or_dies_with_a_memory_message(jail: type) -> None:
    with jail() as box:
        try:
            run = box.run_cell("blocks = []\nwhile True:\n    blocks.append(bytearray(256 * 2**20))")
        except SandboxDied as died:
            assert "memory limit of 2 GiB" in died.reason
        else:
            assert "MemoryError" in (run.error or "")
            assert box.run_cell("del blocks\nprint('alive')").stdout == "alive\n"


def test_a_fork_bomb_is_contained_by_the_process_limit(jail: type) -> None:
    limits = Limits()
    box = jail(limits=limits)
    run = box.run_cell(
        cheats.FORK_BOMB,
        timeout=60,
    )
    assert "stopped" in run.stdout and "BlockingIOError" in run.stdout
    assert len(host_processes(uid=box.uid)) <= limits.processes
    box.close()
    assert host_processes(uid=box.uid) == []


def test_a_background_process_does_not_outlive_close(jail: type) -> None:
    marker = "AUTOGRADER-ESCAPE-MARKER"
    box = jail()
    run = box.run_cell(
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import os, time\\nif os.fork(): os._exit(0)\\n"
        f"os.setsid()\\ntime.sleep(600)', '{marker}'], start_new_session=True)\n"
        f"subprocess.Popen(['sleep', '600', '{marker}'], start_new_session=True)\n"
    )
    assert run.error is None
    pid = box.child_pid
    box.close()
    assert host_processes(marker=marker) == [] and host_processes(uid=box.uid) == []
    assert not alive(pid)


@pytest.mark.parametrize("payload, reason", [
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed by signal SIGKILL"),
    ("import os\nos._exit(3)", "exited with code 3"),
    ("import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass\nos._exit(0)",
     "exited with code 0"),
])
def test_a_process_that_kills_itself_is_reported_as_died(payload: str, reason: str, jail: type) -> None:
    box = jail()
    with pytest.raises(SandboxDied, match=reason):
        box.run_cell(payload)


def test_a_flood_of_output_is_truncated_and_the_channel_stays_intact(jail: type) -> None:
    with jail() as box:
        run = box.run_cell("print('x' * 5_000_000)\nimport os\nos.write(1, b'y' * 5_000_000)")
        assert len(run.stdout) < 20_000 and "output truncated" in run.stdout
        box.run_cell("import torch\ndef mse(a, b):\n    print('noise' * 10**5)\n    return ((a - b) ** 2).mean()")
        assert float(box.call("mse", [torch.ones(3), torch.zeros(3)]).value) == 1.0


@pytest.mark.parametrize("garbage", [
    b"garbage!" * 100,
    b"\x00\x00\x00\x05hello",
    b'\x00\x00\x00\x13{"status":"ok","i":1}',
    wire.encode({"id": np.arange(2), "status": "ok"}),  # an array id: comparing it must not crash the grader
])
def test_garbage_written_to_every_descriptor_is_a_fault_not_an_answer(garbage: bytes, jail: type) -> None:
    box = jail()
    with pytest.raises(SandboxFault) as caught:
        box.run_cell(f"import os\nfor fd in range(1, 12):\n    try:\n        os.write(fd, {garbage!r})\n"
                     "    except OSError:\n        pass")
    assert not isinstance(caught.value, CallTimeout)
    assert "protocol" in caught.value.reason
    box.close()


def test_file_size_and_scratch_space_are_limited(jail: type) -> None:
    limits = Limits(file_bytes=8 * 2**20, scratch_bytes=32 * 2**20)
    with jail(limits=limits) as box:
        big = box.run_cell("open('big', 'wb').write(b'0' * (9 * 2**20))")
        assert "File too large" in (big.error or "")
        many = box.run_cell("for i in range(8):\n    open(f'part{i}', 'wb').write(b'0' * (7 * 2**20))")
        assert "No space left" in (many.error or "")
        assert box.run_cell("print('still fine')").stdout == "still fine\n"
