"""How much time, memory and how many processes one submission's sandbox may use.

A small value object, like httpx's ``Limits``: the launcher turns it into rlimits, a tmpfs size
and host-side read deadlines; nothing else reads it.

Why these defaults:

* ``memory_bytes`` (RLIMIT_AS, virtual address space) is 2 GiB. Measured on torch 2.13 CPU:
  ``import torch`` + matplotlib + IPython's transformer, a 1000x1000 backward pass and a saved
  figure peak at about 680 MiB of virtual memory (and still run under a 1 GiB limit), so 2 GiB
  leaves the student room for honest tensors while a memory bomb fails fast with MemoryError.
* ``processes`` (RLIMIT_NPROC) counts threads too; torch with ``OMP_NUM_THREADS=1`` needs a
  handful. The limit is per host uid, and each sandbox gets a uid of its own, so it holds per
  sandbox even when a class is graded in parallel.
* ``sandbox_memory_bytes``, ``sandbox_processes`` and ``cpu_cores`` hold for the whole sandbox,
  all its processes together, where the machine allows a cgroup per sandbox
  (``autograder.sandbox.cgroups``; otherwise only the per-process rlimits hold). The memory is
  resident memory without swap, 2 GiB like RLIMIT_AS (an honest submission's 680 MiB above are
  address space, less of it resident), so six processes of 400 MiB each cannot take 2.4 GiB; the processes are
  ``processes`` plus the jail's own few (bwrap, the namespace's init); one core each, so a class
  graded on N workers keeps to N cores.
* ``cpu_seconds`` is a lifetime budget of the whole process (RLIMIT_CPU cannot be reset); the
  wall-clock deadlines per cell and per call batch are what stop an infinite loop.
* ``function_seconds`` and ``submission_seconds`` are not the sandbox's: the trusted grader
  keeps these budgets (``autograder.judge.student_process``, which says why these values).
"""
from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB
JAIL_PROCESSES = 4  # a sandbox's own processes beside the student's: bwrap, the namespace's init


@dataclass(frozen=True)
class Limits:
    cell_seconds: float = 60.0  # wall time for one student cell
    call_seconds: float = 30.0  # wall time for one batch of calls (or a figure request)
    function_seconds: float = 60.0  # wall time waiting on one graded function, over all its checks
    submission_seconds: float = 300.0  # wall time waiting on one submission's sandbox, in all
    startup_seconds: float = 60.0  # wall time for python + torch + the server to come up
    cpu_seconds: int = 900  # RLIMIT_CPU over the sandbox's whole life
    memory_bytes: int = 2 * GiB  # RLIMIT_AS
    processes: int = 64  # RLIMIT_NPROC (processes and threads of the sandbox's uid)
    file_bytes: int = 64 * MiB  # RLIMIT_FSIZE: largest file the student may write
    open_files: int = 256  # RLIMIT_NOFILE
    scratch_bytes: int = 256 * MiB  # size of the private tmpfs holding the student's files
    sandbox_memory_bytes: int | None = None  # memory of the whole sandbox (its cgroup); None: memory_bytes
    sandbox_processes: int | None = None  # pids of the whole sandbox; None: processes + JAIL_PROCESSES
    cpu_cores: float = 1.0  # CPU quota of the whole sandbox, in cores

    @property
    def sandbox_memory(self) -> int:
        return self.memory_bytes if self.sandbox_memory_bytes is None else self.sandbox_memory_bytes

    @property
    def sandbox_pids(self) -> int:
        return self.processes + JAIL_PROCESSES if self.sandbox_processes is None else self.sandbox_processes

    def describe_sandbox_memory(self) -> str:
        return _human(self.sandbox_memory)

    def describe_memory(self) -> str:
        return _human(self.memory_bytes)

    def rlimits(self, processes: int | None) -> dict[str, int]:
        """The student's rlimits by ``resource`` name, as plain data the template can be sent.

        ``processes`` is RLIMIT_NPROC, which counts every process of the uid (see the launcher);
        None leaves it unset.
        """
        named = {"RLIMIT_AS": self.memory_bytes, "RLIMIT_CPU": self.cpu_seconds, "RLIMIT_FSIZE": self.file_bytes,
                 "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}
        return named if processes is None else {**named, "RLIMIT_NPROC": processes}


def _human(size: int) -> str:
    if size % GiB == 0:
        return f"{size // GiB} GiB"
    return f"{size // MiB} MiB"
