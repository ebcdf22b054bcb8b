"""The sparse-dictionary page states what the committed result says: its tables are rebuilt
from ``docs/results/dictionary-model_160022528/result.json`` and found on the page verbatim,
with the run's size, seeds, checkpoint and command."""

from __future__ import annotations

import json

from conftest import REPO

from analyses.dictionary.tables import tables

RESULT = REPO / "docs" / "results" / "dictionary-model_160022528"
PAGE = REPO / "docs" / "dictionaries.md"


def test_the_page_shows_the_committed_results() -> None:
    saved = json.loads((RESULT / "result.json").read_text())
    page = PAGE.read_text()
    for table in tables(saved["numbers"]):
        assert table in page, f"the page does not show this table of the result:\n{table}"
    meta = saved["metadata"]
    assert meta["checkpoint"]["sha256"][:8] in page
    assert f"{len(meta['maze_seeds'])} mazes" in page
    command = (RESULT / "command.txt").read_text().strip()
    assert command in page and "--mazes 1000" in command
    assert not (RESULT / "arrays.npz").exists(), "commit the numbers, not the arrays"


def test_the_committed_result_keeps_mazes_apart() -> None:
    numbers = json.loads((RESULT / "result.json").read_text())["numbers"]
    split = numbers["split"]
    assert split["train"] + split["selection"] + split["test"] == numbers["data"]["mazes"]
    for hook in numbers["hooks"].values():
        assert hook["cheese_tracking"]["latent"]["n"] <= split["test"]
