"""Probes: the streamed ridge fit is scikit-learn's, the conv probe's gradient is autograd's,
a channel that detects the cheese is found, a network blind to its input scores exactly the
majority baseline, the split is by maze, and the command line saves a result."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import RidgeClassifier

from analyses import probes
from analyses.core.cli import main as analyses_main
from analyses.core.inputs import Levels
from analyses.measure import probe_data, probe_estimators
from analyses.probes.labels import LABELS
from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala import cli as library_cli
from hooked_impala.maze import MazeRenderer, layer_positions
from hooked_impala.stats import Rate

B1 = "embedder.block1.res2.resadd_out"
B2 = "embedder.block2.res1.resadd_out"


def tiny() -> HookedImpala:
    """Two channels per block, every weight zero: activations are constant (zero)."""
    model = HookedImpala(ImpalaConfig(channels=(2, 2, 2), fc_features=8)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


def cheese_detector() -> HookedImpala:
    """Channel 0 of block 1's conv is G − 221.5/255 at each pixel: positive only on the
    cheese (its brightest pixel is (254, 231, 98); nothing else in a level has green above
    212). The residual branches are zero, so every later hook of block 1 is its max-pool,
    and block 2's conv copies it (centre tap) into block 2."""
    model = tiny()
    with torch.no_grad():
        model.embedder.block1.conv.weight[0, 1, 1, 1] = 1.0
        model.embedder.block1.conv.bias[0] = -221.5 / 255
        model.embedder.block2.conv.weight[0, 0, 1, 1] = 1.0
    return model


def test_streamed_ridge_is_scikit_learns_ridge_classifier() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)) * rng.uniform(0.1, 5, size=12) + 3.0
    classes = rng.integers(0, 5, size=300)
    binary = (x[:, 0] + rng.normal(size=300) > 3.0).astype(int)
    ridge = probe_estimators.StreamingRidge(12, 6)
    targets = np.concatenate([probe_estimators.one_hot(classes, 5), binary[:, None]], axis=1)
    for start in range(0, 300, 64):  # batch by batch, as activations stream past
        ridge.update(x[start : start + 64], targets[start : start + 64])
    ridge.fit()
    for alpha in (0.01, 3.0, 500.0):
        mine = ridge.decision(x, alpha)
        multi = RidgeClassifier(alpha=alpha).fit(x, classes)
        # sklearn regresses ±1 targets: its scores are 2 × ours − 1, the same argmax.
        assert np.allclose(multi.decision_function(x), 2 * mine[:, :5] - 1, atol=1e-8)
        assert np.array_equal(multi.predict(x), mine[:, :5].argmax(1))
        two = RidgeClassifier(alpha=alpha).fit(x, binary)
        assert np.allclose(two.decision_function(x), 2 * mine[:, 5] - 1, atol=1e-8)
        assert np.array_equal(two.predict(x), (mine[:, 5] > 0.5).astype(int))
    per_column = ridge.decision(x, np.array([0.01] * 5 + [500.0]))
    assert np.allclose(per_column[:, :5], ridge.decision(x, 0.01)[:, :5])
    assert np.allclose(per_column[:, 5], ridge.decision(x, 500.0)[:, 5])
    with pytest.raises(ValueError, match="penalties must be > 0"):
        ridge.decision(x, 0.0)


def test_conv_probe_gradient_is_autograds() -> None:
    rng = np.random.default_rng(1)
    probe = probe_estimators.ConvProbe(channels=3, side=4, candidates=np.array([0, 5, 6, 9, 15]))
    probe.weight = rng.normal(size=3)
    x = rng.normal(size=(7, 5, 3))
    target = rng.integers(0, 5, size=7)
    grad, loss = probe.gradient(x, target)
    w = torch.tensor(probe.weight, requires_grad=True)
    reference = F.cross_entropy(torch.from_numpy(x) @ w, torch.from_numpy(target))
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-12)
    assert np.allclose(grad, w.grad.numpy(), atol=1e-12)


