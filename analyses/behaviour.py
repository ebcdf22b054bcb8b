"""Behaviour: in which mazes does the agent go for the cheese?

Mini, Udell, Turner et al. played their agent once in each of 10,000 mazes; 5,239 had a
decision square (where the paths to the cheese and to the top-right cell part) and the
cheese outside the top-right 5×5 region, the region the cheese was always in during
training. The agent reached the cheese in 71.4% of those, and an L1-regularised logistic
regression on maze features predicted which ones with 84.9% held-out accuracy.

This analysis does the same for any checkpoint: one episode per level of a seed range
(:func:`hooked_impala.policy.records.collect_records`, kept in a records folder that a
rerun reuses), the mazes with a decision square and the cheese outside the top-right 5×5
region, the outcome "reached the cheese within ``max_steps``", and the regression
(:func:`fit_behaviour`) on the features of :func:`hooked_impala.maze.maze_features`:

=====================================  ==================================================
feature                                meaning (world cells; steps = shortest path)
=====================================  ==================================================
steps_decision_to_cheese               steps from the decision square to the cheese
euclid_decision_to_cheese              straight-line distance, decision square to cheese
steps_decision_to_top_right            steps from the decision square to the inner maze's
                                       top-right cell
euclid_decision_to_top_right           straight-line distance, decision square to that cell
steps_decision_to_top_right_region     steps from the decision square to the nearest open
                                       cell of the top-right 5×5 region
euclid_decision_to_top_right_region    straight-line distance to that region's nearest
                                       open cell
steps_cheese_to_top_right              steps from the cheese to the top-right cell
euclid_cheese_to_top_right             straight-line distance, cheese to top-right cell
steps_cheese_to_top_right_region       steps from the cheese to the top-right 5×5 region
euclid_cheese_to_top_right_region      straight-line distance, cheese to that region
maze_size                              side of the inner maze (cells)
cheese_up_right_from_decision          1 if the cheese is reachable from the decision
                                       square moving only up and right, else 0
decision_to_left_wall                  columns between the decision square and the inner
                                       maze's left edge
=====================================  ==================================================

Features are standardised (fit on the training split only), so coefficients are per
standard deviation; positive = more likely to reach the cheese. Accuracies are over
repeated stratified random splits (``splits``, seeded), against the majority class of each
training split on the same test splits. Many features measure nearly the same thing (steps
and Euclidean versions of one distance): their variance inflation factors are reported, and
where they are high the L1 fit picks among them arbitrarily, so those coefficients' signs
say little (the sign stability over splits shows it). Three are exactly collinear: procgen's
mazes are trees, so the decision square lies on the cheese's path to the top-right cell and
steps(cheese → top right) = steps(decision → cheese) + steps(decision → top right).

The outcome depends on ``max_steps``: in short episodes the step distance to the cheese
decides mechanically whether it is reached in time; compare agents at the same limit.

    python -m analyses.behaviour --checkpoint model_160022528 --mazes 10000 \\
        --records out/behaviour_records
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import sklearn
from jaxtyping import Bool, Float, Int
from plotly.subplots import make_subplots
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from analyses import cli as analyses_cli
from analyses.inputs import Levels, records_folder
from analyses.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.spec import ROLLOUT_OPTIONS, Analysis, Option
from hooked_impala import checks, cli
from hooked_impala.maze import TOP_RIGHT_5, Maze, MazeRenderer, maze_features, mazes_from_seeds
from hooked_impala.model import HookedImpala
from hooked_impala.policy.records import collect_records
from hooked_impala.policy.rollout import PROCGEN_STEP_LIMIT
from hooked_impala.stats import Rate, rate_text
from hooked_impala.sweep import Backend

__all__ = [
    "FEATURES",
    "PUBLISHED_FEATURES",
    "BehaviourFit",
    "BehaviourResult",
    "binned_rates",
    "feature_row",
    "feature_table",
    "fit_behaviour",
    "run",
    "variance_inflation",
]

#: The regression's features (columns of :func:`feature_table`) and what they measure.
FEATURES: dict[str, str] = {
    "steps_decision_to_cheese": "steps, decision square → cheese",
    "euclid_decision_to_cheese": "Euclidean, decision square → cheese",
    "steps_decision_to_top_right": "steps, decision square → top-right cell",
    "euclid_decision_to_top_right": "Euclidean, decision square → top-right cell",
    "steps_decision_to_top_right_region": "steps, decision square → top-right 5×5",
    "euclid_decision_to_top_right_region": "Euclidean, decision square → top-right 5×5",
    "steps_cheese_to_top_right": "steps, cheese → top-right cell",
    "euclid_cheese_to_top_right": "Euclidean, cheese → top-right cell",
    "steps_cheese_to_top_right_region": "steps, cheese → top-right 5×5",
    "euclid_cheese_to_top_right_region": "Euclidean, cheese → top-right 5×5",
    "maze_size": "inner maze side",
    "cheese_up_right_from_decision": "cheese reachable from the decision square moving up/right",
    "decision_to_left_wall": "columns, decision square → left edge",
}

#: The paper's four-feature regression and its standardised coefficients (scale-4 agent).
PUBLISHED_FEATURES: tuple[str, ...] = (
    "euclid_decision_to_cheese",
    "steps_decision_to_cheese",
    "euclid_cheese_to_top_right",
    "euclid_decision_to_top_right_region",
)
PUBLISHED_COEFFICIENTS: dict[str, float] = dict(
    zip(PUBLISHED_FEATURES, (-0.623, -1.084, -2.786, 1.326))
)
PUBLISHED = {
    "p_reached_cheese": 0.714,
    "mazes_with_decision_square": 5239,
    "levels": 10_000,
    "accuracy": 0.849,
    "accuracy_4_features": 0.845,
    "accuracy_steps_alone": 0.755,
    "earlier_run_accuracy": 0.833,
    "earlier_run_baseline": 0.691,
    "coefficients": PUBLISHED_COEFFICIENTS,
}

HIGH_VIF = 10.0  # the usual rule of thumb: above it a coefficient is poorly identified
MIN_PER_OUTCOME = 5  # fewer mazes of one outcome cannot be split into train and test sensibly
TEST_FRACTION = 0.2  # the paper's 8,000 / 2,000 split
MAX_SLOTS = 256  # envs played side by side


# --- features ------------------------------------------------------------------------------


def feature_row(maze: Maze) -> dict[str, float]:
    """The :data:`FEATURES` of one maze with a decision square, as floats (booleans 0/1)."""
    features = maze_features(maze).as_dict()
    if features["decision_square"] is None:
        raise ValueError(f"maze seed {maze.seed} has no decision square: no features")
    missing = [name for name in FEATURES if features[name] is None]
    if missing:
        raise ValueError(f"maze seed {maze.seed}: features {', '.join(missing)} are undefined")
    return {name: float(features[name]) for name in FEATURES}


def feature_table(mazes: Iterable[Maze], progress: bool = False) -> pd.DataFrame:
    """``(mazes, features)``: one row of :data:`FEATURES` per maze, indexed by level seed."""
    rows, seeds = [], []
    for maze in tqdm(mazes, desc="features", unit="maze", disable=not progress):
        rows.append(feature_row(maze))
        seeds.append(maze.seed)
    return pd.DataFrame(rows, index=pd.Index(seeds, name="seed"), columns=list(FEATURES))


def variance_inflation(x: Float[np.ndarray, "n k"]) -> Float[np.ndarray, " k"]:
    """Variance inflation factor of each column: ``1 / (1 − R²_j)``, R²_j of the least-squares
    regression of column j on the others (with an intercept). 1 = uncorrelated with the rest;
    ``inf`` = an exact linear combination of them; NaN for a constant column."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"variance_inflation takes an (n, k) matrix, got shape {x.shape}")
    centred = x - x.mean(axis=0)  # centring is the intercept
    vif = np.ones(x.shape[1])
    if x.shape[1] < 2:
        return vif
    for j in range(x.shape[1]):
        target, others = centred[:, j], np.delete(centred, j, axis=1)
        total = float(target @ target)
        if total <= 1e-12 * max(1.0, float(np.abs(x[:, j]).max()) ** 2 * len(x)):
            vif[j] = np.nan
            continue
        beta, *_ = np.linalg.lstsq(others, target, rcond=None)
        residual = float(np.sum((target - others @ beta) ** 2))
        vif[j] = np.inf if residual <= 1e-12 * total else total / residual  # = 1 / (1 − R²)
    return vif


