"""mkdocs hook: put the generated figures and numbers into the pages.

A page writes ``{{ figure("cheese_vector/coefficient_sweep") }}``,
``{{ summary("cheese_vector") }}``, ``{{ table("scoreboard/claims") }}`` or
``{{ include("model/hook_table.md") }}``; the hook replaces it with the plotly ``<div>``,
the printed summary, a generated markdown table (those three followed by the line of the
run that made them) or the markdown that
``docs/generate.py`` wrote under ``docs/generated/``. plotly.js
itself is one local copy for the whole site (``assets/plotly.min.js``): no CDN.
A placeholder without its generated file fails the build, naming the file.

Figures are fitted to the content column here, whatever their code asked for: a fixed
``width`` is dropped (plotly then fills the column and follows it on resize), and the title
moves below a strip at the top that the modebar owns. ``overrides/main.html`` wraps titles
to the column's width at run time; ``assets/figures.css`` keeps the boxes inside it.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

DOCS = Path(__file__).parent
GENERATED = DOCS / "generated"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")
PLACEHOLDER = re.compile(r"\{\{\s*(figure|summary|table|include)\(\"([^\"]+)\"\)\s*\}\}")
FILES = {"figure": "{}.div.html", "summary": "{}/summary.txt", "table": "{}.md", "include": "{}"}

# plotly's to_html: an outer <div> sized like the layout, then Plotly.newPlot("id", data,
# layout, config) with each argument one JSON value.
OUTER_DIV = re.compile(r'^\s*<div style="[^"]*">')
NEWPLOT = re.compile(r'Plotly\.newPlot\(\s*"[^"]+",\s*')
SEPARATOR = re.compile(r"\s*,\s*")
MODEBAR_PX = 32  # the modebar's strip at the top of a figure (29 px); the title goes below
# A one-line title's glyphs start 3 px above its pad (plotly's cap-height shift), so the
# pad is 35; overrides/main.html adds 12 more for a wrapped title, which plotly raises more.
TITLE_PAD_PX = MODEBAR_PX + 3
TITLE_LINE_PX = 20  # one line of plotly's default 17 px title font, plus a gap below it
SUBPLOT_TITLES_PX = 26  # subplot titles sit between the figure title and the plots
PLOTLY_HEIGHT = 450  # plotly's default, made explicit so the outer <div> can match it


def _json(value) -> str:
    # As plotly writes it: no "</script>" can end the inline script early.
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("/", "\\u002f")


def fit_to_column(html: str, name: str) -> str:
    """A generated figure's HTML, re-laid-out to fill its container and never exceed it."""
    call = NEWPLOT.search(html)
    outer = OUTER_DIV.match(html)
    if call is None or outer is None:
        raise ValueError(f"figure {name!r} is not plotly's to_html(full_html=False) output")
    decoder = json.JSONDecoder()
    _, pos = decoder.raw_decode(html, call.end())  # the data, kept as written
    layout_at = SEPARATOR.match(html, pos).end()
    layout, layout_end = decoder.raw_decode(html, layout_at)
    config_at = SEPARATOR.match(html, layout_end).end()
    config, config_end = decoder.raw_decode(html, config_at)

    layout.pop("width", None)
    layout["autosize"] = True
    height = layout.setdefault("height", PLOTLY_HEIGHT)
    title = layout.get("title")
    if isinstance(title, str):
        title = layout["title"] = {"text": title}
    has_title = bool(title and title.get("text"))
    if has_title:
        # Pinned to the top of the figure, under the modebar's strip, not in the middle of
        # the top margin where the modebar covers its right end.
        title.update(yref="container", y=1, yanchor="top", pad={"t": TITLE_PAD_PX})
    subplot_titles = any(
        a.get("yref") == "paper" and a.get("y", 0) >= 1 and a.get("yanchor") == "bottom"
        for a in layout.get("annotations", [])
    )
    # The strip is kept even without a title: subplot titles would be under the modebar.
    layout.setdefault("margin", {})["t"] = (
        MODEBAR_PX
        + (TITLE_LINE_PX if has_title else 0)
        + (SUBPLOT_TITLES_PX if subplot_titles else 8)
    )
    config.update(responsive=True, displaylogo=False)

    return "".join(
        [
            f'<div class="plotly-figure" style="height:{height}px; width:100%;">',
            html[outer.end() : layout_at],
            _json(layout),
            html[layout_end:config_at],
            _json(config),
            html[config_end:],
        ]
    )


def _replacement(kind: str, name: str, page: str) -> str:
    path = GENERATED / FILES[kind].format(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{page}: {kind}({name!r}) needs {path}; run `python docs/generate.py` first"
        )
    text = path.read_text(encoding="utf-8")
    if kind == "include":
        return text
    run = GENERATED / name.split("/")[0] / "provenance.txt"  # written by docs/generate.py
    if not run.is_file():
        raise FileNotFoundError(f"{page}: {kind}({name!r}) has no {run} saying which run made it")
    line = f'<p class="provenance">{html.escape(run.read_text(encoding="utf-8").strip())}</p>'
    if kind == "table":  # a generated markdown table, with its run's line like a figure
        return f'<div class="generated-table" markdown="1">\n\n{text}\n</div>\n{line}'
    if kind == "figure":
        figure = fit_to_column(text, name)
        return f'<div class="generated-figure" markdown="0">{figure}</div>\n{line}'
    # A summary is printed text with long lines: a wrapping block, not a code block that
    # overflows the column.
    return f'<pre class="generated-summary" markdown="0">{html.escape(text.rstrip())}</pre>\n{line}'


def _check_images(markdown: str, page: str) -> None:
    """A page's image that is not on disk fails the build, naming it (mkdocs itself only
    logs a missing or excluded image at INFO, and the page then shows a broken picture)."""
    for target in IMAGE.findall(markdown):
        if "://" not in target and not (DOCS / Path(page).parent / target).is_file():
            raise FileNotFoundError(f"{page}: the image {target!r} is not there")


def on_page_markdown(markdown: str, page, config, files) -> str:
    _check_images(markdown, page.file.src_path)
    return PLACEHOLDER.sub(
        lambda m: _replacement(m.group(1), m.group(2), page.file.src_path), markdown
    )
