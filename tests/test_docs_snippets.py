"""Every python snippet on the documentation's pages runs (apart from the site's build, so
the two run on different test workers)."""

from __future__ import annotations

import re

import pytest
from conftest import REPO

DOCS = REPO / "docs"

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


PAGES_WITH_SNIPPETS = sorted(
    str(p.relative_to(DOCS))
    for p in DOCS.rglob("*.md")
    if "generated" not in p.parts and PYTHON_BLOCK.search(p.read_text())
)


def test_most_pages_have_snippets() -> None:
    assert {"index.md", "model.md", "maze.md", "analyses/cheese_vector.md"} <= set(
        PAGES_WITH_SNIPPETS
    )


@pytest.mark.parametrize("page", PAGES_WITH_SNIPPETS)
def test_code_snippets_on_the_pages_run(page, shared_checkpoints, tmp_path, monkeypatch) -> None:
    blocks = PYTHON_BLOCK.findall((DOCS / page).read_text())
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    monkeypatch.chdir(tmp_path)  # snippets that write files write here
    namespace: dict = {"__name__": "__docs__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page} snippet {i + 1}", "exec"), namespace)
        except Exception as err:  # name the page and snippet
            raise AssertionError(f"{page}, python snippet {i + 1} failed: {err!r}\n{code}") from err
