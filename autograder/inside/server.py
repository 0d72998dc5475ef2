"""The function server: runs INSIDE the sandbox, next to the student's code.

It executes the student's cells, then answers calls of their functions with plain data. It
judges nothing and knows no test, reference or score: a student who rewrites this module at
run time can only change the data they hand back, which the trusted side checks anyway.
Standard library, NumPy, torch, matplotlib and IPython only; this folder is all the sandbox sees
of the grader.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import random
import sys
import traceback
import warnings
from typing import Any, BinaryIO

import numpy as np
from IPython.core.displayhook import DisplayHook
from IPython.core.interactiveshell import InteractiveShell

from autograder.inside import wire

OUTPUT_LIMIT = 10_000
FORBIDDEN_FUNCTIONAL = (
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits",
)


def _truncate(text: str) -> str:
    if len(text) <= OUTPUT_LIMIT:
        return text
    return text[:OUTPUT_LIMIT] + f"\n... [output truncated: {len(text) - OUTPUT_LIMIT} more characters]"


def _describe_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _cell_line(failure: BaseException | None) -> int | None:
    """The line of the cell's own code where ``failure`` left it (the first frame of cell code
    in the traceback), so the grader can point at a test's failing assert."""
    tb = failure.__traceback__ if failure is not None else None
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "<module>" and tb.tb_frame.f_code.co_filename.startswith("<ipython-input-"):
            return tb.tb_lineno
        tb = tb.tb_next
    return getattr(failure, "lineno", None) if isinstance(failure, SyntaxError) else None


class _ResultHook(DisplayHook):
    """Keeps a cell's value as a kernel does (an ``execute_result``, apart from what it printed)
    instead of printing ``Out[n]:``: nbgrader scores a test cell by its value."""

    text: str | None = None

    def write_output_prompt(self) -> None:
        pass

    def write_format_data(self, format_dict: dict, md_dict: dict | None = None) -> None:
        self.text = format_dict.get("text/plain")


class _Shell(InteractiveShell):
    """IPython's own shell, as a Jupyter kernel runs cells, minus what needs a kernel or a screen."""

    displayhook_class = _ResultHook

    def enable_matplotlib(self, gui: str | None = None) -> tuple[str | None, str]:
        """``%matplotlib inline`` and ``%pylab`` keep Agg: the grader reads figures as objects,
        and inline's after-cell rendering would only cost time."""
        return gui, "agg"

    def showtraceback(self, *args: Any, **kwargs: Any) -> None:
        """The student gets the error's last line from ``run_cell``: formatting a traceback
        nobody reads is slow, and it would land in the cell's output."""

    showsyntaxerror = showtraceback


def _new_shell(namespace: dict[str, Any] | None) -> InteractiveShell:
    """A bare shell reads no profile, config or startup file; history stays in memory (``In``,
    ``Out``). It becomes the process's ``get_ipython()``, as in Jupyter, unless a live kernel's
    shell already is (``namespace`` is then that kernel's globals)."""
    from IPython.core.profiledir import ProfileDir
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.xmode = "Minimal"  # the history formats each error: 0.3 ms instead of 50
    config.InteractiveShell.colors = "nocolor"
    config.DisplayFormatter.active_types = ["text/plain"]  # all a cell's output keeps: no HTML or PNG rendering
    # No IPython directory or profile: a bare shell reads nothing there, and they would be made in the student's home.
    options = {"config": config, "ipython_dir": "", "profile_dir": ProfileDir(), "user_ns": namespace}
    if InteractiveShell.initialized() and not isinstance(InteractiveShell.instance(), _Shell):
        shell = _Shell(**options)
    else:
        _Shell.clear_instance()
        shell = _Shell.instance(**options)
    atexit.unregister(shell.atexit_operations)  # nothing to save, and it would keep every in-process server alive
    return shell


def _seed() -> None:
    """Every generator a student can reach starts the same on every run and every sandbox kind
    (string hashes: PYTHONHASHSEED=0 in the sandbox's environment), so a regrade matches."""
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


