"""Report sections -> report.html (one self-contained file: CSS inline, PNGs as data URIs; jinja2 escapes every
value) and report.md (GitHub-flavoured Markdown; its PNGs in a folder beside it)."""
from __future__ import annotations

import base64
import os
from typing import List, Sequence, Tuple

import jinja2

from pipeline.report.layout import Figure, Section, Table, Text

FIGURES_DIR = "report_files"


def _kind(block) -> dict:
    if isinstance(block, Text):
        return {"kind": "text", "text": block.text, "css": block.css}
    if isinstance(block, Table):
        return {"kind": "table", "header": block.header, "rows": block.rows, "marks": block.marks}
    if isinstance(block, Figure):
        return {"kind": "figure", "name": block.name, "title": block.title,
                "data": base64.b64encode(block.png).decode("ascii")}
    raise TypeError(f"unknown report block {block!r}")


def html(title: str, sections: List[Section], version: str, written: str,
         links: Sequence[Tuple[str, str]] = ()) -> str:
    """`links`: (text, relative href) of files beside the report (the model card), shown in the navigation."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    view = [{"title": s.title, "anchor": s.anchor, "blocks": [_kind(b) for b in s.blocks]} for s in sections]
    return environment.get_template("report.html.j2").render(title=title, sections=view, version=version,
                                                             written=written, links=list(links))


def _cell(text: str) -> str:
    """A table cell: pipes and backslashes escaped, one line, no raw HTML (a column could be named '<img ...>')."""
    text = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\n", " ").strip() or " "


def markdown(title: str, sections: List[Section], version: str, written: str,
             links: Sequence[Tuple[str, str]] = ()) -> str:
    lines = [f"# {title}", ""]
    lines.append(" · ".join([f"[{s.title}](#{s.anchor})" for s in sections]
                            + [f"[{text}]({href})" for text, href in links]))
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                plain = block.text.replace("<", "&lt;").replace(">", "&gt;")
                text = {"good": f"**{plain}**", "bad": f"**{plain}**", "note": f"_{plain}_",
                        "heading": f"### {plain}"}.get(block.css, plain)
                lines += [text, ""]
            elif isinstance(block, Table):
                marks = block.marks or [[]] * len(block.rows)
                lines.append("| " + " | ".join(_cell(h) for h in block.header) + " |")
                lines.append("|" + "---|" * len(block.header))
                for row, marked in zip(block.rows, marks):
                    cells = [f"**{_cell(c)}**" if i < len(marked) and marked[i] and str(c).strip() else _cell(c)
                             for i, c in enumerate(row)]
                    lines.append("| " + " | ".join(cells) + " |")
                lines.append("")
            elif isinstance(block, Figure):
                lines += [f"![{block.title}]({FIGURES_DIR}/{block.name}.png)", ""]
    lines += ["", f"_Written by `mtl report` {version} at {written}._", ""]
    return "\n".join(lines)