def test_split_is_by_maze_and_seeded() -> None:
    seeds = range(100, 150)
    split = probe_data.split_levels(seeds, 0.2, seed=3)
    parts = [set(split[name].tolist()) for name in ("train", "validation", "test")]
    assert sum(len(p) for p in parts) == 50 and set().union(*parts) == set(seeds)
    assert (len(parts[2]), len(parts[1])) == (10, 5)
    again = probe_data.split_levels(seeds, 0.2, seed=3)
    assert all(np.array_equal(split[k], again[k]) for k in split)
    assert not np.array_equal(split["test"], probe_data.split_levels(seeds, 0.2, seed=4)["test"])
    with pytest.raises(ValueError, match="at least 3 levels"):
        probe_data.split_levels(range(2), 0.2, seed=0)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        probe_data.split_levels(seeds, 0.95, seed=0)


def detector_oracle(result: probes.ProbesResult, model: HookedImpala, **placement) -> np.ndarray:
    """Per test observation (regenerated from the result's test seeds): does the detector
    channel itself peak, among the squares under the world's cell centres, on the cheese's
    cell? Computed from ``layer_positions`` cell by cell, independently of the probe."""
    world, side = 15, 32
    cells = [(r, c) for r in range(world) for c in range(world)]
    squares = layer_positions(cells, world, side)
    hits = []
    with MazeRenderer() as renderer:
        for batch, _ in probe_data.probe_observations(
            result.split_seeds["test"], "easy", renderer=renderer, **placement
        ):
            with torch.no_grad():
                _, cache = model.run_with_cache(torch.from_numpy(batch.obs), names_filter=[B1])
            at_cells = cache[B1][:, 0, squares[:, 0], squares[:, 1]]  # (n, 225)
            best = [cells[i] for i in at_cells.argmax(1).tolist()]
            hits += [b == tuple(c) for b, c in zip(best, batch.cheese.tolist())]
    return np.array(hits)


def test_the_conv_probe_reads_a_cheese_detector_channel() -> None:
    model = cheese_detector()
    placement = {"positions_per_maze": 8, "without_cheese": 0.0, "seed": 1}
    result = probes.run(
        model,
        Levels("easy", range(40)),
        hooks=[B1, "embedder.fc_out"],
        features=64,
        conv_steps=100,
        test_fraction=0.5,
        **placement,
    )
    assert "cheese_present" not in result.labels  # no observation without the cheese
    square = result.labels.index("cheese_square")
    found = result.rate(0, square)
    oracle = detector_oracle(result, model, **placement)
    # The probe answers as the channel does: right wherever the channel peaks on the
    # cheese's cell (ties aside). The channel itself misses a few placements: the cheese's
    # only bright pixels (1-2) can fall on a square between two cells' centres.
    probe_hits = result.hits[:, 0, square].astype(bool)
    assert len(oracle) == found.n >= 100
    assert (probe_hits == oracle).mean() >= 0.98
    assert oracle.mean() >= 0.95 and found.value >= 0.95
    assert result.chance[0, square] < 0.1 and result.majority[0, square] < 0.2
    assert result.resolves_cells(0) and not result.applies(1, square)  # fc_out: no grid
    # The split is by maze: every test observation comes from a test maze, none elsewhere.
    sets = [set(result.split_seeds[k].tolist()) for k in ("train", "validation", "test")]
    assert not (sets[0] & sets[2] or sets[0] & sets[1] or sets[1] & sets[2])
    assert set(result.test_seed.tolist()) == sets[2]
    b8 = result.b8()
    assert b8 is not None and b8["layer"] == B1 and b8["probe"] == "cheese_square"


def test_a_network_blind_to_its_input_scores_the_majority_baseline() -> None:
    result = probes.run(
        tiny(),
        Levels("easy", range(30)),
        hooks=[B1, B2, "embedder.fc_out"],
        features=32,
        conv_steps=20,
    )
    assert result.labels == list(LABELS)
    compared = 0
    for h in range(3):
        for k, label in enumerate(result.labels):
            if not result.applies(h, k):
                continue
            probe, majority = result.rate(h, k), result.majority_rate(h, k)
            assert (probe.k, probe.n) == (majority.k, majority.n), (h, label)
            assert result.accuracy()[h, k] == pytest.approx(result.majority[h, k])
            compared += 1
    assert compared == 3 * 4 + 2 * 2  # linear labels everywhere, conv on the two grids
    # A5's refits (at B2) see the same constant layer: they agree, and widen nothing.
    assert result.refit_predictions.shape == (40, len(result.test_seed), 3)
    a5 = result.a5()
    plain = dataclasses.replace(result, refit_predictions=None).a5()
    assert a5["refits"] == 40 and a5["exact_cell"]["ci95"] == plain["exact_cell"]["ci95"]