# --- the regression ------------------------------------------------------------------------


def _l1_logistic(c: float, seed: int) -> Pipeline:
    # scikit-learn 1.8 deprecated ``penalty`` for ``l1_ratio``; before it l1_ratio alone
    # would silently fit an L2 model.
    version = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
    l1 = {"l1_ratio": 1.0} if version >= (1, 8) else {"penalty": "l1"}
    return make_pipeline(
        StandardScaler(), LogisticRegression(solver="liblinear", C=c, random_state=seed, **l1)
    )


def _check_outcomes(outcome: np.ndarray, where: str) -> None:
    reached = int(outcome.sum())
    missed = len(outcome) - reached
    if min(reached, missed) < MIN_PER_OUTCOME:
        raise ValueError(
            f"the regression needs at least {MIN_PER_OUTCOME} mazes of each outcome: {where}"
            f"{reached} reached the cheese and {missed} did not"
        )


def _sign_table(
    coefs: Float[np.ndarray, "splits k"], names: Sequence[str], vif: Float[np.ndarray, " k"]
) -> pd.DataFrame:
    splits = len(coefs)
    positive, negative = (coefs > 0).sum(0), (coefs < 0).sum(0)
    sign = np.where(positive > negative, 1, np.where(negative > positive, -1, 0))
    tie = (positive == negative) & (positive > 0)
    sign = np.where(tie, np.sign(coefs.sum(0)).astype(int), sign)
    agreeing = np.where(sign > 0, positive, np.where(sign < 0, negative, 0))
    table = pd.DataFrame(
        {
            "mean": coefs.mean(0),
            "sd": coefs.std(0),
            "majority_sign": sign,
            "sign_stability": agreeing / splits,
            "zero_fraction": (coefs == 0).sum(0) / splits,
            "vif": vif,
        },
        index=pd.Index(list(names), name="feature"),
    )
    return table.iloc[np.argsort(-np.abs(table["mean"].to_numpy()), kind="stable")]


