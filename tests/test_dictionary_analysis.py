"""The dictionary analysis: its measurements against hand-computed answers (features under a
square, cheese location, correlations, the PNG frames) and one small run of the whole
analysis (files, splits disjoint, every number from the right mazes)."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from analyses.core.images import png
from analyses.core.inputs import Levels
from analyses.dictionary import run
from analyses.dictionary.features import (
    FEATURES,
    Correlations,
    centre_cells,
    cheese_rank,
    located,
    position_features,
)
from hooked_impala.maze import Maze, layer_positions


def test_centre_cells_map_squares_onto_the_world() -> None:
    # A 16x16 grid of a 16-cell world: square (i, j) is cell (15 - i, j).
    centres = centre_cells(16, 16)
    assert tuple(centres[0, 0]) == (15, 0) and tuple(centres[15, 3]) == (0, 3)
    # Every square's centre cell maps back onto that square.
    for world, size in ((25, 16), (25, 8), (13, 32)):
        cells = centre_cells(world, size).reshape(-1, 2)
        back = layer_positions([(int(r), int(c)) for r, c in cells], world, size)
        expected = np.stack(np.meshgrid(range(size), range(size), indexing="ij"), -1)
        if size <= world:
            assert np.array_equal(back, expected.reshape(-1, 2))


def test_position_features_of_a_maze() -> None:
    maze = Maze.from_seed(3, distribution_mode="easy")
    features = position_features(maze, 16)
    assert features.shape == (len(FEATURES), 16, 16)
    by = dict(zip(FEATURES, features))
    i, j = layer_positions([maze.cheese], maze.world_size, 16)[0]
    assert by["cheese_here"].sum() == 1 and by["cheese_here"][i, j]
    assert by["cheese_nearby"][max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2].all()
    assert by["cheese_nearby"].sum() <= 9
    assert (by["wall"] ^ by["open"]).all()
    mi, mj = layer_positions([maze.mouse], maze.world_size, 16)[0]
    assert by["mouse_here"][mi, mj] and by["mouse_here"].sum() == 1
    # Path squares are open squares.
    assert not (by["on_path_to_cheese"] & by["wall"]).any()


def test_located_finds_the_peak_near_the_cheese() -> None:
    maps = np.zeros((2, 3, 8, 8))
    maps[0, 0, 2, 3] = 1.0  # on the cheese
    maps[0, 1, 3, 4] = 1.0  # one square off: located
    maps[0, 2, 5, 5] = 1.0  # far
    maps[1, 0] = -1.0  # nowhere positive: locates nothing
    maps[1, 1, 6, 6] = 2.0
    cheese = np.array([[2, 3], [6, 7]])
    assert located(maps, cheese).tolist() == [[True, True, False], [False, True, False]]


def test_cheese_rank_counts_the_squares_below_the_cheese() -> None:
    maps = np.zeros((1, 3, 3, 3))
    maps[0, 0] = np.arange(9).reshape(3, 3)  # cheese at (2, 2) holds the maximum
    maps[0, 1] = -np.arange(9).reshape(3, 3)  # ... the minimum
    cheese = np.array([[2, 2]])
    np.testing.assert_allclose(cheese_rank(maps, cheese), [[1.0, 0.0, 0.5]])
    maps[0, 0, 0, 0] = 8.0  # a tie with one other square counts half
    np.testing.assert_allclose(cheese_rank(maps, cheese)[0, 0], 7.5 / 8)


def test_correlations_equal_numpys_in_chunks() -> None:
    rng = np.random.default_rng(0)
    maps = rng.random((10, 4, 5, 5))
    features = rng.random((10, len(FEATURES), 5, 5)) > 0.5
    found = Correlations(4)
    found.add(maps[:6], features[:6])
    found.add(maps[6:], features[6:])
    x = maps.transpose(1, 0, 2, 3).reshape(4, -1)
    f = features.transpose(1, 0, 2, 3).reshape(len(FEATURES), -1).astype(float)
    expected = np.corrcoef(np.concatenate([x, f]))[:4, 4:]
    np.testing.assert_allclose(found.values(), expected, atol=1e-10)


def test_png_frames_hold_the_image() -> None:
    image = np.random.default_rng(1).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    data = png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + length])
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + width * 3)
    assert (width, height) == (5, 6) and (rows[:, 0] == 0).all()
    assert np.array_equal(rows[:, 1:].reshape(6, 5, 3), image)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from hooked_impala import load_pretrained

    model = load_pretrained("standin_s1", progress=False)
    cache = tmp_path_factory.mktemp("cache")
    result = run(
        model, Levels("easy", range(20, 40)), steps=20, per_maze=1, targets_per_maze=1,
        max_steps=8, cache=cache, seed=1,
    )  # fmt: skip
    return result, cache


def test_the_analysis_writes_its_files_and_splits_by_maze(small_run, tmp_path) -> None:
    result, cache = small_run
    split = result.split
    train, selection, test = (set(split[k]) for k in ("train", "selection", "test"))
    assert not (train & selection or train & test or selection & test)
    assert train | selection | test == set(range(20, 40))
    written = {p.name for p in result.save(tmp_path / "out")}
    assert {"result.json", "training_curve.html", "fidelity.html", "steering.html"} <= written
    assert "latents-block2.res1.resadd_out.html" in written
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    hook = saved["numbers"]["hooks"]["embedder.block2.res1.resadd_out"]
    assert hook["quality"]["l0"] <= 8 and hook["cheese_tracking"]["latent"]["n"] == len(test)
    assert hook["behaviour"]["spliced"]["cheese"]["n"] == len(test)
    # Fewer than two test mazes with a decision square give no interval (None), not garbage.
    kl = hook["decision_kl"]["spliced"]
    assert kl is None or (kl["unit"] == "mazes" and kl["value"] >= 0)
    assert (cache / "block2.res1.resadd_out.sae.pt.card.json").is_file()
    page = (tmp_path / "out" / "latents-block2.res1.resadd_out.html").read_text()
    assert page.count("<section") == 256 and "data:image/png;base64," in page


def test_a_rerun_reuses_the_cache(small_run) -> None:
    from hooked_impala import load_pretrained

    result, cache = small_run
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    model = load_pretrained("standin_s1", progress=False)
    again = run(
        model, Levels("easy", range(20, 40)), steps=20, per_maze=1, targets_per_maze=1,
        max_steps=8, cache=cache, seed=1,
    )  # fmt: skip
    first = result.per_hook["embedder.block2.res1.resadd_out"]["quality"]
    assert again.per_hook["embedder.block2.res1.resadd_out"]["quality"] == first
    assert (cache / "activations.npz").stat().st_mtime_ns == before["activations.npz"]


def test_bad_flags_are_named_before_any_work(capsys, tmp_path) -> None:
    from analyses.core import cli
    from analyses.dictionary import run

    with pytest.raises(SystemExit):
        cli.main(run.analysis, ["--hooks", "embedder.block2.res1.resad", "--out", str(tmp_path)])
    assert "unknown hook name 'embedder.block2.res1.resad'" in capsys.readouterr().err
    code = cli.main(run.analysis, ["--hooks", "embedder.fc_out", "--out", str(tmp_path / "x")])
    assert code == 2 and "'embedder.fc_out' is not spatial" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        cli.main(run.analysis, ["--k", "0"])
    assert "--k" in capsys.readouterr().err