def test_command_line_run_on_the_s1_agent_saves_a_result(
    shared_checkpoints, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    out = tmp_path / "probes"
    argv = ["--checkpoint", "model_160022528", "--mazes", "16", "--features", "64"]
    argv += ["--hooks", B1, B2, "embedder.fc_out", "--conv-steps", "50", "--out", str(out)]
    assert analyses_main(probes.run.analysis, argv) == 0
    saved = json.loads((out / "result.json").read_text())
    numbers = saved["numbers"]
    assert sum(numbers["mazes"].values()) == 16 and saved["metadata"]["hooks"] == [
        B1,
        B2,
        "embedder.fc_out",
    ]
    rows = numbers["table"]
    assert len(rows) == 3 * 4 + 2 * 2
    for row in rows:
        assert {"layer", "label", "accuracy", "chance", "majority", "n_train", "n_test"} <= set(row)
        assert 0 <= row["accuracy"]["rate"] <= 1 and row["accuracy"]["n"] > 0
        # The same accuracy, its interval over the test mazes (fewer than the observations).
        mazes = row["over_mazes"]
        assert mazes["unit"] == "mazes" and mazes["n"] <= numbers["mazes"]["test"]
        assert mazes["value"] == pytest.approx(
            row["accuracy"]["rate"], abs=0.02 if row["label"] == "cell_open" else 1e-9
        )
    assert numbers["a5"]["layer"] == B2
    arrays = np.load(out / "arrays.npz")
    assert arrays["accuracy"].shape == (3, len(LABELS))
    assert {"accuracy_by_layer.html", "accuracy_by_maze_size.html"} <= {
        p.name for p in out.iterdir()
    }


@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"hooks": ["embedder.block9"]}, KeyError, "unknown hook name"),
        ({"hooks": []}, ValueError, "hooks must be a non-empty list"),
        ({"positions_per_maze": 0}, ValueError, "positions_per_maze must be >= 1"),
        ({"without_cheese": 1.0}, ValueError, r"without_cheese must be in \[0, 1\)"),
        ({"features": 1}, ValueError, "features must be >= 2"),
        ({"test_fraction": 0.0}, ValueError, "test_fraction must be in"),
        ({"refits": 1}, ValueError, "one refit has no spread"),
        ({"refits": -1}, ValueError, "refits must be >= 0"),
    ],
)
def test_bad_arguments_are_named_before_work(options, error, says, as_in_production) -> None:
    with pytest.raises(error, match=says):
        probes.run(tiny(), Levels("easy", range(10)), **options)


def test_inputs_must_be_levels_and_flags_are_checked(capsys, monkeypatch) -> None:
    with pytest.raises(ValueError, match="Levels"):
        probes.run(tiny(), torch.zeros(2, 64, 64, 3, dtype=torch.uint8))

    def refuse(name):
        raise AssertionError("a bad flag reached load_model")

    monkeypatch.setattr(library_cli, "load_model", refuse)
    for argv, says in (
        (["--without-cheese", "1.5"], "without_cheese must be in [0, 1)"),
        (["--test-fraction", "0.95"], "test_fraction must be in (0, 0.9)"),
        (["--features", "1"], ">= 2"),
        (["--hooks", "input", "embedder.nothing"], "unknown hook name"),
    ):
        with pytest.raises(SystemExit):
            analyses_main(probes.run.analysis, argv)
        assert says in capsys.readouterr().err


