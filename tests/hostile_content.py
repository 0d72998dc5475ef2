"""A hostile student's notebook and files: every way HTML can carry script into a staff page.

Each payload, if it ever runs, appends ``|ran:<name>`` to the title of the top-level page it is
in (``top.document.title``), so a test reads the title and sees which ran; a payload confined to
another origin cannot touch the TA's page, and that is the point. ``tests/test_staff_pages.py``
first renders the notebook the way stock nbgrader does and checks that the payloads do run
there, so a test that sees nothing run is not a test that could not fail.
"""
from __future__ import annotations

import base64
import copy

import nbformat


def ran(name: str) -> str:
    """The JavaScript a payload runs: mark the top-level page (single quotes only)."""
    return f"top.document.title+='|ran:{name}'"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _html_doc(name: str) -> str:
    return f"<script>{ran(name)}</script>"


MARKDOWN_PAYLOADS = {  # name -> markdown a student can write in an answer
    "img-onerror": f'<img src="nope.png" onerror="{ran("img-onerror")}">',
    "script-tag": f"<script>{ran('script-tag')}</script>",
    "iframe-srcdoc": f'<iframe srcdoc="<script>{ran("iframe-srcdoc")}</script>"></iframe>',
    "object-data": f'<object data="data:text/html;base64,{_b64(_html_doc("object-data"))}"></object>',
    "embed-data": f'<embed src="data:text/html;base64,{_b64(_html_doc("embed-data"))}">',
    "svg-onload": f'<svg onload="{ran("svg-onload")}"><circle r="3"/></svg>',
    "mathml-link": f'<math><mtext><a href="javascript:{ran("mathml-link")}">MathML link</a></mtext></math>',
    "details-ontoggle": f'<details open ontoggle="{ran("details-ontoggle")}"><summary>s</summary></details>',
    "md-javascript-link": f"[a markdown link](javascript:{ran('md-javascript-link')})",
    "html-javascript-link": f'<a href="javascript:{ran("html-javascript-link")}">an HTML link</a>',
    "md-data-link": f"[a data link](data:text/html;base64,{_b64(_html_doc('md-data-link'))})",
    "fenced-code-info": f'```"><img src=x onerror="{ran("fenced-code-info")}">\nprint(1)\n```',
    "mermaid": f'```mermaid\n<img src=x onerror="{ran("mermaid")}">\n```',
    "inline-math": f'$<img src=x onerror="{ran("inline-math")}">$',
    "display-math": f'$$\\href{{javascript:{ran("display-math")}}}{{x}}$$',
    "svg-attachment": "![chart](attachment:chart.svg)",
    "html-attachment": "![page](attachment:page.html)",
}

ATTACHMENTS = {
    "chart.svg": {"image/svg+xml": _b64(f'<svg xmlns="http://www.w3.org/2000/svg" onload="{ran("svg-attachment")}"/>')},
    "page.html": {"text/html": _b64(_html_doc("html-attachment"))},
}

OUTPUTS = [  # rich outputs a student saved (or wrote into the JSON by hand)
    {"output_type": "display_data", "metadata": {},
     "data": {"text/html": f'<img src=x onerror="{ran("output-html")}">', "text/plain": "<img>"}},
    {"output_type": "display_data", "metadata": {}, "data": {"application/javascript": ran("output-js")}},
    {"output_type": "display_data", "metadata": {},
     "data": {"image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{ran("output-svg")}"/>'}},
    {"output_type": "execute_result", "execution_count": 1, "metadata": {},
     "data": {"text/markdown": f'<img src=x onerror="{ran("output-markdown")}">'}},
]

RAW_CELL = f"<script>{ran('raw-cell')}</script>"

FILES = {  # files a student puts next to the notebook
    "notes.html": f"<html><body><script>{ran('file-html')}</script>notes</body></html>",
    "figure.svg": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{ran("file-svg")}"><circle r="3"/></svg>',
    "page.xhtml": (f'<html xmlns="http://www.w3.org/1999/xhtml"><body><script>{ran("file-xhtml")}'
                   "</script></body></html>"),
}

ALL_PAYLOADS = (set(MARKDOWN_PAYLOADS) | {"added-cell", "raw-cell", "output-html", "output-js", "output-svg",
                                          "output-markdown"} | {"file-html", "file-svg", "file-xhtml"})

HONEST_ANSWER = """The loss is **convex** in *w* (see [my notes](notes.html)):

- a sum of parabolas is a parabola
- its leading coefficient is $\\sum_i x_i^2 > 0$

| w | MSE |
|---|-----|
| 0 | 2.5 |
| 1 | 0.5 |
"""


def hostile_notebook(released: nbformat.NotebookNode, answer_ids: list[str]) -> nbformat.NotebookNode:
    """The released notebook with every payload in the written answers, an added cell, a raw
    cell and a code cell's outputs. Answer 0 also keeps an honest formatted answer to read."""
    nb = copy.deepcopy(released)
    payloads = list(MARKDOWN_PAYLOADS.items())
    half = len(payloads) // 2
    shares = {answer_ids[0]: payloads[:half], answer_ids[1]: payloads[half:]}
    code_done = False
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in shares:
            body = "\n\n".join(f"{name}: {md}" for name, md in shares[grade_id])
            cell.source = (HONEST_ANSWER + "\n\n" if grade_id == answer_ids[0] else "") + body
            if grade_id == answer_ids[1]:
                cell.attachments = ATTACHMENTS
        elif cell.cell_type == "code" and not code_done and not cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.from_dict(o) for o in OUTPUTS]
            code_done = True
    nb.cells.append(nbformat.v4.new_markdown_cell("An added cell: " + MARKDOWN_PAYLOADS["img-onerror"]
                                                  .replace("img-onerror", "added-cell")))
    nb.cells.append(nbformat.v4.new_raw_cell(RAW_CELL, metadata={"raw_mimetype": "text/html"}))
    return nb
