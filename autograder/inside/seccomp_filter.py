"""The system-call filter every student's process runs under: the kernel is attack surface too.

Modelled on Docker's default seccomp profile, but as a deny list on top of the jail (which
already took every capability): what it denies is what a process without capabilities can
still reach and should not, plus what only root could use, as a second wall.

* New namespaces: ``unshare`` and ``clone`` with any of CLONE_NEWNS, NEWUTS, NEWIPC, NEWUSER,
  NEWPID, NEWNET, NEWCGROUP (and NEWTIME for ``unshare``; in ``clone`` that bit is the exit
  signal's), by argument filtering; ``setns``. A user namespace would give the student every
  capability in it, and with them mounts and the kernel code behind them. ``clone`` without
  those flags (fork, threads, ``posix_spawn``) is untouched. ``clone3`` keeps its flags in a
  struct a filter cannot read: it fails with ENOSYS, so glibc falls back to ``clone``, as Docker does.
* Mounts: ``mount``, ``umount``/``umount2``, ``pivot_root`` and the new mount API (``fsopen``,
  ``fsconfig``, ``fsmount``, ``fspick``, ``move_mount``, ``open_tree``, ``mount_setattr``).
* Kernel interfaces with a history of privilege escalations: ``io_uring_setup``/``enter``/
  ``register``, ``userfaultfd``, ``bpf``, ``perf_event_open``, ``keyctl``/``add_key``/``request_key``.
* Other processes: ``ptrace``, ``process_vm_readv``/``writev``.
* Root's business: ``kexec_load``/``kexec_file_load``, ``init_module``/``finit_module``/
  ``delete_module``/``create_module``/``get_kernel_syms``/``query_module``, ``acct``,
  ``swapon``/``swapoff``, ``reboot``, ``settimeofday``/``clock_settime``/``clock_adjtime``/
  ``adjtimex``, ``quotactl``/``quotactl_fd``, ``lookup_dcookie``, ``open_by_handle_at``/
  ``name_to_handle_at``, ``syslog``, ``vhangup``, ``iopl``/``ioperm``, ``nfsservctl``,
  ``_sysctl``, ``uselib``.
* ``personality`` other than the default persona (0) and the query (0xffffffff), as Docker:
  no READ_IMPLIES_EXEC, no ADDR_NO_RANDOMIZE.

A blocked call fails with EPERM (ENOSYS for ``clone3``); nothing is killed, so the student
sees an ordinary error, which the grader flags for the TAs (``judge/integrity.py``).

Architectures: the filter is for the native ABI only (x86_64 here). A system call of another
ABI — i386 through ``int 0x80``, x32 (numbers with bit 30 set) — fails with EPERM, whatever
it is: nothing the grader runs uses them, and a deny list written for one ABI's numbers would
not hold for another's.

``program()`` builds the filter with libseccomp (``pyseccomp``) and returns the compiled BPF:
what bubblewrap's ``--seccomp FD`` reads, and what ``install()`` loads with ``prctl`` (standard
library only, so the template compiles once and each forked child only loads it).
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import tempfile

CLONE_NEWTIME, CLONE_NEWNS, CLONE_NEWCGROUP = 0x00000080, 0x00020000, 0x02000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER = 0x04000000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
CLONE_NAMESPACES = (CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                    CLONE_NEWNET)
UNSHARE_NAMESPACES = (*CLONE_NAMESPACES, CLONE_NEWTIME)
PERSONALITY_QUERY = 0xFFFFFFFF

DENIED = (
    "setns",
    "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "bpf", "perf_event_open",
    "keyctl", "add_key", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "get_kernel_syms", "query_module", "acct", "swapon", "swapoff", "reboot", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "quotactl", "quotactl_fd", "lookup_dcookie", "open_by_handle_at",
    "name_to_handle_at", "syslog", "vhangup", "iopl", "ioperm", "nfsservctl", "_sysctl", "uselib",
)

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
BPF_INSTRUCTION_BYTES = 8


@functools.lru_cache(maxsize=1)
def program() -> bytes:
    """The filter as a compiled classic-BPF program for this machine's ABI (see the module docstring)."""
    import pyseccomp as seccomp

    deny = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    rules.set_attr(seccomp.Attr.ACT_BADARCH, deny)  # i386, x32: see the module docstring
    for name in DENIED:
        _add(rules, deny, name)
    for flag in CLONE_NAMESPACES:  # any one of the flags set (one rule each: the rules of a call are or-ed)
        _add(rules, deny, "clone", seccomp.Arg(_clone_flags_argument(seccomp), seccomp.MASKED_EQ, flag, flag))
    for flag in UNSHARE_NAMESPACES:
        _add(rules, deny, "unshare", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    _add(rules, seccomp.ERRNO(errno.ENOSYS), "clone3")
    # personality(2) takes an unsigned int: any high bit, or low 32 bits other than all zeros or all
    # ones. A 32-bit word is neither iff, read cyclically, some set bit is followed by a clear one.
    _add(rules, deny, "personality", seccomp.Arg(0, seccomp.GT, PERSONALITY_QUERY))
    for bit in range(32):
        pair = (1 << bit) | (1 << (bit + 1) % 32)
        _add(rules, deny, "personality", seccomp.Arg(0, seccomp.MASKED_EQ, pair, 1 << bit))
    with tempfile.TemporaryFile() as compiled:
        rules.export_bpf(compiled)
        compiled.seek(0)
        return compiled.read()


def _clone_flags_argument(seccomp) -> int:
    """clone's flags are its first argument on every ABI but s390's, where they are the second."""
    return 1 if seccomp.system_arch() in (seccomp.Arch.S390, seccomp.Arch.S390X) else 0


def _add(rules, action: int, name: str, *conditions) -> None:
    import pyseccomp as seccomp

    number = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
    if number == -1:  # a name this libseccomp does not know: it cannot be called by number either here
        return
    rules.add_rule(action, number, *conditions)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(compiled: bytes) -> None:
    """Load ``compiled`` (from ``program()``) on the calling thread, for good, under no-new-privileges.

    The last step before student code runs: afterwards not even this process could mount or
    unshare. Every thread and process started later inherits the filter.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(compiled, len(compiled))
    fprog = _SockFprog(len(compiled) // BPF_INSTRUCTION_BYTES, ctypes.cast(buffer, ctypes.c_void_p))
    for option, value, pointer in ((PR_SET_NO_NEW_PRIVS, 1, None), (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog)):
        argument = ctypes.byref(pointer) if pointer is not None else ctypes.c_ulong(0)
        if libc.prctl(option, ctypes.c_ulong(value), argument, ctypes.c_ulong(0), ctypes.c_ulong(0)) == -1:
            number = ctypes.get_errno()
            raise OSError(number, f"loading the system-call filter: {os.strerror(number)}")