@dataclass(frozen=True)
class BehaviourFit:
    """Held-out performance and coefficients of the L1 logistic regression over ``splits``
    random train/test splits (the same splits for every feature set).

    Attributes:
        features: the columns, in order.
        n, n_reached: mazes, and how many reached the cheese.
        accuracy: ``(splits,)`` held-out accuracy with every feature.
        baseline: ``(splits,)`` accuracy of predicting the training split's majority class.
        published: ``(splits,)`` accuracy with :data:`PUBLISHED_FEATURES`, or None when the
            table lacks some of them.
        single: ``(features, splits)`` accuracy with each feature alone.
        coefficients: ``(splits, features)`` standardised coefficients of the full model.
        published_coefficients, published_vif: ``(splits, 4)`` coefficients of the
            four-feature model and ``(4,)`` VIFs among those four (None when ``published`` is).
        vif: ``(features,)`` variance inflation factors over all mazes.
    """

    features: tuple[str, ...]
    n: int
    n_reached: int
    test_fraction: float
    c: float
    accuracy: Float[np.ndarray, " splits"]
    baseline: Float[np.ndarray, " splits"]
    published: Float[np.ndarray, " splits"] | None
    single: Float[np.ndarray, "features splits"]
    coefficients: Float[np.ndarray, "splits features"]
    vif: Float[np.ndarray, " features"]
    published_coefficients: Float[np.ndarray, "splits 4"] | None = None
    published_vif: Float[np.ndarray, " 4"] | None = None

    @property
    def splits(self) -> int:
        return len(self.accuracy)

    def coefficient_table(self, published: bool = False) -> pd.DataFrame:
        """One row per feature of the full model (``published``: of the four-feature model):
        mean and sd of the coefficient over splits, the majority sign of its non-zero values
        (a tie goes to the sign of the sum; 0 if always zero), the fraction of splits with
        that sign, the fraction where L1 set it to zero, and the VIF among the model's
        features; sorted by |mean|, largest first."""
        if not published:
            return _sign_table(self.coefficients, self.features, self.vif)
        if self.published_coefficients is None or self.published_vif is None:
            raise ValueError("the features lack some of the published four: no such fit")
        return _sign_table(self.published_coefficients, PUBLISHED_FEATURES, self.published_vif)

    def high_vif(self, threshold: float = HIGH_VIF) -> list[str]:
        """Features whose VIF exceeds ``threshold`` (their signs are not identifiable); a
        constant feature (VIF NaN) is not counted."""
        return [f for f, v in zip(self.features, self.vif) if v > threshold]


