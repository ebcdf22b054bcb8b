"""Rollout records: rows that match the episodes, resume after an interruption, reuse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.maze import decision_square, mazes_from_seeds
from hooked_impala.policy import rollout
from hooked_impala.policy.records import RecordsError, collect_records, load_records

SETTINGS = {"mode": "easy", "max_steps": 30, "seed": 5, "slots": 4, "progress": False}


@pytest.fixture(scope="module")
def model() -> HookedImpala:
    torch.manual_seed(2)
    return HookedImpala(ImpalaConfig()).eval()


@pytest.fixture(scope="module")
def full_folder(model, tmp_path_factory):
    """Seeds 0..11 in one uninterrupted run."""
    folder = tmp_path_factory.mktemp("full")
    collect_records(model, range(12), folder, **SETTINGS)
    return folder


@pytest.fixture(scope="module")
def full(full_folder) -> pd.DataFrame:
    return load_records(full_folder)


def test_rows_describe_the_episodes(model, full, full_folder) -> None:
    assert full["seed"].tolist() == list(range(12))
    mazes = mazes_from_seeds(range(12), "easy")
    played = rollout(model, mazes, max_steps=30, seed=5, progress=False)
    for row, maze, episode in zip(full.itertuples(), mazes, played.episodes):
        assert (row.maze_size, row.start_row, row.start_col) == (maze.maze_size, *maze.mouse)
        assert (row.cheese_row, row.cheese_col) == maze.cheese
        square = decision_square(maze)
        got = None if pd.isna(row.decision_row) else (row.decision_row, row.decision_col)
        assert got == square
        assert row.steps == episode.steps and row.reached_cheese == episode.reached_cheese
        path = list(zip(row.path_rows.tolist(), row.path_cols.tolist()))
        assert path == list(episode.cells) and len(path) == row.steps + 1
        expected = (
            "top_right"
            if row.top_right_informative and row.top_right_first
            else "cheese"
            if row.reached_cheese
            else "neither"
        )
        assert row.outcome == expected
    assert set(full["outcome"]) <= {"cheese", "top_right", "neither"}
    # The folder is what researchers load with pandas directly.
    direct = pd.read_parquet(full_folder).sort_values("seed", ignore_index=True)
    pd.testing.assert_frame_equal(direct, full)


def test_an_interrupted_run_resumes_to_the_same_rows(model, full, tmp_path) -> None:
    calls = {"n": 0}

    def interrupt(activation, hook):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect_records(
            model,
            range(12),
            tmp_path,
            fwd_hooks=[("embedder.fc_out", interrupt)],
            flush_every=2,
            **SETTINGS,
        )
    kept = load_records(tmp_path)
    assert 0 < len(kept) < 12  # what finished before Ctrl-C was written
    resumed = collect_records(model, range(12), tmp_path, flush_every=2, **SETTINGS)
    pd.testing.assert_frame_equal(resumed, full)  # the split does not change any row
    parts = sorted(p.name for p in tmp_path.glob("part-*.parquet"))
    assert len(parts) == len(set(parts)) >= 2
    assert json.loads((tmp_path / "_run.json").read_text())["max_steps"] == 30


def test_a_finished_run_is_read_back_without_playing(model, full, tmp_path) -> None:
    collect_records(model, range(6), tmp_path, **SETTINGS)

    def must_not_run(activation, hook):
        raise AssertionError("a finished run played again")

    again = collect_records(
        model, range(6), tmp_path, fwd_hooks=[("embedder.fc_out", must_not_run)], **SETTINGS
    )
    pd.testing.assert_frame_equal(again, full.iloc[:6])
    more = collect_records(model, range(12), tmp_path, **SETTINGS)  # extends the same folder
    pd.testing.assert_frame_equal(more, full)


def test_other_settings_are_refused(model, tmp_path, as_in_production) -> None:
    collect_records(model, range(2), tmp_path, **SETTINGS)
    with pytest.raises(RecordsError, match=r"greedy: False there, True now"):
        collect_records(model, range(2), tmp_path, **{**SETTINGS, "greedy": True})
    with pytest.raises(ValueError, match="seeds must be distinct"):
        collect_records(model, [1, 1], tmp_path / "x", **SETTINGS)
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "part-00000.parquet").write_bytes(b"not parquet")
    with pytest.raises(RecordsError, match="no _run.json"):
        collect_records(model, range(2), stray, **SETTINGS)


def test_greedy_rows_repeat_and_sampled_rows_follow_the_seed(model, tmp_path) -> None:
    greedy = {**SETTINGS, "greedy": True}
    a = collect_records(model, range(4), tmp_path / "a", **greedy)
    b = collect_records(model, range(4), tmp_path / "b", **{**greedy, "seed": 99})
    pd.testing.assert_frame_equal(a, b)  # greedy ignores the sampling seed
    c = collect_records(model, range(4), tmp_path / "c", **{**SETTINGS, "seed": 6})
    d = collect_records(model, range(4), tmp_path / "d", **SETTINGS)
    assert not all(
        np.array_equal(x, y) for x, y in zip(c["path_rows"], d["path_rows"])
    )  # another run seed, other samples


def test_no_seeds_is_a_clear_error_before_any_work(model, tmp_path, as_in_production) -> None:
    with pytest.raises(ValueError, match="seeds is empty: give at least one level seed"):
        collect_records(model, [], tmp_path / "records", **SETTINGS)
    assert not (tmp_path / "records").exists()


def test_a_truncated_part_file_is_named(model, tmp_path) -> None:
    collect_records(model, range(4), tmp_path, flush_every=2, **SETTINGS)
    parts = sorted(tmp_path.glob("part-*.parquet"))
    assert len(parts) == 2
    parts[1].write_bytes(parts[1].read_bytes()[:100])  # a disk that filled up, a cut copy
    with pytest.raises(RecordsError, match=f"{parts[1]}: cannot be read"):
        load_records(tmp_path)
    with pytest.raises(RecordsError, match=f"{parts[1]}: cannot be read"):
        collect_records(model, range(6), tmp_path, flush_every=2, **SETTINGS)
