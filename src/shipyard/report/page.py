"""One self-contained HTML page: sections of escaped text, tables, embedded figures, and the
Markdown the steps already write (validate's report, the gate's decision) shown as HTML
rather than repeated in other words.

The Markdown here is the small subset the steps write (headings, pipe tables, bullet lists,
``**bold**`` and ``code``); a full Markdown library would be one more dependency for that.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;font-size:.92em}th{background:#f4f4f4}code{background:#f4f4f4;padding:0 .2em}
.figures{display:flex;flex-wrap:wrap;gap:1em}.figures img{border:1px solid #eee}
.note{color:#666}
"""


@dataclass
class Section:
    """One titled part of the page; ``body`` is HTML already escaped where it must be."""

    key: str  # the section's id, for links and tests
    title: str
    body: list[str] = field(default_factory=list)

    def text(self, words: str) -> Section:
        self.body.append(f"<p>{inline(words)}</p>")
        return self

    def table(self, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Section:
        self.body.append(table(header, rows))
        return self

    def figures(self, images: dict[str, str]) -> Section:
        tags = "".join(f'<img alt="{html.escape(alt)}" src="{uri}">' for alt, uri in images.items())
        self.body.append(f'<div class="figures">{tags}</div>')
        return self

    def markdown(self, text: str) -> Section:
        self.body.append(markdown(text))
        return self


def inline(text: str) -> str:
    """Escape, then ``**bold**`` and ``code`` spans."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{inline(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{inline(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown(text: str) -> str:
    """The steps' Markdown as HTML; headings two levels down (the page has its own)."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([cell.strip() for cell in lines[i].strip().strip("|").split("|")])
                i += 1
            rows = [r for r in block[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
            out.append(table(block[0], rows))
            continue
        if line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
            continue
        heading = re.match(r"(#{1,4}) (.*)", line)
        if heading:
            level = min(len(heading.group(1)) + 2, 6)
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif line:
            out.append(f"<p>{inline(line)}</p>")
        i += 1
    return "\n".join(out)


def render(title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """The whole page: a title, a table of contents, the sections."""
    toc = " · ".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{inline(subtitle)}</p>' if subtitle else "",
        f"<nav>{toc}</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        parts.extend(section.body)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