def fit_behaviour(
    features: pd.DataFrame,
    outcome: Bool[np.ndarray, " n"] | Int[np.ndarray, " n"],
    *,
    splits: int = 20,
    seed: int = 0,
    c: float = 1.0,
    test_fraction: float = TEST_FRACTION,
) -> BehaviourFit:
    """Fit ``StandardScaler → L1 LogisticRegression(C=c)`` on ``splits`` stratified random
    splits (``test_fraction`` held out, seeded by ``seed``) with all columns of ``features``
    ``(n, k)``, with each column alone and with :data:`PUBLISHED_FEATURES` when present;
    ``outcome`` ``(n,)``: 1/True = reached the cheese."""
    if not isinstance(features, pd.DataFrame) or features.shape[1] == 0:
        raise ValueError("features must be a pandas DataFrame with at least one column")
    splits = checks.integer("splits", splits, minimum=1)
    seed = checks.integer("seed", seed, minimum=0, maximum=checks.MAX_SEED)
    c = checks.real("c", c)
    if c <= 0:
        raise ValueError(f"c (the inverse L1 strength) must be > 0, got {c}")
    test_fraction = checks.real("test_fraction", test_fraction)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    y = np.asarray(outcome)
    if y.shape != (len(features),):
        raise ValueError(f"outcome must have shape ({len(features)},), got {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("outcome must be boolean or 0/1 (1 = reached the cheese)")
    y = y.astype(int)
    x = features.to_numpy(dtype=float)
    bad = [name for name, ok in zip(features.columns, np.isfinite(x).all(0)) if not ok]
    if bad:
        raise ValueError(f"features {', '.join(map(str, bad))} have missing or infinite values")
    _check_outcomes(y, f"of {len(y)} mazes, ")
    names = tuple(str(c) for c in features.columns)
    splitter = StratifiedShuffleSplit(n_splits=splits, test_size=test_fraction, random_state=seed)
    folds = list(splitter.split(x, y))

    def accuracy(columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        scores, coefs = [], []
        for train, test in folds:
            model = _l1_logistic(c, seed).fit(x[train][:, columns], y[train])
            scores.append(model.score(x[test][:, columns], y[test]))
            coefs.append(model[-1].coef_[0])
        return np.array(scores), np.array(coefs)

    full, coefficients = accuracy(list(range(len(names))))
    baseline = np.array(
        [np.mean(y[test] == int(2 * y[train].sum() >= len(train))) for train, test in folds]
    )
    published = published_coefficients = published_vif = None
    if set(PUBLISHED_FEATURES) <= set(names):
        four = [names.index(f) for f in PUBLISHED_FEATURES]
        published, published_coefficients = accuracy(four)
        published_vif = variance_inflation(x[:, four])
    single = np.stack([accuracy([j])[0] for j in range(len(names))])
    return BehaviourFit(
        features=names,
        n=len(y),
        n_reached=int(y.sum()),
        test_fraction=test_fraction,
        c=c,
        accuracy=full,
        baseline=baseline,
        published=published,
        single=single,
        coefficients=coefficients,
        vif=variance_inflation(x),
        published_coefficients=published_coefficients,
        published_vif=published_vif,
    )


def binned_rates(
    values: Float[np.ndarray, " n"], outcome: Bool[np.ndarray, " n"], bins: int = 6
) -> list[tuple[float, float, float, Rate]]:
    """P(outcome) in bins of ``values``: one bin per value when there are at most ``bins + 2``
    distinct ones, else quantile bins; ``(low, high, mean value, Rate)`` per non-empty bin."""
    values, outcome = np.asarray(values, dtype=float), np.asarray(outcome, dtype=bool)
    distinct = np.unique(values)
    if len(distinct) <= bins + 2:
        groups = [values == v for v in distinct]
    else:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
        which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        groups = [which == b for b in range(len(edges) - 1)]
    return [
        (
            float(values[g].min()),
            float(values[g].max()),
            float(values[g].mean()),
            Rate(int(outcome[g].sum()), int(g.sum())),
        )
        for g in groups
        if g.any()
    ]


# --- the result ----------------------------------------------------------------------------


def _rate(outcomes: np.ndarray) -> Rate:
    return Rate(int(np.count_nonzero(outcomes)), int(len(outcomes)))


def _table_dict(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {
        str(f): {k: float(v) if k != "majority_sign" else int(v) for k, v in row.items()}
        for f, row in table.to_dict(orient="index").items()
    }


def _coefficient_lines(table: pd.DataFrame, published: bool) -> list[str]:
    lines = []
    for name, row in table.iterrows():
        sign = {1: "+", -1: "-", 0: "0"}[int(row["majority_sign"])]
        lines.append(
            f"    {name:37s} {row['mean']:+.3f} ± {row['sd']:.3f}  {sign} "
            f"{row['sign_stability']:4.0%} zero {row['zero_fraction']:4.0%}  VIF {row['vif']:6.1f}"
            + (f"  [{PUBLISHED_COEFFICIENTS[name]:+.3f}]" if published else "")
        )
    return lines


def _mean_sd(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values))}


@dataclass(kw_only=True)
class BehaviourResult(AnalysisResult):
    """The behaviour of a checkpoint over a population of levels.

    Attributes:
        mode, levels: the distribution mode and the number of levels played.
        levels_with_decision_square: levels with a decision square (cheese anywhere).
        features: ``(n, features)`` table of the qualifying mazes (decision square, cheese
            outside the top-right 5×5), indexed by seed.
        reached: ``(n,)`` the agent reached the cheese within ``max_steps``.
        cheese_first: ``(n,)`` reached it without entering the top-right region first.
        fit: the regression (:class:`BehaviourFit`).
    """

    mode: str
    levels: int
    levels_with_decision_square: int
    max_steps: int
    greedy: bool
    features: pd.DataFrame
    reached: Bool[np.ndarray, " n"]
    cheese_first: Bool[np.ndarray, " n"]
    fit: BehaviourFit

    @property
    def rate(self) -> Rate:
        return _rate(self.reached)

    def rate_by_maze_size(self) -> dict[int, Rate]:
        sizes = self.features["maze_size"].to_numpy().astype(int)
        return {int(s): _rate(self.reached[sizes == s]) for s in np.unique(sizes)}

    def strongest(self, count: int = 2) -> list[str]:
        """The ``count`` features with the largest mean |coefficient|."""
        return list(self.fit.coefficient_table().index[:count])

    def numbers(self) -> dict:
        fit = self.fit
        table = fit.coefficient_table()
        return {
            "mode": self.mode,
            "levels": self.levels,
            "levels_with_decision_square": self.levels_with_decision_square,
            "n_mazes_with_decision_square": fit.n,
            "max_steps": self.max_steps,
            "greedy": self.greedy,
            "p_reached_cheese": self.rate.as_dict(),
            "p_cheese_before_top_right_region": _rate(self.cheese_first).as_dict(),
            "p_reached_cheese_by_maze_size": {
                str(s): r.as_dict() for s, r in self.rate_by_maze_size().items()
            },
            "splits": fit.splits,
            "test_fraction": fit.test_fraction,
            "l1_c": fit.c,
            "heldout_accuracy": float(fit.accuracy.mean()),
            "heldout_accuracy_sd": float(fit.accuracy.std()),
            "baseline_accuracy": float(fit.baseline.mean()),
            "baseline_accuracy_sd": float(fit.baseline.std()),
            "published_features_accuracy": (
                None if fit.published is None else _mean_sd(fit.published)
            ),
            "single_feature_accuracy": {
                f: _mean_sd(acc) for f, acc in zip(fit.features, fit.single)
            },
            "coefficients": _table_dict(table),
            "published_features_coefficients": (
                None if fit.published is None else _table_dict(fit.coefficient_table(True))
            ),
            "vif": dict(zip(fit.features, fit.vif.tolist())),
            "high_vif_features": fit.high_vif(),
            "published": PUBLISHED,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        fit = self.fit
        out = {
            "seeds": self.features.index.to_numpy(),
            "features": self.features.to_numpy(),
            "feature_names": np.array(fit.features),
            "reached_cheese": self.reached,
            "cheese_first": self.cheese_first,
            "heldout_accuracy": fit.accuracy,
            "baseline_accuracy": fit.baseline,
            "single_feature_accuracy": fit.single,
            "coefficients": fit.coefficients,
            "vif": fit.vif,
        }
        if fit.published is not None:
            out["published_features_accuracy"] = fit.published
            out["published_features_coefficients"] = fit.published_coefficients
        return out

    def figures(self) -> dict[str, go.Figure]:
        return {
            "coefficients": self.coefficients_figure(),
            "accuracy": self.accuracy_figure(),
            "p_cheese_by_feature": self.rate_figure(),
        }

    def coefficients_figure(self) -> go.Figure:
        table = self.fit.coefficient_table().iloc[::-1]  # largest at the top
        names = list(table.index)
        fig = go.Figure(
            go.Scatter(
                x=table["mean"],
                y=names,
                mode="markers",
                marker={"color": "#1f4e79", "size": 9},
                error_x={"type": "data", "array": table["sd"], "visible": True},
                name=f"this agent, all features (mean ± sd over {self.fit.splits} splits)",
                customdata=np.stack(
                    [table["sign_stability"], table["zero_fraction"], table["vif"]], axis=1
                ),
                hovertemplate=(
                    "%{y}: %{x:.3f}<br>sign stability %{customdata[0]:.2f}, "
                    "zero in %{customdata[1]:.2f} of splits, VIF %{customdata[2]:.1f}"
                    "<extra></extra>"
                ),
            )
        )
        if self.fit.published is not None:
            four = self.fit.coefficient_table(True)
            fig.add_trace(
                go.Scatter(
                    x=four["mean"],
                    y=list(four.index),
                    mode="markers",
                    marker={"color": "#5b9bd5", "symbol": "square", "size": 8},
                    error_x={"type": "data", "array": four["sd"], "visible": True},
                    name="this agent, the published 4 features alone",
                    hovertemplate="%{y}: %{x:.3f}<extra>4-feature fit</extra>",
                )
            )
        published = [f for f in names if f in PUBLISHED_COEFFICIENTS]
        fig.add_trace(
            go.Scatter(
                x=[PUBLISHED_COEFFICIENTS[f] for f in published],
                y=published,
                mode="markers",
                marker={"color": "#d4a017", "symbol": "diamond", "size": 9},
                name="published 4-feature fit (scale 4, hard mode)",
            )
        )
        fig.add_vline(x=0, line_color="#7f7f7f")
        fig.update_layout(
            title=(
                f"Standardised L1 logistic coefficients: P(reached cheese), {self.fit.n} mazes "
                "(positive = more cheese)"
            ),
            xaxis_title="coefficient per standard deviation",
            height=max(360, 32 * len(names) + 160),
            legend={"orientation": "h", "y": -0.2},
        )
        return fig

    def accuracy_figure(self) -> go.Figure:
        fit = self.fit
        sets = [("all features", fit.accuracy)]
        if fit.published is not None:
            sets.append(("published 4", fit.published))
        order = np.argsort(-fit.single.mean(1), kind="stable")
        sets += [(fit.features[j], fit.single[j]) for j in order]
        sets.append(("majority baseline", fit.baseline))
        colours = ["#1f4e79", "#d4a017"][: 1 + (fit.published is not None)]
        colours += ["#5b9bd5"] * len(order) + ["#7f7f7f"]
        fig = go.Figure(
            go.Bar(
                x=[name for name, _ in sets],
                y=[float(a.mean()) for _, a in sets],
                error_y={"type": "data", "array": [float(a.std()) for _, a in sets]},
                marker_color=colours,
                hovertemplate="%{x}: %{y:.3f}<extra></extra>",
            )
        )
        fig.add_hline(
            y=PUBLISHED["accuracy"],
            line_dash="dot",
            annotation_text="published, all features (scale 4)",
            annotation_position="top right",
        )
        low = min(float(a.mean() - a.std()) for _, a in sets)
        fig.update_layout(
            title=(
                f"Held-out accuracy by feature set (mean ± sd over {fit.splits} splits, "
                f"{fit.test_fraction:.0%} held out)"
            ),
            yaxis={"title": "accuracy", "range": [max(0.0, low - 0.05), 1.0]},
            xaxis={"tickangle": -40},
            height=520,
        )
        return fig

    def rate_figure(self) -> go.Figure:
        strongest = self.strongest(2)
        fig = make_subplots(rows=1, cols=len(strongest), subplot_titles=strongest)
        for col, name in enumerate(strongest, start=1):
            bins = binned_rates(self.features[name].to_numpy(), self.reached)
            centres = [b[2] for b in bins]
            values = [b[3].value for b in bins]
            lows = [b[3].value - b[3].interval[0] for b in bins]
            highs = [b[3].interval[1] - b[3].value for b in bins]
            fig.add_trace(
                go.Scatter(
                    x=centres,
                    y=values,
                    mode="lines+markers",
                    line={"color": "#d4a017"},
                    error_y={"type": "data", "array": highs, "arrayminus": lows},
                    text=[
                        (f"{lo:.3g}" if lo == hi else f"{lo:.3g}–{hi:.3g}") + f": {r.k}/{r.n}"
                        for lo, hi, _, r in bins
                    ],
                    hovertemplate="%{text}<br>P(cheese) %{y:.2f}<extra></extra>",
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
            fig.update_xaxes(title_text=FEATURES.get(name, name), row=1, col=col)
        fig.update_yaxes(title_text="P(reached cheese), 95% Wilson", range=[0, 1], row=1, col=1)
        fig.update_layout(
            title=f"P(reached cheese) against the two strongest features ({self.fit.n} mazes)"
        )
        return fig

    def summary(self) -> str:
        fit = self.fit
        n = self.numbers()
        how = "greedy" if self.greedy else "sampled"
        by_size = self.rate_by_maze_size()
        lines = [
            f"Behaviour over {self.levels} {self.mode} levels ({how} actions, at most "
            f"{self.max_steps} steps)",
            f"  levels with a decision square: {self.levels_with_decision_square}; with the "
            f"cheese also outside the top-right 5x5: {fit.n}",
            f"  reached the cheese: {self.rate}   [published, scale 4: "
            f"{PUBLISHED['p_reached_cheese']:.1%} of {PUBLISHED['mazes_with_decision_square']:,}]",
            "  reached it before entering the top-right region: "
            + rate_text(n["p_cheese_before_top_right_region"]),
            "  by maze size: "
            + ", ".join(f"{s}: {r.value:.0%} (n={r.n})" for s, r in by_size.items()),
            f"  held-out accuracy, L1 logistic on {len(fit.features)} features: "
            f"{fit.accuracy.mean():.3f} ± {fit.accuracy.std():.3f} vs majority baseline "
            f"{fit.baseline.mean():.3f} ± {fit.baseline.std():.3f} ({fit.splits} splits, "
            f"{fit.test_fraction:.0%} held out)   [published: {PUBLISHED['accuracy']}]",
        ]
        if fit.published is not None:
            lines.append(
                f"  published 4 features: {fit.published.mean():.3f} ± {fit.published.std():.3f}"
                f"   [published: {PUBLISHED['accuracy_4_features']}]"
            )
        best = np.argsort(-fit.single.mean(1), kind="stable")[:3]
        lines.append(
            "  best single features: "
            + ", ".join(f"{fit.features[j]} {fit.single[j].mean():.3f}" for j in best)
            + f"   [published, steps alone: {PUBLISHED['accuracy_steps_alone']}]"
        )
        lines.append(
            "  standardised coefficients, all features (mean ± sd; majority sign, the fraction "
            "of splits with it, the fraction zero; VIF):"
        )
        lines += _coefficient_lines(fit.coefficient_table(), published=False)
        if fit.published is not None:
            lines.append("  the published 4 features alone (VIF among the four) [published]:")
            lines += _coefficient_lines(fit.coefficient_table(True), published=True)
        groups = [("all-features model", fit.high_vif())]
        if fit.published_vif is not None:
            four = [f for f, v in zip(PUBLISHED_FEATURES, fit.published_vif) if v > HIGH_VIF]
            groups.append(("four-feature model", four))
        for model_name, high in groups:
            if high:
                lines.append(
                    f"  warning: VIF > {HIGH_VIF:g} in the {model_name} for {', '.join(high)}: "
                    "these features are near linear combinations of the others, so L1 picks "
                    "among them arbitrarily and their coefficients' signs and sizes are "
                    "unstable; read them as a group"
                )
        return "\n".join(lines)


# --- the analysis ----------------------------------------------------------------------------


def run(
    model: HookedImpala,
    inputs: Levels,
    *,
    max_steps: int = PROCGEN_STEP_LIMIT,
    greedy: bool = False,
    records: str | Path | None = None,
    splits: int = 20,
    l1_c: float = 1.0,
    seed: int = 0,
    progress: bool = False,
    ray: bool = False,
    ray_address: str | None = None,
    workers: int | None = None,
) -> BehaviourResult:
    """Play one episode per level of ``inputs``, keep the mazes with a decision square and the
    cheese outside the top-right 5×5 region, and regress "reached the cheese" on their
    features (:func:`fit_behaviour`).

    ``records``: the folder the rollout records are written to; a rerun with the same folder
    and the same checkpoint, mode, ``max_steps``, ``greedy`` and ``seed`` reads them back
    instead of playing again (and plays only levels it lacks). "auto" (the command line's
    default): a folder under ``out/records`` named by the analysis, checkpoint and settings,
    so the same command resumes an interrupted run. None or "": a temporary folder, deleted
    afterwards. ``seed`` fixes both the sampled actions and the splits. ``ray``,
    ``ray_address``, ``workers``: play the rollouts on Ray (see ``collect_records``; the
    records are the same).
    """
    if not isinstance(inputs, Levels):
        raise ValueError(
            "behaviour studies every level of a seed range: pass "
            f"analyses.inputs.Levels(mode, range(...)), got {type(inputs).__name__}"
        )
    max_steps = checks.integer("max_steps", max_steps, minimum=1, maximum=PROCGEN_STEP_LIMIT)
    splits = checks.integer("splits", splits, minimum=1)
    l1_c = checks.real("l1_c", l1_c)
    if l1_c <= 0:
        raise ValueError(f"l1_c (the inverse L1 strength) must be > 0, got {l1_c}")
    seed = checks.integer("seed", seed, minimum=0, maximum=checks.MAX_SEED)
    Backend(ray=ray, address=ray_address, workers=workers)  # checked before any work
    with records_folder(
        records,
        analysis="behaviour",
        checkpoint=CheckpointRef.of(model).name,
        mode=inputs.mode,
        max_steps=max_steps,
        greedy=bool(greedy),
        seed=seed,
    ) as folder:
        frame = collect_records(
            model,
            inputs.seeds,
            folder,
            mode=inputs.mode,
            max_steps=max_steps,
            greedy=bool(greedy),
            seed=seed,
            region=TOP_RIGHT_5,
            slots=min(MAX_SLOTS, len(inputs)),
            progress=progress,
            ray=ray,
            ray_address=ray_address,
            workers=workers,
        )
    has_square = frame["decision_row"].notna().to_numpy()
    chosen = frame[has_square & ~frame["cheese_in_region"].to_numpy()]
    where = (
        f"of {len(inputs)} {inputs.mode} levels, {len(chosen)} have a decision square and the "
        f"cheese outside the top-right 5x5 region; "
    )
    if len(chosen) == 0:
        raise ValueError(f"{where}nothing to regress (try more levels with --mazes)")
    reached = chosen["reached_cheese"].to_numpy(dtype=bool)
    _check_outcomes(reached, where + "of those ")
    seeds = chosen["seed"].tolist()
    with MazeRenderer() as renderer:
        mazes = (
            maze
            for start in range(0, len(seeds), 512)
            for maze in mazes_from_seeds(seeds[start : start + 512], inputs.mode, renderer)
        )
        features = feature_table(mazes, progress=progress)
    fit = fit_behaviour(features, reached, splits=splits, seed=seed, c=l1_c)
    return BehaviourResult(
        metadata=RunMetadata(
            analysis="behaviour",
            checkpoint=CheckpointRef.of(model),
            hooks=(),
            seed=seed,
            maze_seeds=tuple(seeds),
            parameters={
                "mode": inputs.mode,
                "seeds": f"{inputs.seeds.start}..{inputs.seeds.stop - 1}",
                "max_steps": max_steps,
                "greedy": bool(greedy),
                "records": None if records in (None, "") else str(records),
                "splits": splits,
                "l1_c": l1_c,
                "test_fraction": TEST_FRACTION,
            },
        ),
        mode=inputs.mode,
        levels=len(inputs),
        levels_with_decision_square=int(has_square.sum()),
        max_steps=max_steps,
        greedy=bool(greedy),
        features=features,
        reached=reached,
        cheese_first=(chosen["outcome"] == "cheese").to_numpy(dtype=bool),
        fit=fit,
    )


ANALYSIS = Analysis(
    name="behaviour",
    question=(
        "In which mazes does the agent go for the cheese rather than the top right, and which "
        "maze features predict it?"
    ),
    run=run,
    select=list,  # not used: the analysis takes every level of a seed range
    options=(
        *ROLLOUT_OPTIONS,
        Option("splits", 20, "random train/test splits of the regression", kind=cli.positive_int),
        Option("l1_c", 1.0, "inverse L1 regularisation strength C", kind=cli.real(1e-6)),
    ),
    quick={"max_steps": 32, "splits": 10},
    levels=10_000,
    quick_levels=120,
)

if __name__ == "__main__":
    sys.exit(analyses_cli.main(ANALYSIS))
