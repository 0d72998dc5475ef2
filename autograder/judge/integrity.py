"""Integrity flags for TAs: forbidden library losses and tamper attempts, never automatic zeros.

Static checks read the student's source (parsed, never run); run-time evidence comes from the
sandbox (forbidden calls it recorded, errors its walls raised). A flag asks a person to look.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterable

from IPython.core.inputtransformer2 import TransformerManager

from autograder.judge.results import Flag

# What a browser would run if staff opened it: formgrader serves these from a submission as text.
ACTIVE_FILE_TYPES = frozenset({".html", ".htm", ".xhtml", ".xht", ".shtml", ".svg", ".svgz",
                               ".xml", ".xsl", ".js", ".mjs", ".pdf", ".swf"})

FORBIDDEN_NAMES = frozenset({
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "BCELoss", "BCEWithLogitsLoss",
})

# (pattern in the student's source, what a TA should know about it)
TAMPER_PATTERNS = (
    (r"\b(torch|np|numpy|F|math)\.(allclose|isclose|testing|equal|array_equal)\s*=",
     "replaces a comparison function"),
    (r"__torch_function__|__eq__|__float__|__bool__", "defines comparison or conversion hooks"),
    (r"input_transformers|\.events\.register|register_magic|ast_transformers",
     "hooks into IPython's cell execution"),
    (r"skip-execution|metadata\s*\[", "touches cell metadata"),
    (r"sys\.modules|builtins|__builtins__|importlib\.reload", "rewrites modules or builtins"),
    (r"gradebook|\.\./|/source/|submitted/|autograded/", "looks for course files"),
    (r"\bsocket\b|urllib|requests\.|http\.client", "opens network connections"),
    (r"subprocess|os\.system|os\.fork|os\.kill|multiprocessing|os\._exit", "spawns or kills processes"),
)

ESCAPE_SIGNS = ("Permission denied", "Read-only file system", "Network is unreachable",
                "No such file or directory: '/", "Operation not permitted")
# The system calls the sandbox's filter denies (``inside/seccomp_filter``) fail with EPERM (clone3:
# ENOSYS) and kill nothing; os-level wrappers then raise "Operation not permitted" (above). What
# else such an attempt leaves in an error, none of which honest code produces:
BLOCKED_CALLS = (r"unshare|setns|u?mount2?|pivot_root|io_uring_\w+|userfaultfd|bpf|perf_event_open|keyctl|add_key|"
                 r"request_key|ptrace|process_vm_(?:readv|writev)|kexec_(?:file_)?load|(?:f?init|delete)_module|"
                 r"personality|clone3")  # not clone: torch says "clone()" in honest errors
ESCAPE_PATTERNS = (
    # ctypes returns -1 and sets errno: the student's own error names the call and the failure, on one line
    rf"^(?=.*\b(?:{BLOCKED_CALLS})\b)"
    r"(?=.*(?:\bEPERM\b|\bENOSYS\b|\berrno\W*(?:1|38)\b|(?<![\w.])-1\b|\bfail|not implemented))",
    r"\bEPERM\b|\[Errno 1\]",
    r"module 'os' has no attribute '(?:unshare|setns|CLONE_NEW\w*)'",  # Python < 3.12 (no os.unshare)
)


def _parse(source: str) -> ast.AST | None:
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def forbidden_uses(sources: Iterable[str], graded_functions: Iterable[str]) -> list[Flag]:
    """Graded functions whose body names a library loss the assignment forbids."""
    graded = set(graded_functions)
    flags = []
    for source in sources:
        tree = _parse(source)
        if tree is None:
            continue
        for name, body in _graded_definitions(tree, graded):
            used = sorted({
                n.attr if isinstance(n, ast.Attribute) else n.id
                for n in ast.walk(body)
                if (isinstance(n, ast.Attribute) and n.attr in FORBIDDEN_NAMES)
                or (isinstance(n, ast.Name) and n.id in FORBIDDEN_NAMES)
            })
            if used:
                flags.append(Flag("forbidden-call", f"{name}() uses {', '.join(used)} "
                                                    "(the assignment asks for it by hand)"))
    return flags


def _graded_definitions(tree: ast.AST, graded: set[str]):
    """``def mse(...)`` and also ``mse = <expression>`` (an alias or a lambda) for graded names."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in graded:
            yield node.name, node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in graded:
                    yield target.id, node.value


def tamper_signs(sources: Iterable[str]) -> list[Flag]:
    flags = []
    for index, source in enumerate(sources, start=1):
        for pattern, meaning in TAMPER_PATTERNS:
            match = re.search(pattern, source)
            if match:
                flags.append(Flag("tamper", f"student cell {index} {meaning}: `{match.group(0)}`"))
    return flags


def escape_signs(errors: Iterable[str]) -> list[Flag]:
    """Errors raised by the sandbox's walls: the student's code tried to reach outside."""
    return [
        Flag("sandbox-escape", f"blocked by the sandbox: {error.splitlines()[-1][:300]}")
        for error in errors
        if any(sign in error for sign in ESCAPE_SIGNS)
        or any(re.search(pattern, error, re.IGNORECASE | re.MULTILINE) for pattern in ESCAPE_PATTERNS)
    ]


def runtime_forbidden(function: str, used: Iterable[str]) -> list[Flag]:
    return [Flag("forbidden-call", f"{function}() called {name} while being graded") for name in sorted(set(used))]


def active_content(folder: Path, read_notebook) -> list[Flag]:
    """What staff pages show as text instead of rendering (``staff_pages``): HTML, unsafe links,
    rich outputs, raw cells in a notebook, and files a browser would run. No honest answer needs
    them, so a person looks; the pages themselves are safe either way."""
    from autograder.staff_pages import cells  # nbconvert: not for one notebook graded alone (grade-notebook)

    flags = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".ipynb":
            try:
                found = cells.findings(read_notebook(path))
            except ValueError:  # unreadable: its grading says so
                continue
            if found:
                flags.append(Flag("active-content", f"{name}: {'; '.join(found)} (shown to staff as text)"))
        elif path.suffix.lower() in ACTIVE_FILE_TYPES:
            flags.append(Flag("active-content", f"{name}: a file a browser would run (served to staff as text)"))
    return flags
