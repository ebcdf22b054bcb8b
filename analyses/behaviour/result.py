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
from analyses.measure.choice import FREE_CHOICE
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


def _bootstrap_dict(fit: BehaviourFit) -> dict[str, dict]:
    return {
        str(f): {k: bool(v) if k == "identifiable" else float(v) for k, v in row.items()}
        for f, row in fit.bootstrap_table().to_dict(orient="index").items()
    }


def _bootstrap_lines(fit: BehaviourFit) -> list[str]:
    lines = [
        f"  maze bootstrap of the whole fit ({fit.bootstrap_resamples} resamples of the "
        f"{fit.n} mazes): full-data coefficient, 95% percentile interval, the fraction of "
        "resamples in which L1 kept it; VIF:"
    ]
    for name, row in fit.bootstrap_table().iterrows():
        read = (
            f"[{row['low']:+.3f}, {row['high']:+.3f}]"
            if row["identifiable"]
            else "not identifiable (VIF > 10)"
        )
        lines.append(
            f"    {name:37s} {row['estimate']:+.3f} {read:27s} kept {row['selected']:4.0%}"
            f"  VIF {row['vif']:6.1f}"
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
        reached_decision_square: P(reached the cheese) over every level with a decision
            square, the cheese anywhere (the paper's population); None if not measured.
        free_choice: ``(n,)`` the maze is a free choice (:mod:`analyses.measure.choice`):
            the cheese's path from the start does not cross the top-right 5×5, so "the
            cheese first" is possible; the choice rates are read on these. None if not
            measured.
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
    reached_decision_square: Rate | None = None
    free_choice: Bool[np.ndarray, " n"] | None = None

    @property
    def rate(self) -> Rate:
        return _rate(self.reached)

    def choice_rates(self) -> dict[str, dict] | None:
        """ "The cheese before the top-right region" on every regression maze and on the
        free-choice ones (``Rate.as_dict()``, one episode per maze: Wilson), the number of
        forced mazes, and P(reached the cheese) on the free-choice ones; None if the free
        choice was not measured."""
        if self.free_choice is None:
            return None
        free = np.asarray(self.free_choice, dtype=bool)
        forced = ~free
        return {
            "population": FREE_CHOICE,
            "mazes": int(len(free)),
            "free_choice_mazes": int(free.sum()),
            "forced_mazes": int(forced.sum()),
            "forced_share": float(forced.mean()) if len(free) else None,
            "cheese_first_all": _rate(self.cheese_first).as_dict(),
            "cheese_first_free_choice": _rate(self.cheese_first[free]).as_dict(),
            "cheese_first_forced": _rate(self.cheese_first[forced]).as_dict(),
            "reached_cheese_free_choice": _rate(self.reached[free]).as_dict(),
        }

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
            "p_reached_cheese_all_decision_square": (
                None
                if self.reached_decision_square is None
                else self.reached_decision_square.as_dict()
            ),
            "choice": self.choice_rates(),
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
            "bootstrap_resamples": fit.bootstrap_resamples,
            "bootstrap": _bootstrap_dict(fit) if fit.bootstrap_resamples else None,
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
        if self.free_choice is not None:
            out["free_choice"] = np.asarray(self.free_choice, dtype=bool)
        if fit.bootstrap_resamples:
            out["full_coefficients"] = fit.full_coefficients
            out["bootstrap_coefficients"] = fit.bootstrap_coefficients
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
        ]
        choice = n["choice"]
        if choice is not None:
            lines += [
                f"  of those {choice['mazes']}, {choice['forced_mazes']} "
                f"({choice['forced_share'] or 0:.1%}) are forced: the only path to the cheese "
                "crosses the top-right 5x5, so 'cheese first' cannot happen there "
                f"({rate_text(choice['cheese_first_forced'])})",
                f"  on the {choice['free_choice_mazes']} free-choice mazes: cheese before the "
                f"region {rate_text(choice['cheese_first_free_choice'])}; reached the cheese "
                + rate_text(choice["reached_cheese_free_choice"]),
            ]
        if self.reached_decision_square is not None:
            lines.append(
                f"  reached the cheese, every level with a decision square (cheese anywhere, "
                f"the paper's population): {self.reached_decision_square}"
            )
        lines += [
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
        if fit.bootstrap_resamples:
            lines += _bootstrap_lines(fit)
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
