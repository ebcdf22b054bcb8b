"""Behaviour regression: scripted choices recovered with the right feature and sign, VIFs of
constructed columns, the majority baseline, and a short end-to-end run whose records are
reused without calling the model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analyses.behaviour import BehaviourResult, run
from analyses.core import cli as analyses_cli
from analyses.core.inputs import Levels
from analyses.core.records import Playing, Records
from analyses.core.result import CheckpointRef, RunMetadata
from analyses.measure.behaviour import (
    FEATURES,
    PUBLISHED_FEATURES,
    binned_rates,
    feature_row,
    feature_table,
)
from analyses.measure.regression import BehaviourFit, fit_behaviour, variance_inflation
from hooked_impala.maze import TOP_RIGHT_5, decision_square, mazes_from_seeds
from hooked_impala.policy.records import load_records


@pytest.fixture(scope="module")
def real_features() -> pd.DataFrame:
    """Features of the easy levels 0..299 with a decision square and the cheese outside the
    top-right 5x5 region."""
    mazes = [
        m
        for m in mazes_from_seeds(range(300), "easy")
        if decision_square(m) is not None and m.cheese not in set(TOP_RIGHT_5.cells(m))
    ]
    return feature_table(mazes)


# --- known answers of the regression -------------------------------------------------------


def test_a_choice_made_by_one_feature_is_recovered_with_its_sign(real_features) -> None:
    steps = real_features["steps_decision_to_cheese"].to_numpy()
    took_cheese = steps < np.median(steps)  # a "policy" that goes for nearby cheese
    fit = fit_behaviour(real_features, took_cheese, splits=8, seed=1)
    table = fit.coefficient_table()
    assert table.index[0] == "steps_decision_to_cheese"  # the largest |coefficient|
    top = table.iloc[0]
    assert top["mean"] < 0 and top["majority_sign"] == -1
    assert top["sign_stability"] == 1.0 and top["zero_fraction"] == 0.0
    assert fit.accuracy.mean() >= 0.95 and fit.accuracy.mean() > fit.baseline.mean() + 0.3
    single = dict(zip(fit.features, fit.single.mean(1)))
    assert max(single, key=single.get) == "steps_decision_to_cheese"
    assert single["steps_decision_to_cheese"] >= 0.95
    assert fit.published is not None and fit.published.shape == (8,)  # it has the feature
    four = fit.coefficient_table(published=True)
    assert four.index[0] == "steps_decision_to_cheese"
    row = four.loc["steps_decision_to_cheese"]
    assert row["majority_sign"] == -1 and row["sign_stability"] == 1.0


def test_a_logistic_choice_on_independent_features() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(800, 4)), columns=["a", "b", "c", "d"])
    p = 1 / (1 + np.exp(-3.0 * x["c"].to_numpy()))
    y = rng.random(800) < p
    fit = fit_behaviour(x, y, splits=6, seed=0)
    table = fit.coefficient_table()
    assert table.index[0] == "c" and table.loc["c", "mean"] > 0
    assert table.loc["c", "sign_stability"] == 1.0
    assert (table.drop(index="c")["mean"].abs() < 0.25 * table.loc["c", "mean"]).all()
    assert fit.accuracy.mean() > 0.75 and fit.accuracy.mean() > fit.baseline.mean() + 0.2
    assert fit.single.mean(1).argmax() == 2  # "c" alone is the best single feature
    assert fit.published is None  # the table lacks the published features
    with pytest.raises(ValueError, match="lack some of the published four"):
        fit.coefficient_table(published=True)
    assert np.allclose(fit.vif, 1.0, atol=0.05)


def test_variance_inflation_of_constructed_columns() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    collinear = np.stack([x, 2 * x + 0.05 * rng.normal(size=5000)], axis=1)
    assert (variance_inflation(collinear) > 10).all()
    independent = rng.normal(size=(5000, 3))
    assert np.allclose(variance_inflation(independent), 1.0, atol=0.01)
    # With two columns, VIF = 1 / (1 - r^2) exactly.
    pair = np.stack([x, x + rng.normal(size=5000)], axis=1)
    r = np.corrcoef(pair.T)[0, 1]
    assert np.allclose(variance_inflation(pair), 1 / (1 - r**2), rtol=1e-9)
    # An exact linear combination is infinitely inflated; a constant column has no VIF.
    y = rng.normal(size=5000)
    vif = variance_inflation(np.stack([x, y, x + y, np.full(5000, 3.0)], axis=1))
    assert np.isinf(vif[:3]).all() and np.isnan(vif[3])


def test_tree_mazes_make_three_step_distances_exactly_collinear(real_features) -> None:
    # Procgen's mazes are trees: the decision square lies on the cheese's path to the top
    # right, so steps(cheese -> top right) = steps(DS -> cheese) + steps(DS -> top right).
    f = real_features
    total = f["steps_decision_to_cheese"] + f["steps_decision_to_top_right"]
    assert (f["steps_cheese_to_top_right"] == total).all()
    vif = dict(zip(f.columns, variance_inflation(f.to_numpy())))
    assert np.isinf(vif["steps_cheese_to_top_right"]) and vif["maze_size"] < 10


@pytest.mark.parametrize("majority", [0, 1])
def test_the_majority_baseline_is_the_class_frequency(majority) -> None:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(200, 2)), columns=["u", "v"])
    y = np.zeros(200, dtype=bool)
    y[rng.permutation(200)[:60]] = True  # 30% True
    if majority:
        y = ~y
    fit = fit_behaviour(x, y, splits=5, seed=2)
    assert np.array_equal(fit.baseline, np.full(5, 0.7))  # stratified: 40 held out, 28 majority


def test_sign_stability_counts_zeros_separately() -> None:
    coefficients = np.array([[1.0, 0, -1], [2, 0, 1], [-1, 0, -2], [1, 0, 0]])
    fit = BehaviourFit(
        features=("a", "b", "c"),
        n=10,
        n_reached=5,
        test_fraction=0.2,
        c=1.0,
        accuracy=np.zeros(4),
        baseline=np.zeros(4),
        published=None,
        single=np.zeros((3, 4)),
        coefficients=coefficients,
        vif=np.array([1.0, 12.0, np.inf]),
    )
    table = fit.coefficient_table()
    assert list(table.index) == ["a", "c", "b"]  # by |mean|: 0.75, 0.5, 0
    stats = table[["majority_sign", "sign_stability", "zero_fraction"]]
    assert stats.loc["a"].tolist() == [1, 0.75, 0.0]
    assert stats.loc["b"].tolist() == [0, 0.0, 1.0]  # always zero: no sign, counted apart
    assert stats.loc["c"].tolist() == [-1, 0.5, 0.25]
    assert fit.high_vif() == ["b", "c"]


def test_the_summary_warns_about_collinear_features_only() -> None:
    rng = np.random.default_rng(5)
    x = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    x["maze_size"] = rng.integers(7, 16, size=400).astype(float)
    y = rng.random(400) < 1 / (1 + np.exp(-2.0 * x["a"].to_numpy()))

    def summary(features: pd.DataFrame) -> str:
        return BehaviourResult(
            metadata=RunMetadata(
                analysis="behaviour",
                checkpoint=CheckpointRef(name="test", sha256=None),
                hooks=(),
                seed=0,
            ),
            mode="easy",
            levels=1000,
            levels_with_decision_square=500,
            max_steps=500,
            greedy=False,
            features=features,
            reached=y,
            cheese_first=y,
            fit=fit_behaviour(features, y, splits=3, seed=0),
        ).summary()

    assert "warning" not in summary(x)
    collinear = x.assign(twice_a=2 * x["a"] + 0.01 * rng.normal(size=400))
    warning = [line for line in summary(collinear).splitlines() if "warning" in line]
    assert len(warning) == 1 and "for a, twice_a:" in warning[0]


def test_binned_rates_count_every_maze_once() -> None:
    values = np.repeat(np.arange(5), 4).astype(float)
    bins = binned_rates(values, values < 2)  # few distinct values: one bin each
    assert [(b[0], b[3].k, b[3].n) for b in bins] == [(v, 4 * (v < 2), 4) for v in range(5)]
    rng = np.random.default_rng(0)
    values = rng.normal(size=300)
    outcome = values > 0.5
    bins = binned_rates(values, outcome, bins=6)
    assert len(bins) == 6
    assert sum(b[3].n for b in bins) == 300 and sum(b[3].k for b in bins) == outcome.sum()
    assert all(b[0] <= b[2] <= b[1] for b in bins)


def test_bad_regression_inputs_are_named(real_features) -> None:
    n = len(real_features)
    with pytest.raises(ValueError, match=f"{n} reached the cheese and 0 did not"):
        fit_behaviour(real_features, np.ones(n, dtype=bool))
    with pytest.raises(ValueError, match=r"outcome must have shape"):
        fit_behaviour(real_features, np.ones(n - 1, dtype=bool))
    broken = real_features.assign(maze_size=np.nan)
    with pytest.raises(ValueError, match="features maze_size have missing"):
        fit_behaviour(broken, np.arange(n) % 2)
    with pytest.raises(ValueError, match="splits must be >= 1"):
        fit_behaviour(real_features, np.arange(n) % 2, splits=0)
    with pytest.raises(ValueError, match="c .* must be > 0"):
        fit_behaviour(real_features, np.arange(n) % 2, c=0.0)


# --- the analysis ----------------------------------------------------------------------------


def test_run_refuses_bad_inputs_before_playing(tiny_model, tmp_path) -> None:
    maze = mazes_from_seeds([0], "easy")[0]
    with pytest.raises(ValueError, match="Levels"):
        run(tiny_model, [maze])
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        run(tiny_model, Levels("easy", range(4)), playing=Playing(max_steps=0))
    with pytest.raises(ValueError, match="l1_c .* must be > 0"):
        run(tiny_model, Levels("easy", range(4)), l1_c=-1.0)
    # Three levels cannot hold five mazes of each outcome: the counts are named.
    with pytest.raises(ValueError, match=r"of 3 easy levels, \d have a decision square"):
        run(
            tiny_model,
            Levels("easy", range(3)),
            playing=Playing(3, records=Records.at(tmp_path / "r")),
        )


def test_end_to_end_on_the_agent_and_the_records_are_reused(
    ppo_s1, shared_checkpoints, tmp_path, monkeypatch
) -> None:
    records = tmp_path / "records"
    levels = Levels("easy", range(80))
    result = run(ppo_s1, levels, playing=Playing(32, records=Records.at(records)), splits=4, seed=0)
    table = load_records(records)
    chosen = table[table["decision_row"].notna() & ~table["cheese_in_region"]]
    numbers = result.numbers()
    assert numbers["levels"] == 80 and len(table) == 80
    assert numbers["n_mazes_with_decision_square"] == len(chosen) == len(result.features)
    assert result.features.index.tolist() == chosen["seed"].tolist()
    assert numbers["p_reached_cheese"]["k"] == int(chosen["reached_cheese"].sum())
    assert numbers["p_reached_cheese"]["n"] == len(chosen)
    first = mazes_from_seeds([int(chosen["seed"].iloc[0])], "easy")[0]
    assert result.features.iloc[0].to_dict() == feature_row(first)
    assert list(result.features.columns) == list(FEATURES)
    assert set(numbers["single_feature_accuracy"]) == set(FEATURES)
    assert 0 <= numbers["baseline_accuracy"] <= 1 and 0 <= numbers["heldout_accuracy"] <= 1
    assert set(PUBLISHED_FEATURES) <= set(numbers["coefficients"])
    assert "held-out accuracy" in result.summary()
    assert "warning: VIF > 10 in the all-features model" in result.summary()
    assert set(numbers["published_features_coefficients"]) == set(PUBLISHED_FEATURES)
    assert "steps_cheese_to_top_right" in numbers["high_vif_features"]  # exact, see above
    # The choice on free-choice mazes; in a forced maze "the cheese first" cannot happen.
    choice = numbers["choice"]
    assert choice["mazes"] == len(chosen)
    assert choice["free_choice_mazes"] + choice["forced_mazes"] == len(chosen)
    assert choice["cheese_first_forced"]["k"] == 0
    assert choice["cheese_first_free_choice"]["n"] == choice["free_choice_mazes"]
    assert numbers["bootstrap_resamples"] == result.fit.bootstrap_resamples > 0
    assert set(numbers["bootstrap"]) == set(FEATURES)
    assert not numbers["bootstrap"]["steps_cheese_to_top_right"]["identifiable"]
    files = {p.name for p in result.save(tmp_path / "out")}
    assert {"result.json", "arrays.npz"} | {f"{k}.html" for k in result.figures()} <= files
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["numbers"]["n_mazes_with_decision_square"] == len(chosen)

    def never(activation, hook):
        raise AssertionError("the model was called although the records were there")

    with ppo_s1.hooks(fwd_hooks=[("embedder.fc_out", never)]):
        again = run(
            ppo_s1, levels, playing=Playing(32, records=Records.at(records)), splits=4, seed=0
        )
    assert again.numbers() == numbers
    # The command line reads the same folder back (same checkpoint and settings).
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    argv = ["--checkpoint", "model_160022528", "--mazes", "80", "--max-steps", "32"]
    argv += ["--splits", "4", "--records", str(records), "--out", str(tmp_path / "cli")]
    assert analyses_cli.main(run.analysis, argv) == 0
    from_cli = json.loads((tmp_path / "cli" / "result.json").read_text())["numbers"]
    assert from_cli == saved["numbers"]
