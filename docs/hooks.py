"""mkdocs hook: put the generated figures and numbers into the pages.

A page writes ``{{ figure("cheese_vector/coefficient_sweep") }}``,
``{{ summary("cheese_vector") }}`` or ``{{ include("model/hook_table.md") }}``; the hook
replaces it with the plotly ``<div>``, the printed summary or the markdown that
``docs/generate.py`` wrote under ``docs/generated/``. plotly.js
itself is one local copy for the whole site (``assets/plotly.min.js``): no CDN.
A placeholder without its generated file fails the build, naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

GENERATED = Path(__file__).parent / "generated"
PLACEHOLDER = re.compile(r"\{\{\s*(figure|summary|include)\(\"([^\"]+)\"\)\s*\}\}")
FILES = {"figure": "{}.div.html", "summary": "{}/summary.txt", "include": "{}"}


def _replacement(kind: str, name: str, page: str) -> str:
    path = GENERATED / FILES[kind].format(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{page}: {kind}({name!r}) needs {path}; run `python docs/generate.py` first"
        )
    text = path.read_text(encoding="utf-8")
    if kind == "figure":
        return f'<div class="generated-figure" markdown="0">{text}</div>'
    if kind == "include":
        return text
    return f"```text\n{text.rstrip()}\n```"


def on_page_markdown(markdown: str, page, config, files) -> str:
    return PLACEHOLDER.sub(
        lambda m: _replacement(m.group(1), m.group(2), page.file.src_path), markdown
    )
