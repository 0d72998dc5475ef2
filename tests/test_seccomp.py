"""The system-call filter (``autograder/inside/seccomp_filter.py``) in the REAL sandboxes.

Every blocked call is made from student code with ctypes' ``syscall`` in both jails
(``BwrapSandbox``: bwrap's ``--seccomp``; ``ForkedSandbox``: loaded by the child, never by the
template): it returns -1 with EPERM (ENOSYS for clone3) and the process lives on. Honest
workloads — torch, NumPy, matplotlib, threads, subprocesses, fork, IPython's ``!cmd`` — are
untouched, and an attempt in a graded notebook leaves the ``sandbox-escape`` flag.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

import cheats
from autograder.inside import seccomp_filter
from autograder.judge import integrity
from autograder.judge.grader import Assignment, Settings, grade_submission
from autograder.sandbox.bwrap import BwrapSandbox
from autograder.sandbox.limits import Limits
from autograder.sandbox.process import ProcessSandbox
from autograder.sandbox.template import ForkedSandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap cannot run here"),
]
JAILS = [
    pytest.param(BwrapSandbox, id="bwrap"),
    pytest.param(ForkedSandbox, id="forked",
                 marks=pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox template needs root")),
]
X86_64 = platform.machine() == "x86_64"
EPERM, ENOSYS = 1, 38
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17

PRELUDE = r'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(NUMBERS[name]), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    error = ctypes.get_errno()
    if result == 0 and name in ("clone", "clone3"):
        os._exit(0)  # the filter let a clone through: the copy must not run on as the server
    return result, error
buffer = ctypes.create_string_buffer(256)
address = ctypes.addressof(buffer)
'''
# (call, arguments as Python source, the errno expected)
BLOCKED = [
    ("unshare", f"{CLONE_NEWUSER}", EPERM),
    ("clone", f"{CLONE_NEWUSER | SIGCHLD}, 0, 0, 0, 0", EPERM),
    ("clone3", "address, 88", ENOSYS),
    ("io_uring_setup", "1, address", EPERM),
    ("userfaultfd", "0", EPERM),
    ("bpf", "0, address, 128", EPERM),
    ("perf_event_open", "address, 0, -1, -1, 0", EPERM),
    ("keyctl", "0, -3, 0", EPERM),  # KEYCTL_GET_KEYRING_ID of the session keyring
    ("add_key", "b'user', b'name', b'data', 4, -3", EPERM),
    ("request_key", "b'user', b'name', None, 0", EPERM),
    ("ptrace", "0, 0, 0, 0", EPERM),  # PTRACE_TRACEME
    ("process_vm_readv", "os.getppid(), address, 1, address, 1, 0", EPERM),
    ("mount", "b'none', b'/home/student', b'tmpfs', 0, None", EPERM),
    ("umount2", "b'/proc', 2", EPERM),
    ("pivot_root", "b'.', b'.'", EPERM),
    ("setns", "0, 0", EPERM),
    ("kexec_load", "0, 0, 0, 0", EPERM),
    ("init_module", "address, 16, b''", EPERM),
    ("finit_module", "0, b'', 0", EPERM),
    ("personality", "0x0400000", EPERM),  # READ_IMPLIES_EXEC
    ("personality", "0x100000000", EPERM),  # the kernel would read 0, but no: only 0 and the query pass
    ("open_by_handle_at", "0, address, 0", EPERM),
    ("syslog", "3, address, 16", EPERM),
]


def syscall_numbers() -> dict[str, int]:
    import pyseccomp

    names = {name for name, _, _ in BLOCKED} | {"personality", "getpid"}
    return {name: pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) for name in names}


@pytest.fixture(scope="module", params=JAILS)
def jail(request: pytest.FixtureRequest) -> type:
    return request.param


@pytest.fixture(scope="module")
def sandbox(jail: type):
    with jail() as box:
        assert box.run_cell(f"NUMBERS = {syscall_numbers()!r}\n{PRELUDE}").error is None
        yield box


def test_student_code_runs_under_the_filter(sandbox: ProcessSandbox) -> None:
    run = sandbox.run_cell(
        "import subprocess\nprint(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])\n"
        "print(subprocess.run(['grep', 'Seccomp:', '/proc/self/status'], capture_output=True, "
        "text=True).stdout.split()[1])")
    assert run.error is None and run.stdout.split() == ["2", "2"]  # the filter, and inherited by what it starts


@pytest.mark.parametrize("name, args, expected", BLOCKED, ids=[f"{n}-{a.split(',')[0]}" for n, a, _ in BLOCKED])
def test_a_blocked_call_fails_with_its_errno_and_the_process_lives_on(
        sandbox: ProcessSandbox, name: str, args: str, expected: int) -> None:
    run = sandbox.run_cell(f"print(call({name!r}, {args}), os.getpid())")
    assert run.error is None
    assert run.stdout.startswith(f"(-1, {expected}) "), run.stdout
    assert sandbox.run_cell("print('alive')").stdout == "alive\n"


def test_personality_may_be_queried_and_left_as_it_is(sandbox: ProcessSandbox) -> None:
    run = sandbox.run_cell("print(call('personality', 0xffffffff)[0], call('personality', 0), "
                           "call('personality', 0xffffffff)[0])")
    assert run.stdout == "0 (0, 0) 0\n"


def test_unshare_raises_permission_error(sandbox: ProcessSandbox) -> None:
    """``os.unshare`` where Python has it (3.12+); the same wrapper through libc on 3.11."""
    run = sandbox.run_cell(
        "def unshare(flags):\n"
        "    if hasattr(os, 'unshare'):\n        return os.unshare(flags)\n"
        "    if libc.unshare(flags) == -1:\n"
        "        number = ctypes.get_errno()\n        raise OSError(number, os.strerror(number))\n"
        f"try:\n    unshare({CLONE_NEWUSER})\nexcept PermissionError as exc:\n    print('refused', exc)\n"
    )
    assert run.error is None and run.stdout == "refused [Errno 1] Operation not permitted\n"


def test_a_shell_command_cannot_unshare_either(sandbox: ProcessSandbox) -> None:
    """The filter is inherited across exec: the util-linux tool fails too (when it is installed)."""
    run = sandbox.run_cell("import shutil, subprocess\n"
                           "tool = shutil.which('unshare')\n"
                           "print(tool and subprocess.run([tool, '--user', 'true'], capture_output=True).returncode)")
    assert run.error is None and run.stdout.strip() in ("None", "1")


@pytest.mark.skipif(not X86_64, reason="the other ABIs of an x86_64 kernel")
def test_the_i386_and_x32_abis_are_refused_whole(sandbox: ProcessSandbox) -> None:
    """A deny list of x86_64 numbers would not hold for another ABI's: those fail with EPERM, whatever the call."""
    run = sandbox.run_cell(
        "import mmap\n"
        "code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
        # mov eax, 310 (i386 unshare); mov ebx, CLONE_NEWUSER; int 0x80; ret
        "code.write(bytes.fromhex('b836010000' 'bb00000010' 'cd80' 'c3'))\n"
        "i386 = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(code)))\n"
        "print(i386())\n"
        # x32: unshare's number with __X32_SYSCALL_BIT; then getpid's, which the filter does not know either
        f"print(libc.syscall(ctypes.c_long(0x40000000 | NUMBERS['unshare']), ctypes.c_long({CLONE_NEWUSER})), "
        "ctypes.get_errno())\n"
        "print(libc.syscall(ctypes.c_long(0x40000000 | NUMBERS['getpid'])), ctypes.get_errno())\n"
    )
    assert run.error is None
    assert run.stdout.split() == ["-1", "-1", "1", "-1", "1"]  # int 0x80 returns -EPERM itself


