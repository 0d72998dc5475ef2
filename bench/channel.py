"""How much the real sandbox costs: start-up and per-call round trip, against the alternatives.

Not a test: prints figures. Start-up of a sandbox forked from the template (what grading uses
as root) and of a ``BwrapSandbox`` (a new Python in the same jail) is compared with a bare
``python -c "import torch"`` and with a Jupyter kernel started by jupyter_client that then
imports torch (what plain nbgrader pays per notebook); the template's own start-up is paid
once per grader process. Round trips are one ``call`` of ``mse`` on small tensors, alone and
in batches of 100 calls per message, against one trivial ``execute`` on that Jupyter kernel.

    .venv/bin/python bench/channel.py [--repeats 3] [--calls 500]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from jupyter_client.manager import start_new_kernel  # noqa: E402

from autograder.sandbox.base import Call  # noqa: E402
from autograder.sandbox.bwrap import BwrapSandbox  # noqa: E402
from autograder.sandbox.template import ForkedSandbox, Template  # noqa: E402

MSE = "import torch\ndef mse(a, b):\n    return ((a - b) ** 2).mean()\n"
BATCH = 100


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def plain_python() -> None:
    subprocess.run([sys.executable, "-c", "import torch"], check=True)


def jupyter_kernel() -> None:
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute_interactive("import torch", timeout=120)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def bwrap_sandbox() -> None:
    BwrapSandbox().close()


def forked_sandbox(template: Template) -> None:
    ForkedSandbox(template=template).close()


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def round_trips(calls: int, template: Template) -> dict[str, tuple[float, float]]:
    a, b = torch.rand(8), torch.rand(8)
    with ForkedSandbox(template=template) as box:
        box.run_cell(MSE)
        single = [seconds(lambda: box.call("mse", [a, b])) for _ in range(calls)]
        batch = [Call("mse", (a, b))] * BATCH
        batched = [seconds(lambda: box.call_batch(batch)) / BATCH for _ in range(max(calls // BATCH, 5))]
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute_interactive(MSE + "a, b = torch.rand(8), torch.rand(8)", timeout=120)
        kernel = [seconds(lambda: client.execute_interactive("mse(a, b)", store_history=False, output_hook=len))
                  for _ in range(min(calls, 200))]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"sandbox call": summary(single), f"sandbox call in a batch of {BATCH}": summary(batched),
            "jupyter execute": summary(kernel)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--forks", type=int, default=20, help="forked start-ups to time (they take milliseconds)")
    parser.add_argument("--calls", type=int, default=500)
    options = parser.parse_args()
    template_seconds = seconds(lambda: Template().close())
    template = Template()
    startups = {name: statistics.median(seconds(action) for _ in range(repeats))
                for name, action, repeats in (
                    ("python -c 'import torch'", plain_python, options.repeats),
                    ("bwrap sandbox (new Python)", bwrap_sandbox, options.repeats),
                    ("forked sandbox (template)", lambda: forked_sandbox(template), options.forks),
                    ("jupyter kernel + import torch", jupyter_kernel, options.repeats))}
    base = startups["python -c 'import torch'"]
    print(f"start-up, median ({options.repeats} runs; {options.forks} forked):")
    for name, value in startups.items():
        print(f"  {name:32s} {value * 1e3:8.1f} ms  ({value / base:.3f}x python)")
    print(f"  {'template, once per grader':32s} {template_seconds * 1e3:8.1f} ms")
    print("round trip per call (median / p95):")
    trips = round_trips(options.calls, template)
    template.close()
    single = trips["sandbox call"][0]
    for name, (median, p95) in trips.items():
        print(f"  {name:32s} {median * 1e3:7.3f} ms / {p95 * 1e3:7.3f} ms  ({median / single:.2f}x single call)")


if __name__ == "__main__":
    main()
