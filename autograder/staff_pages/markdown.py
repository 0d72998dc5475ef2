"""A student's markdown as formatted text with nothing active in it.

nbconvert renders markdown with raw HTML and every URL scheme allowed, which is right for an
author's own notebook and wrong for a student's answer in a TA's browser. Here markdown keeps
its formatting (emphasis, lists, tables, code, math for MathJax), while whatever could carry
script is shown as its source text, so the TA sees it and nothing is silently dropped: raw HTML
inline or in blocks, links and images whose URL is not plain http(s), mailto or relative, and
attachments that are not raster images. The result then goes through ``nh3`` (the Rust
``ammonia`` sanitiser) with a short allowlist, as a second wall behind the renderer.

Plugged into nbconvert by configuration: ``c.HTMLExporter.filters = {"markdown2html":
"autograder.staff_pages.markdown.markdown2html"}`` (``nbgrader_config.py``).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

import nh3
from jinja2 import pass_context
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
RASTER_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")
NOTICE_CLASS = "autograder-neutralised"
_RASTER_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*\Z")
_TAG_LIKE = re.compile(r"<\s*[A-Za-z!/?]")
_TEX_MARKUP = re.compile(r"\\(?:href|url|class|cssId|style|html\w*|require|unicode)(?![A-Za-z])")

_ATTRIBUTES = {
    "*": {"class", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "ol": {"start"},
    "td": {"style", "colspan", "rowspan"},
    "th": {"style", "colspan", "rowspan"},
}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Images only from the submission's own folder or as raster data; no other data: URL."""
    if attribute == "src" and tag == "img":
        return value if _RASTER_DATA_URL.match(value) or url_scheme(value) is None else None
    if attribute == "href" and url_scheme(value) not in SAFE_SCHEMES | {None}:
        return None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(nh3.ALLOWED_TAGS) - {"map", "area"},  # image maps: links by another name
    attributes=_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes=set(SAFE_SCHEMES) | {"data"},  # data: only as a raster image (the filter)
    filter_style_properties={"text-align"},
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"table": {"class": "table table-condensed table-bordered"}},  # Bootstrap's, in both pages
)


def sanitise(fragment: str) -> str:
    """The second wall: an HTML fragment through the allowlist (balanced, no script, no handlers)."""
    return _CLEANER.clean(fragment)


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see (it ignores controls and whitespace inside it), or None."""
    bare = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(url))
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", bare)
    return match.group(1).lower() if match else None


@dataclass(frozen=True)
class Rendered:
    html: str
    neutralised: tuple[str, ...]  # what was shown as text instead of rendered, in order


class _InertRenderer(IPythonRenderer):
    """nbconvert's renderer (math, code highlighting) with raw HTML and unsafe URLs as text."""

    def __init__(self, attachments: dict):
        super().__init__(escape=True, allow_harmful_protocols=False, attachments=attachments,
                         exclude_anchor_links=True)
        self.neutralised: list[str] = []

    def shown_as_text(self, what: str, source: str) -> str:
        self.neutralised.append(what)
        return f'<code class="{NOTICE_CLASS}">{html.escape(source)}</code>'

    def inline_html(self, html_text: str) -> str:
        return self.shown_as_text("HTML", html_text)

    def block_html(self, html_text: str) -> str:
        return "<p>" + self.shown_as_text("HTML", html_text.strip()) + "</p>\n"

    def link(self, text: str, url: str, title: str | None = None) -> str:
        if url_scheme(url) in SAFE_SCHEMES | {None}:
            return super().link(text, url, title)
        return text + " " + self.shown_as_text(f"a {url_scheme(url)}: link", f"({url})")

    def image(self, text: str, url: str, title: str | None = None) -> str:
        if url.startswith("attachment:"):
            src = self._attachment(url[len("attachment:"):])
            if src is None:
                return self.shown_as_text("an attachment that is not a raster image", f"![{text}]({url})")
            return super().image(text, src, title)
        if url_scheme(url) is None or _RASTER_DATA_URL.match(url):
            return super().image(text, url, title)
        return self.shown_as_text(f"an image from a {url_scheme(url)}: URL", f"![{text}]({url})")

    def _attachment(self, name: str) -> str | None:
        bundle = self.attachments.get(name, {})
        for mime in RASTER_IMAGES:
            if isinstance(bundle.get(mime), str):
                return f"data:{mime};base64,{bundle[mime]}"
        return None

    def block_code(self, code: str, info: str | None = None) -> str:
        """A language name highlights the block; anything else after the fence is shown with it
        (nbconvert would keep only its first word, in a class attribute)."""
        if info and not re.fullmatch(r"[\w+#.-]+", info.strip()):
            self.neutralised.append("markup after a code fence")
            return "<pre><code>" + html.escape(f"{info.strip()}\n{code}") + "</code></pre>\n"
        return super().block_code(code, info)

    def block_mermaidjs(self, code: str) -> str:
        return "<pre><code>" + html.escape(code) + "</code></pre>\n"

    def inline_math(self, body: str) -> str:
        self._check_math(body)
        return super().inline_math(body)

    def block_math(self, body: str) -> str:
        self._check_math(body)
        return super().block_math(body)

    def _check_math(self, body: str) -> None:
        """Math stays math (escaped, typeset by MathJax with its Safe extension), but HTML in it
        is no honest formula: note it so a person looks."""
        if _TAG_LIKE.search(body):
            self.neutralised.append("HTML inside math")
        if _TEX_MARKUP.search(body):
            self.neutralised.append("a TeX link or markup command inside math")


def render(source: str, attachments: dict | None = None) -> Rendered:
    renderer = _InertRenderer(attachments or {})
    body = MarkdownWithMath(renderer=renderer).render(source)
    return Rendered(sanitise(body), tuple(renderer.neutralised))


def notice(neutralised: tuple[str, ...]) -> str:
    """The banner above a cell whose content was shown as text: what, and that it is flagged."""
    if not neutralised:
        return ""
    what = ", ".join(dict.fromkeys(neutralised))
    return (f'<div class="{NOTICE_CLASS}-notice" style="border-left:4px solid #b3261e;'
            f'background:#fdecea;padding:.4em .8em;margin:.3em 0;font-family:sans-serif">'
            f"Shown as text, not rendered (it could run code in this page): {html.escape(what)}. "
            f"The submission is flagged for review.</div>")


@pass_context
def markdown2html(context, source: str) -> str:
    """The Jinja filter nbconvert's templates call on every markdown cell and output."""
    cell = context.get("cell", {}) or {}
    rendered = render(source, cell.get("attachments", {}) or {})
    return notice(rendered.neutralised) + rendered.html
