"""Self-contained HTML pages: escaped text, tables, figures embedded as PNG, one stylesheet.

A page never refers to anything outside itself (no script, stylesheet, font or image
fetched), so it opens the same offline, from a mail attachment or an archive.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.lead { font-size: 1.1em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f4f6f7; }
img { max-width: 100%; border: 1px solid #eee; }
.caption, small, footer { color: #555; }
.lane { font-weight: bold; text-transform: uppercase; }
span.lane { color: #fff; padding: .1em .5em; border-radius: .3em; font-size: .8em;
            vertical-align: middle; }
span.inspect { background: #c0392b; } span.review { background: #e67e22; }
span.release { background: #7f8c8d; }
td.inspect { color: #c0392b; } td.review { color: #d35400; } td.release { color: #566573; }
.raises { color: #c0392b; font-weight: bold; } .lowers { color: #2e86c1; font-weight: bold; }
ol.reasons li { margin-bottom: .6em; }
footer { margin-top: 3em; font-size: .85em; border-top: 1px solid #ddd; padding-top: .5em; }
"""


def escape(value) -> str:
    """Any value as HTML text (quotes escaped too: safe inside attributes)."""
    return html.escape(str(value), quote=True)


def figure_png(fig: Figure) -> str:
    """The figure as a base64 PNG ``data:`` URI, ready for an ``<img src>``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image(fig: Figure, alt: str) -> str:
    """An ``<img>`` holding the figure itself."""
    return f"<img src='{figure_png(fig)}' alt='{escape(alt)}'>"


def table(
    head: Sequence[str],
    rows: Sequence[Sequence],
    *,
    header: bool = True,
    cell_class: Mapping[str, str] | None = None,
) -> str:
    """An HTML table of escaped cells; ``cell_class`` maps a cell's text to a CSS class."""
    classes = cell_class or {}
    thead = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>" if header else ""
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='{classes[str(v)]}'>{escape(v)}</td>"
            if str(v) in classes
            else f"<td>{escape(v)}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{thead}{body}</table>"


def page(title: str, body: Sequence[str], footer: str) -> str:
    """A whole HTML document: title, the stylesheet inline, body parts and a footer."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + f"\n<footer>{escape(footer)}</footer>\n</body></html>\n"
    )


def write_html(text: str, out: str | Path) -> Path:
    """Write a page to ``out`` (folders created)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