HONEST = r'''
import subprocess, threading
import matplotlib.pyplot as plt
import numpy as np
import torch

w = torch.randn(8, 3, requires_grad=True)
loss = torch.nn.functional.relu(torch.randn(16, 8) @ w).pow(2).mean()
loss.backward()
assert w.grad.shape == (8, 3)
assert np.allclose(np.linalg.inv(np.eye(4) * 2) @ np.ones(4), 0.5)
figure, ax = plt.subplots()
ax.plot(np.arange(10), np.arange(10) ** 2)
figure.savefig("plot.png")
assert os.path.getsize("plot.png") > 1000
results = []
threads = [threading.Thread(target=lambda i=i: results.append(torch.ones(100).sum().item() + i)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert sorted(results) == [100.0, 101.0, 102.0, 103.0]
print(subprocess.run(["ls"], capture_output=True, text=True, check=True).stdout.split())
pid = os.fork()
if pid == 0:
    os._exit(7)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
print("honest ok")
'''


def test_honest_workloads_are_untouched(sandbox: ProcessSandbox) -> None:
    run = sandbox.run_cell(HONEST, timeout=60)
    assert run.error is None, run.error
    assert "honest ok" in run.stdout and "plot.png" in run.stdout


def test_an_ipython_shell_escape_works(sandbox: ProcessSandbox) -> None:
    run = sandbox.run_cell("!echo hi\nout = !echo captured\nprint(out)")
    assert run.error is None and run.stdout.replace("\r\n", "\n") == "hi\n['captured']\n"  # a pty writes \r\n


