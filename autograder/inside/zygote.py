"""The template every student's process is forked from: runs INSIDE the jail, judges nothing.

One per grader process (``autograder.sandbox.template`` starts it in a bubblewrap jail of its
own). It imports what every submission needs once — torch, NumPy, matplotlib on Agg, IPython's
transformer, the function server — then forks one child per submission, which starts in
milliseconds instead of the 2.5 s of a fresh Python. Every child is a copy of this process's
memory, so that memory holds libraries only: a spawn request carries a uid and the rlimits, and
as SCM_RIGHTS the descriptors of that student's channel; the student's files travel from the
grader to the child over its own channel, after it dropped its privileges.

Control socket (SOCK_SEQPACKET, one datagram per message, spoken to only by the grader):
``{"ready": true}`` once the imports are done; then ``{"uid", "rlimits", "scratch_bytes"}`` with
fds [stdin, stdout, stderr, status] -> ``{"ok": true}`` with a pidfd of the child, or
``{"error": str}``. The end of the socket (the grader closed it, exited or died) ends the jail.

A child is pid 1 of new pid, mount, network, IPC and UTS namespaces, with a fresh /proc and a
size-capped home of its own; it forks the server and stays as its reaper (root, no capability,
out of the student's reach): when the server ends it writes its exit code to ``status`` and
exits, which kills whatever else runs in the namespace. The server drops to the sandbox's uid
with rlimits, no capability and no_new_privs, keeps only its channel, seeds the generators,
then receives the student's files: frames ``{"op": "mkdir"|"write", "path", "data"}`` ending
with ``{"op": "files-done"}``; last it loads the system-call filter (``seccomp_filter``, compiled
once here; the reaper loads it too, the template never), then serves as ``autograder.inside.server``
would.

fork() copies only the calling thread: the template runs no torch op and starts no thread (an
OpenMP pool started before a fork deadlocks the child) and refuses to serve with more than one.
"""
from __future__ import annotations

import gc
import json
import os
import select
import socket
import sys
import traceback
from typing import BinaryIO, NoReturn

from autograder.inside import jail, seccomp_filter, wire

ALL_FDS = 2**31 - 1


def preload() -> None:
    """Import everything a submission needs, without starting a thread."""
    gc.disable()  # the imports make many objects and little garbage: collecting during them costs 0.1 s
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from IPython.core.inputtransformer2 import TransformerManager
    # a student's IPython shell and what it imports: about 6 ms a child otherwise
    import IPython.core.completer  # noqa: F401
    import IPython.core.interactiveshell  # noqa: F401
    import IPython.core.magics  # noqa: F401
    import IPython.core.oinspect  # noqa: F401
    import matplotlib.backends.backend_agg  # noqa: F401

    from autograder.inside import server  # noqa: F401

    seccomp_filter.program()  # compiled once (libseccomp); a child only loads it
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    TransformerManager().transform_cell("%matplotlib inline\n")  # its lazy imports and compiled patterns
    figure, ax = plt.subplots()  # fonts, tick formatters and the Agg canvas: 0.1 s a child otherwise
    ax.set_title("warm-up")
    figure.canvas.draw()
    plt.close(figure)
    _seed()  # numpy.random's first use imports it (10 ms a child otherwise)
    gc.freeze()  # a child's collections then skip the template's objects instead of copying their pages
    gc.enable()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise SystemExit(f"the template runs {threads} threads after its imports: forking it is unsafe")


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    preload()
    own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    control.send(json.dumps({"ready": True}).encode())
    poller = select.poll()
    poller.register(control, select.POLLIN)
    while True:
        if poller.poll(1000):
            message, fds, _, _ = socket.recv_fds(control, 65536, 4)
            if not message:
                return
            _answer(control, json.loads(message), fds, own_pid_namespace)
        _reap_exited()


def _answer(control: socket.socket, request: dict, fds: list[int], own_pid_namespace: int) -> None:
    pidfd = None
    try:
        if len(fds) != 4:
            raise ValueError(f"a spawn request needs 4 descriptors, got {len(fds)}")
        jail.next_child_in_new_pid_namespace(own_pid_namespace)
        pid = os.fork()
        if pid == 0:
            _namespace_init(request, fds)
        pidfd = os.pidfd_open(pid)  # the child is not reaped before this: no pid reuse race
    except (OSError, ValueError) as exc:
        control.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
    else:
        socket.send_fds(control, [json.dumps({"ok": True}).encode()], [pidfd])
    finally:
        for fd in [*fds, *([pidfd] if pidfd is not None else [])]:
            os.close(fd)


def _reap_exited() -> None:
    """Collect the children whose namespace ended (their grader holds a pidfd, not the status)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _namespace_init(request: dict, fds: list[int]) -> NoReturn:
    """pid 1 of the student's namespaces: build them, start the server, reap until it ends."""
    code = 1
    try:
        stdin, stdout, stderr, status = fds
        os.dup2(stderr, 2)
        os.setsid()
        uid = int(request["uid"])
        jail.private_namespaces()
        jail.private_mounts(os.environ["HOME"], uid, int(request["scratch_bytes"]))
        os.chdir("/")  # not the template's home, hidden under the student's
        server = os.fork()
        if server == 0:
            _student(uid, request["rlimits"], stdin, stdout)
        jail.drop_capabilities()
        seccomp_filter.install(seccomp_filter.program())
        os.closerange(0, status)
        os.closerange(status + 1, ALL_FDS)
        while True:
            pid, wait_status = os.wait()  # orphans of the student land here too
            if pid == server:
                os.write(status, str(os.waitstatus_to_exitcode(wait_status)).encode())
                code = 0
                break
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _student(uid: int, rlimits: dict[str, int], stdin: int, stdout: int) -> NoReturn:
    """The server's process: shut in, then given the student's files, then serving."""
    code = 1
    try:
        jail.apply_limits(rlimits)
        jail.become(uid)
        os.chdir(os.environ["HOME"])
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.closerange(3, ALL_FDS)
        _seed()
        _receive_files(os.fdopen(0, "rb", buffering=0, closefd=False))
        from autograder.inside import server

        seccomp_filter.install(seccomp_filter.program())  # last: no unshare, mount, io_uring... from here on
        server.main()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _seed() -> None:
    """Every child starts from the same state, not from the template's (or a sibling's)."""
    import random

    import numpy
    import torch

    random.seed(0)
    numpy.random.seed(0)
    torch.manual_seed(0)


def _receive_files(channel: BinaryIO) -> None:
    while True:
        message = wire.read_message(channel)
        op = message.get("op") if isinstance(message, dict) else None
        if op == "files-done":
            return
        if op == "mkdir":
            os.makedirs(message["path"], exist_ok=True)
        elif op == "write":
            with open(message["path"], "ab") as file:
                file.write(message["data"])
        else:
            raise wire.WireError(f"expected the student's files, got {op!r}")


if __name__ == "__main__":
    main()
    sys.stderr.flush()
    os._exit(0)  # the jail ends with its pid 1; the interpreter's teardown of torch would only keep the grader waiting
