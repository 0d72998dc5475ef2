"""Content-Security-Policies that let a staff page run its own scripts and nothing else.

The pages formgrader and nbgrader render (the grading page, the feedback HTML) carry inline
scripts and ``onclick`` handlers of their templates, so a policy without ``'unsafe-inline'``
must name each by its hash. Which ones are the template's: every inline script and handler
outside the element that holds the notebook (``#notebook-container``). Student content only
ever lands inside it, and after ``markdown.sanitise`` it is a balanced fragment that cannot
close that element; if anything active slipped through the sanitiser, it is inside, gets no
hash, and the browser refuses it.
"""
from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

CONTENT_ID = "notebook-container"
MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/"  # nbconvert's, with its Safe extension

# Files served from a submission: no script at all, an opaque origin, nothing embedded.
FILES_POLICY = ("sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                "frame-ancestors 'self'")


class _TemplateScripts(HTMLParser):
    """Inline scripts and event handlers outside the content element, as CSP hash sources."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.depth = 0  # of <div>s, once inside the content element
        self.in_script = False
        self.script = ""
        self.scripts: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth:
            self.depth += tag == "div"
            return
        if tag == "div" and attrs.get("id") == CONTENT_ID:
            self.depth = 1
            return
        self.handlers += [value for name, value in attrs.items() if name.startswith("on") and value]
        if tag == "script" and not attrs.get("src"):
            self.in_script, self.script = True, ""

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= tag == "div"
        elif tag == "script" and self.in_script:
            self.scripts.append(self.script)
            self.in_script = False

    def handle_data(self, data):
        if self.in_script:
            self.script += data


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_policy(page: str, *, header: bool = True) -> str:
    """The policy for one rendered page: its template's scripts by hash, MathJax, same-origin files.

    ``header=False`` gives the form for a ``<meta>`` element (no ``frame-ancestors``, which
    browsers honour only as a header).
    """
    parser = _TemplateScripts()
    parser.feed(page)
    parser.close()
    scripts = sorted({_sha256(s) for s in parser.scripts} | {_sha256(h) for h in parser.handlers})
    script_src = ["'self'", MATHJAX, *scripts] + (["'unsafe-hashes'"] if parser.handlers else [])
    directives = [
        "default-src 'self'",
        "script-src " + " ".join(script_src),
        "style-src 'self' 'unsafe-inline' https://cdnjs.cloudflare.com",
        "img-src 'self' data:",
        "font-src 'self' data: https://cdnjs.cloudflare.com",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-src 'none'",
        "worker-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
    if header:
        directives.append("frame-ancestors 'self'")
    return "; ".join(directives)


def with_meta_policy(page: str) -> str:
    """A static page (nbgrader's feedback HTML) with its policy as the first element of <head>,
    so it holds wherever the file is opened: a file share, an e-mail, Jupyter's file view."""
    tag = f'<meta http-equiv="Content-Security-Policy" content="{page_policy(page, header=False)}">'
    head = page.find("<head>")
    if head < 0:
        raise ValueError("no <head> in the page: cannot place its Content-Security-Policy")
    return page[:head + len("<head>")] + "\n" + tag + page[head + len("<head>"):]
