"""The page model (sections of paragraphs, bullet lists, tables, figures) and its two renderings.

The page is built once and rendered twice, so the Markdown and the HTML always hold the same
tables. A folded section is the reference material a reader opens on purpose (the machine, the
method): in HTML it is a closed ``<details>`` block, in Markdown a plain section.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

from matplotlib.figure import Figure


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)
    caption: str = ""


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Image:
    name: str
    alt: str
    png: bytes


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Bullets | Image] = field(default_factory=list)
    #: Closed by default in HTML: reference material, not the answer.
    folded: bool = False


def image(name: str, alt: str, figure: Figure) -> Image:
    """The figure as a PNG block, ``plots/<name>.png`` beside the page."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return Image(name, alt, buffer.getvalue())


def to_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                if block.caption:
                    out += [f"*{block.caption}*", ""]
                out.append("| " + " | ".join(_md(c) for c in block.columns) + " |")
                out.append("|" + "|".join("---" for _ in block.columns) + "|")
                for r, row in enumerate(block.rows):
                    cells = [f"**{_md(v)}**" if (r, c) in block.bold else _md(v)
                             for c, v in enumerate(row)]
                    out.append("| " + " | ".join(cells) + " |")
            elif isinstance(block, Bullets):
                out += [f"- {item}" for item in block.items]
            elif isinstance(block, Image):
                out.append(f"![{block.alt}](plots/{block.name}.png)")
            else:
                out.append(block)
            out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; } h2 { margin-top: 2em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
.wide { overflow-x: auto; }
th { background: #f4f4f4; } caption { text-align: left; font-style: italic; padding: 0.3em 0; }
img { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
details { margin-top: 1.5em; } summary { cursor: pointer; }
summary h2 { display: inline; margin: 0; border: none; }
"""


def to_html(title: str, sections: list[Section]) -> str:
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{esc(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{esc(title)}</h1>"]
    for section in sections:
        if section.folded:
            out.append(f"<details><summary><h2>{esc(section.title)}</h2></summary>")
        else:
            out.append(f"<h2>{esc(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                # A table wider than the page scrolls by itself; the page does not.
                out.append('<div class="wide"><table>')
                if block.caption:
                    out.append(f"<caption>{esc(block.caption)}</caption>")
                if any(block.columns):
                    out.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in block.columns)
                               + "</tr>")
                for r, row in enumerate(block.rows):
                    cells = [f"<td><strong>{esc(v)}</strong></td>" if (r, c) in block.bold
                             else f"<td>{esc(v)}</td>" for c, v in enumerate(row)]
                    out.append("<tr>" + "".join(cells) + "</tr>")
                out.append("</table></div>")
            elif isinstance(block, Bullets):
                out.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>")
            elif isinstance(block, Image):
                data = base64.b64encode(block.png).decode("ascii")
                out.append(f'<img alt="{esc(block.alt)}" src="data:image/png;base64,{data}">')
            else:
                out.append(f"<p>{esc(block)}</p>")
        if section.folded:
            out.append("</details>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
