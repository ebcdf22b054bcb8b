"""The channel pages' comparison blocks, generated from committed runs: they carry the runs'
numbers (recomputed here from the files, not from the generator), intervals over mazes, a
sentence about the paper's pattern that follows the data, and say so when a run is missing."""

from __future__ import annotations

import copy
import json
import sys

import numpy as np
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "docs"))
from channel_comparisons import (  # noqa: E402
    BLOCKS,
    cheese_channels_table,
    resample_table,
    write_channel_comparisons,
)

RESULTS = REPO / "docs" / "results"


def numbers(name: str) -> dict:
    return json.loads((RESULTS / BLOCKS[name][0] / "result.json").read_text())["numbers"]


def test_every_block_is_written_with_its_runs_line(tmp_path) -> None:
    write_channel_comparisons(tmp_path, RESULTS)
    for name in BLOCKS:
        table = (tmp_path / f"{name}-committed" / "table.md").read_text()
        line = (tmp_path / f"{name}-committed" / "provenance.txt").read_text()
        assert table.count("\n| ") >= 2, name  # a table with rows
        assert "model_160022528" in line and "mazes" in line and "--out docs/results" in line
    # The retarget means are the per-target arrays' means (over targets), each with an
    # interval over mazes around it.
    arrays = np.load(RESULTS / BLOCKS["retarget"][0] / "arrays.npz")
    table = (tmp_path / "retarget-committed" / "table.md").read_text()
    for key in ("original", "clamped", "moved_cheese"):
        assert f"| {arrays[key].mean():.3f} (" in table, key
    ratio = arrays["clamped"].mean() / arrays["moved_cheese"].mean()
    assert f"ratio of the means | {ratio:.3f} (" in table


def test_the_cheese_channel_table_reads_the_ranking() -> None:
    n = numbers("cheese_channels")
    table = cheese_channels_table(n)
    first = n["top_channels"][0]
    assert f"| 1 | {first['channel']} | {first['correlation']:.2f} |" in table
    assert f"{n['mazes']} mazes" in table and f"{n['observations']:,} cheese placements" in table


@pytest.mark.parametrize(
    ("cheese_low", "random_low", "says"),
    [
        (0.01, -0.01, "pattern holds"),
        (-0.01, -0.01, "the cheese channels' paired difference is not above zero"),
        (0.01, 0.005, "the random channels' paired difference is above zero too"),
    ],
)
def test_the_resample_sentence_follows_the_intervals(cheese_low, random_low, says) -> None:
    n = copy.deepcopy(numbers("resample"))
    n["groups"]["set"]["different_minus_same"]["ci95"][0] = cheese_low
    n["groups"]["random"]["different_minus_same"]["ci95"][0] = random_low
    assert says in resample_table(n)


def test_a_missing_run_is_said(tmp_path) -> None:
    write_channel_comparisons(tmp_path, tmp_path / "nothing")
    for name in BLOCKS:
        assert "No committed run" in (tmp_path / f"{name}-committed" / "table.md").read_text()
