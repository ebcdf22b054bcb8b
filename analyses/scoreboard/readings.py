"""Reading the analyses' results as estimates for the claims: a regression coefficient from
the bootstrap of the whole fit, a probe accuracy, a steering change paired over mazes, and
the claims of an edit search under a budget."""

from __future__ import annotations

import numpy as np

from analyses.core.result import AnalysisResult
from analyses.measure.edit_search import Episodes, Scored, confirm
from analyses.scoreboard.claims import Claim, tested
from analyses.scoreboard.verdicts import rate_estimate
from hooked_impala.stats import Estimate, paired_difference

#: Above this variance inflation factor a coefficient's sign is not identified.
HIGH_VIF = 10.0


def coefficient_estimate(result: AnalysisResult, feature: str) -> tuple[Estimate | None, str, bool]:
    """A feature's standardised coefficient with its maze-bootstrap interval (the whole fit
    refitted on resampled mazes), a note (selection frequency, VIF), and whether the
    feature is identifiable at all (VIF <= 10)."""
    fit = result.fit
    if not hasattr(fit, "bootstrap_table"):
        return None, "the behaviour analysis has no bootstrap of the whole fit", True
    table = fit.bootstrap_table()
    if feature not in table.index:
        return None, f"{feature} is not among the regression's features", True
    row = table.loc[feature]
    vif, selected = float(row["vif"]), float(row["selected"])
    note = f"selected by L1 in {selected:.0%} of resamples; VIF {vif:.1f}"
    if not bool(row["identifiable"]) or vif > HIGH_VIF:
        return None, f"not identifiable: VIF {vif:.1f} (collinear with other features)", False
    estimate = float(row["estimate"])
    low, high = min(float(row["low"]), estimate), max(float(row["high"]), estimate)
    if selected == 0 or low == high:  # zeroed by L1 (nearly) always: no interval to judge
        return (
            None,
            f"the L1 fit sets it to 0 in {1 - selected:.0%} of resamples (kept in "
            f"{selected:.0%}), so its interval is a point: no sign to judge; VIF {vif:.1f}",
            True,
        )
    resamples = getattr(fit, "bootstrap_resamples", None)
    method = "maze bootstrap of the whole fit (percentile" + (
        f", {resamples} resamples)" if resamples else ")"
    )
    return Estimate(estimate, low, high, int(fit.n), "mazes", method), note, True


def probe_estimate(saved: dict | None) -> Estimate | None:
    """A probe accuracy as saved by the probes analysis: an ``Estimate.as_dict()`` (an
    interval over mazes), or an older rate ``{k, n}`` over observations (Wilson, marked)."""
    if saved is None:
        return None
    if "ci95" in saved and "unit" in saved:
        return Estimate.from_dict(saved)
    return rate_estimate(saved, "observations (not independent: several per maze)")


def steering_change(result: AnalysisResult, probs: str, coeff: float) -> Estimate | None:
    """The change of a decision-square probability when the maze's own vector is added at
    ``coeff``, against coefficient 0, paired maze by maze (bootstrap over mazes)."""
    coeffs = list(result.coeffs)
    if 0.0 not in coeffs or coeff not in coeffs:
        return None
    values = getattr(result, probs)[0]  # the own vectors: (coefficients, mazes)
    mazes = np.asarray(result.metadata.maze_seeds)
    before, after = values[coeffs.index(0.0)].numpy(), values[coeffs.index(coeff)].numpy()
    if len(mazes) != len(before):
        mazes = np.arange(len(before))
    return paired_difference(before, after, mazes)


def reach_claims(
    ev,
    id: str,
    part: str,
    how: str,
    found: tuple[Scored, Episodes, Episodes, int],
    max_fraction: float | None,
    key: str,
    confidence: float | None,
    *,
    evidence: str,
    value: float | None = None,
) -> list[Claim]:
    """A claim that some edit of the family within ``max_fraction`` of the network's
    activations sends the mouse to its target: the best such edit on the selection
    episodes, scored on the test episodes against the unedited agent."""
    scored, selection, test, budget = found
    search = confirm(ev.model, scored, selection, test, budget, ev.seed, max_fraction)
    if search.chosen is None:
        return [
            tested(
                id,
                part,
                how.format(budget=budget),
                None,
                key,
                True,
                value=value,
                confidence=confidence,
                evidence=evidence,
                search=search.as_dict(),
                why_not=f"none of the {len(search.edits)} edits changes at most "
                f"{100 * max_fraction:g}% of the activations: holds for none tried",
            )
        ]
    note = f"{search.describe()}; unedited agent: {search.baseline}"
    return [
        tested(
            id,
            part,
            how.format(budget=budget),
            search.test,
            key,
            True,
            value=value,
            confidence=confidence,
            evidence=evidence,
            note=note,
            search=search.as_dict(),
        )
    ]
