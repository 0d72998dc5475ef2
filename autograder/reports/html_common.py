"""Pieces both HTML writers share: one stylesheet, escaping, embedded images, the page shell.

Pages must open offline from a file share or an e-mail attachment, so everything is inline: CSS
in a <style> element, images as data: URIs, no scripts at all. Student-derived text is hostile
(it may contain markup); every such string goes through ``esc``.
"""
from __future__ import annotations

import base64
import html
from typing import Iterable, Sequence

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5rem; color: #1d2330; background: #ffffff; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; } h2 { font-size: 1.25rem; margin-top: 2rem;
     border-bottom: 2px solid #d8dee9; padding-bottom: .25rem; }
.meta { color: #4c566a; } .meta b { color: #1d2330; }
.banner { background: #b3261e; color: #fff; padding: .9rem 1.2rem; border-radius: 6px;
          font-weight: 600; margin: 1rem 0; }
.ok { background: #e6f4ea; color: #1e5631; padding: .5rem 1rem; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; font-size: .92rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e5e9f0;
         vertical-align: top; }
th { background: #eceff4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 6px; padding: .7rem;
      white-space: pre-wrap; word-break: break-word; font-size: .85rem; margin: 0; }
img { max-width: 100%; border: 1px solid #e5e9f0; border-radius: 4px; }
.part { display: grid; grid-template-columns: 2fr 1fr; gap: 1rem; margin: 1rem 0; }
.ta { background: #fff8e1; border-left: 4px solid #f2b600; padding: .6rem .8rem;
      border-radius: 4px; white-space: pre-wrap; }
.muted { color: #6b7280; font-style: italic; }
code { background: #eceff4; padding: 0 .25rem; border-radius: 3px; }
.part h2 { margin-top: .5rem; } .part > div { min-width: 0; }
.cause { border-left: 4px solid #b3261e; background: #fdf3f2; padding: .5rem .9rem;
         border-radius: 4px; margin: .6rem 0; }
.diagnosis { font-weight: 600; }
table.example { width: auto; background: #fff; } table.example caption { text-align: left;
  font-weight: 600; padding: .3rem 0; } table.example th { background: #f6f8fa; font-weight: 500; }
table.rules td.num { white-space: nowrap; }
table.rules td.pass, span.pass { color: #1e5631; font-weight: 700; }
table.rules td.fail, span.fail { color: #b3261e; font-weight: 700; }
tr.note td { border-bottom: none; color: #4c566a; padding-top: 0; }
details { margin: .4rem 0; } summary { cursor: pointer; color: #2f5f9e; }
"""


def esc(text: object) -> str:
    """HTML-escape anything, quotes included (values also land in attributes)."""
    return html.escape(str(text), quote=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(png: bytes, alt: str) -> str:
    return f'<img src="{data_uri(png)}" alt="{esc(alt)}">'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]],
          numeric: frozenset[int] = frozenset()) -> str:
    """A table from already-escaped cell HTML; ``numeric`` column indexes are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """A complete self-contained HTML document (no scripts, no external resources)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")