def test_a5_and_b8_count_mazes_and_choose_b8s_probe_on_other_mazes() -> None:
    """Planted: 60 mazes of size 9 and 8 of size 5, four observations each. Probe 0 is right
    everywhere; probe 1 is right only in the first 40 mazes. B8 must pick probe 0 on the
    selection half, judge size 9 on the other half over mazes (n = mazes), and leave size 5
    unjudged (fewer than 20 mazes); A5's intervals count mazes, not observations."""
    from types import SimpleNamespace

    from analyses.core.inputs import DEFAULT_LAYER
    from analyses.probes import readings

    seeds = np.repeat(np.arange(68), 4)
    sizes = np.where(seeds < 60, 9, 5)
    n = len(seeds)
    hits = np.zeros((n, 2, 1), dtype=int)
    hits[:, 0, 0] = 1
    hits[:, 1, 0] = seeds < 40
    cheese = np.tile([[3, 4]], (n, 1))
    world = 15
    right, wrong = 3 * world + 4, 0
    prediction = np.stack([np.full(n, right), np.where(seeds % 2 == 0, right, wrong)], 1)
    result = SimpleNamespace(
        hooks=[DEFAULT_LAYER, "embedder.block3.res1.resadd_out"],
        labels=["cheese_cell"],
        test_seed=seeds,
        test_size=sizes,
        trials=np.ones((n, 1), dtype=int),
        hits=hits,
        test_cheese=cheese,
        cheese_cell_prediction=prediction,
        # The row probe is always right; the column probe only in even mazes.
        cheese_row_prediction=np.full((n, 2), 3),
        cheese_column_prediction=np.where((seeds % 2 == 0)[:, None], 4, 0).repeat(2, 1),
        world_size=world,
        refit_predictions=None,
        applies=lambda h, k: True,
        resolves_cells=lambda h: True,
    )
    b8 = readings.b8(result)
    assert b8["layer"] == DEFAULT_LAYER and b8["probe"] == "cheese_cell"
    assert b8["selection_mazes"] + b8["test_mazes"] == 68
    assert b8["too_few"] == [5] and list(b8["by_maze_size"]) == [9]
    assert b8["worst_maze_size"] == 9 and b8["worst_size_accuracy"]["unit"] == "mazes"
    assert b8["worst_size_accuracy"]["n"] < 60  # the test half's size-9 mazes only
    a5 = readings.a5(result)
    assert a5["exact_cell"]["n"] == 68 and a5["observations"] == n
    assert a5["exact_cell"]["value"] == pytest.approx(1.0)
    assert a5["row"]["value"] == 1.0 and a5["row"]["n"] == 68
    assert a5["column"]["value"] == a5["row_and_column"]["value"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("planted", "other"), [("cheese_row", "cheese_column"), ("cheese_column", "cheese_row")]
)
def test_row_and_column_probes_are_probes_of_their_own(planted, other) -> None:
    """Planted: the activations hold the cheese's row (or its column), one-hot, and nothing
    of the other. That coordinate's probe reads it; the other's, and so the exact cell, stay
    near chance."""
    from types import SimpleNamespace

    from analyses.probes.fitting import LinearProbes
    from analyses.probes.labels import LINEAR_LABELS

    rng = np.random.default_rng(0)
    world, n = 5, 400
    cheese = rng.integers(0, world, size=(n, 2))
    axis = 0 if planted == "cheese_row" else 1
    noise = 0.01 * rng.normal(size=(n, world))
    acts = torch.from_numpy(np.eye(world)[cheese[:, axis]] + noise)
    batch = SimpleNamespace(
        cheese=cheese, mouse=cheese, present=np.ones(n, bool), open=np.zeros((n, 2))
    )
    probe = LinearProbes.make("h", world, features=64, world=world, k=2, seed=0)
    z = probe.features(acts)
    probe.update(z, batch, world)
    probe.fit()
    answers = probe.answers(z, batch, dict.fromkeys(LINEAR_LABELS, 1e-3))
    assert (answers[planted] == cheese[:, axis]).all()
    assert (answers[other] == cheese[:, 1 - axis]).mean() < 0.4
    assert (answers["cheese_cell"] == cheese[:, 0] * world + cheese[:, 1]).mean() < 0.4


def test_a_probe_points_interval_is_over_mazes() -> None:
    """Four identical observations per maze: the interval over 10 mazes is as wide as one
    observation per maze would give, not the narrower one of 40 independent answers."""
    from types import SimpleNamespace

    from analyses.probes.result import ProbesResult

    seeds = np.repeat(np.arange(10), 4)
    hits = np.repeat(np.arange(10) % 2, 4).reshape(-1, 1, 1)
    fake = SimpleNamespace(test_seed=seeds, trials=np.ones((40, 1), int), hits=hits)
    found = ProbesResult.maze_interval(fake, 0, 0)
    assert found.n == 10 and found.unit == "mazes" and found.value == pytest.approx(0.5)
    wilson = Rate(20, 40).interval
    assert found.high - found.low > wilson[1] - wilson[0]