def test_multiprocessing_with_fork_works(sandbox: ProcessSandbox) -> None:
    run = sandbox.run_cell(
        "import multiprocessing\n"
        "context = multiprocessing.get_context('fork')\n"
        "mine, theirs = context.Pipe()\n"
        "workers = [context.Process(target=lambda n: theirs.send(n * n), args=(n,)) for n in range(2, 4)]\n"
        "for w in workers:\n    w.start()\nfor w in workers:\n    w.join()\n"
        "print(sorted(mine.recv() for _ in workers), [w.exitcode for w in workers])"
    )
    assert run.error is None and run.stdout == "[4, 9] [0, 0]\n"


def test_a_multiprocessing_pool_works(sandbox: ProcessSandbox) -> None:
    run = sandbox.run_cell("import multiprocessing\n"
                           "with multiprocessing.get_context('fork').Pool(2) as pool:\n"
                           "    print(pool.map(abs, [-1, -2, -3]))")
    assert run.error is None and run.stdout == "[1, 2, 3]\n"


def test_the_template_is_not_filtered_but_each_child_is(jail: type) -> None:
    if jail is not ForkedSandbox:
        pytest.skip("the template is the forked sandboxes'")
    with jail() as box:
        template = _status(box.child_pid)["PPid"]
        assert b"autograder.inside.zygote" in _read(f"/proc/{template}/cmdline")
        assert _status(template)["Seccomp"] == "0"  # it still builds each child's namespaces
        assert _status(box.child_pid)["Seccomp"] == "2"  # the namespace's init, which reaps the server


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def _status(pid: int | str) -> dict[str, str]:
    lines = _read(f"/proc/{pid}/status").decode().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_the_compiled_program_is_the_one_bwrap_gets() -> None:
    program = seccomp_filter.program()
    assert program and len(program) % 8 == 0 and len(program) // 8 < 4096  # BPF_MAXINSNS


# --- integrity flags -----------------------------------------------------------------------------
@pytest.mark.parametrize("error", [
    "PermissionError: [Errno 1] Operation not permitted",
    "AttributeError: module 'os' has no attribute 'unshare'",
    "AttributeError: module 'os' has no attribute 'CLONE_NEWUSER'",
    "RuntimeError: unshare failed with errno 1",
    "OSError: io_uring_setup returned -1",
    "RuntimeError: clone3: ENOSYS",
    "AssertionError: mount -> EPERM",
    "PermissionError: [Errno 1] unshare",
    "Traceback (most recent call last):\n  File \"<cell>\", line 3\nOSError: [Errno 38] clone3",
])
def test_a_blocked_call_in_an_error_is_an_escape_sign(error: str) -> None:
    [flag] = integrity.escape_signs([error])
    assert flag.kind == "sandbox-escape"


@pytest.mark.parametrize("error", [
    "RuntimeError: unsupported operation: more than one element of the written-to tensor refers to a single memory "
    "location. Please clone() the tensor before performing the operation.",
    "IndexError: Dimension out of range (expected to be in range of [-1, 0], but got 1)",
    "ValueError: the amount must be positive, got -1",
    "AttributeError: module 'os' has no attribute 'getuid2'",
    "FileNotFoundError: [Errno 2] No such file or directory: 'mount_points.csv'",
])
def test_honest_errors_are_not_escape_signs(error: str) -> None:
    assert integrity.escape_signs([error]) == []


FAST = Limits(cell_seconds=20, call_seconds=10)
UNSHARE = '''
import os
os.unshare(os.CLONE_NEWUSER)  # Python 3.12+; on 3.11 the attribute is missing, an attempt all the same
'''


@pytest.mark.parametrize("payload", [
    UNSHARE,
    "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    f"if libc.unshare({CLONE_NEWUSER}) == -1:\n    raise OSError(ctypes.get_errno(), 'unshare')\n",
], ids=["os.unshare", "ctypes"])
def test_an_attempt_in_a_graded_notebook_is_flagged(jail: type, payload: str) -> None:
    assignment = Assignment.load("loss_functions")
    result = grade_submission("mallory", assignment, cheats.stubs_with(payload), lambda: jail(None, FAST),
                              Settings(max_examples=5, limits=FAST))
    assert result.status == "graded" and result.score == 0.0
    escapes = [flag.detail for flag in result.flags if flag.kind == "sandbox-escape"]
    assert escapes and any("unshare" in detail or "not permitted" in detail for detail in escapes), result.flags
