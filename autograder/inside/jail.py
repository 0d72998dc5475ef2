"""The system calls that shut one student's process in: namespaces, mounts, rlimits, privileges.

The template (``zygote``) makes each forked child with these; the launched sandboxes use
``apply_limits`` between fork and exec. Linux only: libc through ctypes, since Python 3.11 has
no unshare, setns or mount.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import resource
import socket
import struct

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x1, 0x2, 0x4, 0x8, 0x4000, 0x40000
MNT_DETACH = 0x2
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
CAPABILITY_VERSION_3 = 0x20080522
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
HOME_INODES = 65_536  # files in the student's home: inodes cost memory that size= does not count

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int) -> None:
    if result == -1:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def _mount(source: str, target: str, kind: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), kind.encode() if kind else None, ctypes.c_ulong(flags),
                       data.encode() if data else None))


def _prctl(option: int, value: int) -> int:
    return _libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def apply_limits(rlimits: dict[str, int]) -> None:
    """Set the rlimits (``Limits.rlimits``): every process the student starts inherits them."""
    os.umask(0o022)
    for name, value in rlimits.items():
        resource.setrlimit(getattr(resource, name), (value, value))


def next_child_in_new_pid_namespace(own_pid_namespace: int) -> None:
    """Make the caller's next child pid 1 of a new pid namespace; the caller stays where it is.

    The kernel allows one such unshare per namespace the children go to, so the caller first
    points its children back at its own namespace (an fd of ``/proc/self/ns/pid``).
    """
    _check(_libc.setns(own_pid_namespace, CLONE_NEWPID))
    _check(_libc.unshare(CLONE_NEWPID))


def private_namespaces() -> None:
    """Own mounts, network (a loopback of its own, up), SysV IPC and hostname; nothing propagates back."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS))
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING))


def private_mounts(home: str, uid: int, size: int) -> None:
    """A /proc of the caller's pid namespace, an empty home only ``uid`` may use, ptys of its own.

    Nothing writable (not even a pty number) is shared with the template's other children:
    /dev/shm is a tmpfs of its own, capped like the home (``multiprocessing``'s locks live there),
    and there is no /tmp (TMPDIR is the home).
    """
    _check(_libc.umount2(b"/proc", MNT_DETACH))
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount("tmpfs", home, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={size},nr_inodes={HOME_INODES},mode=0700,uid={uid},gid={uid}")
    _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"size={size},mode=1777")


def _drop_bounding_set() -> None:
    """No exec can bring a capability back; needs CAP_SETPCAP, so it comes first."""
    for capability in range(64):
        if _prctl(PR_CAPBSET_DROP, capability) == -1:
            if ctypes.get_errno() == errno.EINVAL:  # past the kernel's last capability
                return
            _check(-1)


def _clear_capability_sets() -> None:
    """Effective, permitted and inheritable all empty (the ambient set empties with them)."""
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(header, (ctypes.c_uint32 * 6)()))


def drop_capabilities() -> None:
    """Keep the uid, lose every capability for good."""
    _drop_bounding_set()
    _clear_capability_sets()


def become(uid: int) -> None:
    """Run as ``uid`` (group ``uid``, no other group) with no capability and no way to gain one.

    The process is made dumpable again, as after an exec: its /proc files belong to ``uid``,
    and only processes of that uid (its own) may trace it.
    """
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1))
    _drop_bounding_set()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _clear_capability_sets()
    _check(_prctl(PR_SET_DUMPABLE, 1))
