"""Self-contained HTML pages: everything escaped, figures inline, nothing fetched."""

import base64
import re

from matplotlib.figure import Figure

from parcelrisk.htmlpage import escape, figure_png, image, page, table, write_html


def test_escape_makes_text_and_attributes_safe():
    assert escape("<b>'x' & \"y\"</b>") == "&lt;b&gt;&#x27;x&#x27; &amp; &quot;y&quot;&lt;/b&gt;"
    assert escape(3.5) == "3.5"


def test_figure_is_embedded_as_png_data():
    fig = Figure()
    fig.subplots().plot([1, 2])
    uri = figure_png(fig)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert image(fig, "a 'plot'").endswith("alt='a &#x27;plot&#x27;'>")


def test_table_escapes_cells_and_classes_chosen_cells():
    html = table(["a", "b"], [("<x>", "inspect"), (1, None)], cell_class={"inspect": "lane"})
    assert html == (
        "<table><tr><th>a</th><th>b</th></tr>"
        "<tr><td>&lt;x&gt;</td><td class='lane'>inspect</td></tr>"
        "<tr><td>1</td><td>None</td></tr></table>"
    )
    assert "<th>" not in table(["a"], [("x",)], header=False)


def test_page_refers_to_nothing_outside_itself():
    html = page("t <1>", ["<p>body</p>"], "made by <me>")
    assert html.startswith("<!DOCTYPE html>") and "<title>t &lt;1&gt;</title>" in html
    assert "<footer>made by &lt;me&gt;</footer>" in html
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert not re.search(r"https?://", html)


def test_write_html_creates_folders(tmp_path):
    out = write_html("<p>é</p>", tmp_path / "a" / "b" / "r.html")
    assert out.read_text(encoding="utf-8") == "<p>é</p>"
