"""The result of the behaviour analysis: numbers, arrays and the summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from jaxtyping import Bool

from analyses.behaviour.figures import figures
from analyses.core.result import AnalysisResult
from analyses.measure.behaviour import PUBLISHED, PUBLISHED_COEFFICIENTS, PUBLISHED_FEATURES
from analyses.measure.regression import HIGH_VIF, BehaviourFit
from hooked_impala.stats import Rate, rate_text


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
        return figures(self)

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
