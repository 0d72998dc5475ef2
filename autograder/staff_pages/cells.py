"""Cells a student saved, made inert before a staff page renders them, and what that changed.

A notebook can carry active content outside markdown too: raw cells (emitted as HTML by
nbconvert), rich outputs a student saved or forged in the JSON (``text/html``, SVG,
JavaScript, widget state), attachments. The preprocessor keeps what is plain data (text and
raster images) and turns the rest into visible text; ``findings`` lists it all for the
integrity flag, using the same rules as the pages, so the flag and the page never disagree.
"""
from __future__ import annotations

import copy
import functools

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode

from autograder.staff_pages import markdown

SAFE_OUTPUT_TYPES = ("text/plain", "image/png", "image/jpeg", "image/gif")
SHOWN_CHARS = 20_000  # of one neutralised output; a flood is cut, and says so


def _longest_backtick_run(text: str) -> int:
    run = best = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        best = max(best, run)
    return best


def _as_text(text: str, limit: int = SHOWN_CHARS) -> str:
    if len(text) > limit:
        text = text[:limit] + f"\n… ({len(text) - limit} more characters not shown)"
    return text


def _raw_as_markdown(cell: NotebookNode) -> NotebookNode:
    """A raw cell as a fenced block, so a TA reads its text instead of the page running it."""
    fence = "`" * max(3, _longest_backtick_run(cell.source) + 1)
    shown = copy.deepcopy(cell)
    shown.cell_type = "markdown"
    shown.source = f"*Raw cell, shown as text:*\n\n{fence}text\n{_as_text(cell.source)}\n{fence}"
    shown.pop("attachments", None)
    return shown


def _inert_outputs(outputs: list) -> tuple[list, list[str]]:
    found: list[str] = []
    for output in outputs:
        data = output.get("data")
        if output.get("output_type") not in ("display_data", "execute_result") or not data:
            continue
        removed = sorted(key for key in data if key not in SAFE_OUTPUT_TYPES)
        for key in removed:
            value = data.pop(key)
            text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else repr(value)
            found.append(f"a saved {key} output")
            note = f"[a {key} output, shown as text:]\n{_as_text(text)}"
            data["text/plain"] = f"{data['text/plain']}\n{note}" if "text/plain" in data else note
        if removed:
            output.get("metadata", {}).clear()
    return outputs, found


def inert_cell(cell: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The cell as a staff page may render it, and what was neutralised in it."""
    if cell.cell_type == "raw":
        return _raw_as_markdown(cell), (["a raw cell"] if cell.source.strip() else [])
    if cell.cell_type == "markdown":
        attachments = cell.get("attachments") or {}
        found = markdown.render(cell.source, attachments).neutralised if attachments else _neutralised(cell.source)
        return cell, list(found)
    if cell.cell_type == "code":
        cell = copy.deepcopy(cell)
        cell.outputs, found = _inert_outputs(cell.get("outputs", []))
        return cell, found
    return cell, []


@functools.lru_cache(maxsize=512)
def _neutralised(source: str) -> tuple[str, ...]:
    """What rendering markdown without attachments neutralises, once per text: a class's
    notebooks share most of theirs (the instructor's), and rendering costs milliseconds a cell."""
    return tuple(markdown.render(source, {}).neutralised)


def findings(notebook: NotebookNode) -> list[str]:
    """``cell N: what`` for every cell whose content a staff page shows as text instead."""
    lines = []
    for index, cell in enumerate(notebook.get("cells", []), start=1):
        _, found = inert_cell(cell)
        if found:
            lines.append(f"cell {index}: {', '.join(dict.fromkeys(found))}")
    return lines


class InertStudentContent(Preprocessor):
    """nbconvert preprocessor: every cell through ``inert_cell`` before the template sees it.

    Configured for ``HTMLExporter`` in ``nbgrader_config.py``, so it runs in formgrader's grading
    page and in ``generate_feedback``'s HTML alike. Markdown is made inert by the markdown filter
    at render time (it needs the template's context); this step handles what the filter cannot
    see: raw cells and outputs.
    """

    def preprocess_cell(self, cell, resources, index):
        shown, _ = inert_cell(cell)
        return shown, resources