class _Recorder:
    """Notes calls of the losses the assignment forbids, so TAs can be told (not to zero).

    The library functions are wrapped once per process and record into the recorder of the
    server created last: one per sandbox process, and in the in-process twin no chain of
    wrappers that grows with every server (it overflowed the stack after hundreds of tests)."""

    active: "_Recorder | None" = None

    def __init__(self) -> None:
        self.used: set[str] = set()

    def install(self) -> None:
        import torch.nn.functional as F
        from torch.nn.modules import loss

        _Recorder.active = self
        for name in FORBIDDEN_FUNCTIONAL:
            setattr(F, name, _recording(getattr(F, name), f"torch.nn.functional.{name}"))
        for cls_name in ("MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "SmoothL1Loss", "HuberLoss"):
            cls = getattr(loss, cls_name)
            cls.forward = _recording(cls.forward, f"torch.nn.{cls_name}")


def _recording(fn: Any, label: str) -> Any:
    if getattr(fn, "_recorded_as", None) == label:
        return fn

    def recorded(*args: Any, **kwargs: Any) -> Any:
        if _Recorder.active is not None:
            _Recorder.active.used.add(label)
        return fn(*args, **kwargs)

    recorded.__wrapped__ = fn
    recorded._recorded_as = label
    return recorded


class _Sink:
    """Swallows what a called function prints: a call's answer is its value, not its output."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


class _Quiet:
    """Silences prints and warnings for a whole batch of calls: set up once, not per call."""

    _IGNORE_ALL = (("ignore", None, Warning, None, 0),)

    def __enter__(self) -> None:
        # What warnings.catch_warnings() + simplefilter("ignore") do, without rebuilding the list.
        self._saved = sys.stdout, sys.stderr, warnings.filters
        sys.stdout = sys.stderr = _Sink()
        warnings.filters = list(self._IGNORE_ALL)
        warnings._filters_mutated()

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr, warnings.filters = self._saved
        warnings._filters_mutated()


class Server:
    """Handles one protocol message at a time; the transport (pipe or in-process) is elsewhere."""

    def __init__(self, namespace: dict[str, Any] | None = None) -> None:
        """``namespace``: serve an existing one (a live kernel's globals, whose figures, matplotlib
        backend, generators and shell stay as they are) instead of a fresh, seeded one on Agg."""
        self._shell: InteractiveShell | None = None  # a kernel's namespace gets one only if a cell runs in it
        if namespace is None:
            import matplotlib

            matplotlib.use("Agg")
            self._shell = _new_shell(None)
            namespace = self._shell.user_ns
            _seed()
        self.namespace: dict[str, Any] = namespace
        self._recorder = _Recorder()
        self._recorder.install()

    def handle(self, message: Any) -> dict:
        op = message.get("op") if isinstance(message, dict) else None
        if op == "run_cell":
            return self.run_cell(str(message.get("source", "")))
        if op == "call":
            with _Quiet():
                return {"replies": [self.call(c) for c in message.get("calls", [])]}
        if op == "figure":
            return self.figure(str(message.get("name", "")))
        if op == "ping":
            return {"pong": True}
        return {"error": f"unknown request {op!r}"}

    def run_cell(self, source: str) -> dict:
        """Run a cell as Jupyter does (magics, ``!``, ``display``, top-level ``await``, ``_``,
        ``In``/``Out``); its output is what it printed and displayed, as plain text."""
        if self._shell is None:
            self._shell = _new_shell(self.namespace)
        out, err = io.StringIO(), io.StringIO()
        failure: BaseException | None = None
        hook = self._shell.displayhook
        hook.text = None
        # The warning filters are the process's, changed only by the student's cells, as in a kernel:
        # nbgrader gives a test cell that writes to stderr no points.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                result = self._shell.run_cell(source, store_history=True)
                failure = result.error_before_exec or result.error_in_exec
            except BaseException as exc:  # the student's hooks (events, transformers) run outside the cell's guard
                failure = exc
        error = _describe_exception(failure) if failure is not None else None
        value = getattr(hook, "text", None)
        return {
            "status": "error" if error else "ok",
            "stdout": _truncate(out.getvalue()),
            "stderr": _truncate(err.getvalue()),
            "error": error,
            "result": _truncate(value) if isinstance(value, str) and not error else None,
            "line": _cell_line(failure),
        }

    def call(self, request: Any) -> dict:
        """One call of a student function; run it inside ``_Quiet`` (``handle`` does, per batch).

        ``random``, NumPy and torch are seeded from the function name and the input bytes first,
        so a function that draws random numbers answers an input the same way whatever calls came
        before: the grader may then batch, reorder and remember calls. A function whose answers
        depend on its own call history (a counter, a cache, mutated globals) still can differ."""
        import torch

        name = str(request.get("function", ""))
        function = self.namespace.get(name)
        # wire.decode_body gives fresh writable arrays: no copy needed before torch shares them.
        arrays = [a if isinstance(a, np.ndarray) else np.array(a) for a in request.get("args", [])]
        args = [torch.from_numpy(a) for a in arrays]
        reply: dict = {"value": None, "grads": None, "inputs_after": [], "error": None, "forbidden": []}
        if not callable(function):
            reply["error"] = f"`{name}` is not defined: did the cell that defines it run without an error?"
            return reply
        hasher = hashlib.blake2b(name.encode(), digest_size=4)
        for array in arrays:
            hasher.update(f"{array.dtype.str}{array.shape};".encode() + array.tobytes())
        seed = int.from_bytes(hasher.digest(), "little")
        random.seed(seed)
        np.random.seed(seed)
        torch.default_generator.manual_seed(seed)
        grad = bool(request.get("grad")) and all(a.is_floating_point() for a in args)
        if grad:
            args = [a.requires_grad_(True) for a in args]
        self._recorder.used.clear()
        try:
            result = function(*args)
            reply["value"] = _encode_value(result)
            if grad:
                reply["grads"] = _gradients(result, args)
        except BaseException as exc:
            reply["value"] = None
            reply["error"] = _describe_exception(exc)
        reply["inputs_after"] = [a.detach().numpy() for a in args]
        reply["forbidden"] = sorted(self._recorder.used)
        return reply

    def figure(self, name: str) -> dict:
        from matplotlib.figure import Figure

        figure = self.namespace.get(name)
        if not isinstance(figure, Figure):
            return {"figure": None, "error": f"`{name}` is not a matplotlib Figure (got {type(figure).__name__})"}
        try:
            return {"figure": {"axes": [_describe_axes(ax) for ax in figure.axes]}, "error": None}
        except Exception as exc:
            return {"figure": None, "error": f"could not read the figure `{name}`: {_describe_exception(exc)}"}


def _encode_value(value: Any) -> dict:
    import torch

    if type(value) is torch.Tensor:
        data = value.detach().cpu().numpy()
        if data.dtype.kind not in "biuf":  # complex and the like do not cross the wire: say so for this call
            raise TypeError(f"returned a tensor of dtype {value.dtype}; expected real numbers (e.g. float32)")
        return {"kind": "tensor", "data": data, "requires_grad": value.requires_grad}
    if type(value) in (float, int):
        return {"kind": "number", "data": float(value)}
    if type(value) is tuple:
        return {"kind": "tuple", "items": [_encode_value(v) for v in value]}
    raise TypeError(
        f"returned a {type(value).__module__}.{type(value).__qualname__}; "
        "expected a torch.Tensor (or a tuple of them)"
    )


def _gradients(result: Any, args: list) -> list | None:
    import torch

    if type(result) is not torch.Tensor or not result.requires_grad:
        return None
    grads = torch.autograd.grad(result.sum(), args, allow_unused=True)
    return [None if g is None else g.detach().numpy() for g in grads]


def _describe_axes(ax: Any) -> dict:
    legend = ax.get_legend()
    return {
        "title": str(ax.get_title()),
        "xlabel": str(ax.get_xlabel()),
        "ylabel": str(ax.get_ylabel()),
        "legend": [str(t.get_text()) for t in legend.get_texts()] if legend is not None else None,
        "lines": [
            {
                "label": str(line.get_label()),
                "x": np.asarray(line.get_xdata(), dtype=np.float64),
                "y": np.asarray(line.get_ydata(), dtype=np.float64),
            }
            for line in ax.get_lines()
        ],
    }


def serve(channel_in: BinaryIO, channel_out: BinaryIO) -> None:
    """Answer requests until the grader says exit or closes the channel."""
    server = Server()
    while True:
        try:
            message = wire.read_message(channel_in)
        except EOFError:
            return
        if isinstance(message, dict) and message.get("op") == "exit":
            return
        answer = server.handle(message)
        if isinstance(message, dict) and "id" in message:
            answer["id"] = message["id"]  # lets the launcher notice a stray or stale answer
        try:
            frame = wire.encode(answer)
        except wire.WireError as exc:
            frame = wire.encode({"error": f"could not encode the answer: {exc}", "id": answer.get("id")})
        view = memoryview(frame)
        while view:  # a raw pipe may take a large frame in several writes
            view = view[channel_out.write(view):]


def main() -> None:
    """Keep the channel on private descriptors; the student's prints go to a log file, not to it."""
    channel_in = os.fdopen(os.dup(0), "rb", buffering=0)
    channel_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open(os.environ.get("AUTOGRADER_LOG", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
    serve(channel_in, channel_out)


if __name__ == "__main__":
    main()
