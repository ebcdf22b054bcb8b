"""ReLU removal: how much of the policy survives when ReLUs become the identity?

Every ReLU of the network has a hook on its input (``…relu1_in``) and its output
(``…relu1_out``). Removing a ReLU = stash the input, return it at the output. This module
measures, over a set of observations, the effect of removing any subset on the movement
distribution: KL(original ‖ modified), agreement of the argmax movement, optionally
success in rollouts; and answers the usual questions: how good is the network with *all*
ReLUs removed; which single ReLU matters most; greedily, which ReLUs must be restored (in
what order) to get back within a tolerance; which observations change most.

With every ReLU removed the network is affine between max-pools (the three max-pools stay
nonlinear), e.g. affine from ``embedder.block3.maxpool_out`` to the logits.

    python -m analyses.relu_removal --tolerance 0.05
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from tqdm.auto import tqdm

from analyses.core.inputs import Inputs, at_most, every_open_cell, maze_seeds, observations
from analyses.core.result import AnalysisResult, RunMetadata
from analyses.core.spec import MAX_OBSERVATIONS, Option, analysis
from analyses.measure.relu import (
    kl_per_observation,
    movement_log_probs_without,
    starting_mazes,
    total_variation,
)
from hooked_impala import checks, cli
from hooked_impala.interventions import remove_relus
from hooked_impala.model import HookedImpala
from hooked_impala.policy import rollout


@dataclass(kw_only=True)
class ReluRemovalResult(AnalysisResult):
    """Effects of removing ReLUs.

    Attributes:
        relus: every ReLU name, forward order.
        all_removed_kl: ``(N,)`` KL per observation with every ReLU removed.
        all_removed_tv: ``(N,)`` total variation distance per observation, the same runs.
        all_removed_agreement: fraction of observations whose argmax movement survives.
        single_kl: ``{relu: mean KL}`` removing only that ReLU.
        restore_order: ReLUs restored greedily (from all removed), with the mean KL after
            each restoration, until within ``tolerance``.
        rollout_success: ``{"original": r, "all_removed": r}`` when rollouts were run.
    """

    relus: list[str]
    all_removed_kl: torch.Tensor
    all_removed_tv: torch.Tensor
    all_removed_agreement: float
    single_kl: dict[str, float]
    single_agreement: dict[str, float]
    restore_order: list[tuple[str, float]]
    tolerance: float
    rollout_success: dict[str, float] | None

    @property
    def restored_to_tolerance(self) -> int:
        """How many ReLUs the greedy restoration needed (len(relus) + 1 if it never got there)."""
        for i, (_, kl) in enumerate(self.restore_order):
            if kl <= self.tolerance:
                return i + 1
        return len(self.relus) + 1 if self.restore_order else 0

    def numbers(self) -> dict:
        ranked = sorted(self.single_kl.items(), key=lambda kv: -kv[1])
        out = {
            "relus": len(self.relus),
            "all_removed_mean_kl": float(self.all_removed_kl.mean()),
            "all_removed_median_kl": float(self.all_removed_kl.median()),
            "all_removed_mean_total_variation": float(self.all_removed_tv.mean()),
            "all_removed_argmax_agreement": self.all_removed_agreement,
            "most_important_single_relu": ranked[0][0],
            "single_relu_mean_kl": dict(ranked),
            "single_relu_argmax_agreement": self.single_agreement,
            "tolerance": self.tolerance,
            "restore_order": [{"relu": r, "mean_kl_after": kl} for r, kl in self.restore_order],
            "relus_restored_to_reach_tolerance": self.restored_to_tolerance,
            "most_changed_observations": self.all_removed_kl.argsort(descending=True)[:10].tolist(),
        }
        if self.rollout_success is not None:
            out["rollout_success"] = self.rollout_success
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "all_removed_kl": self.all_removed_kl.numpy(),
            "all_removed_tv": self.all_removed_tv.numpy(),
            "single_kl": np.array([self.single_kl[r] for r in self.relus]),
        }

    def figures(self) -> dict[str, go.Figure]:
        single = go.Figure(go.Bar(x=self.relus, y=[self.single_kl[r] for r in self.relus]))
        single.update_layout(
            title="Mean KL(original ‖ modified) when removing one ReLU",
            yaxis_title="mean KL (nats)",
            xaxis_tickangle=-45,
            height=480,
        )
        names = ["(all removed)"] + [r for r, _ in self.restore_order]
        kls = [float(self.all_removed_kl.mean())] + [kl for _, kl in self.restore_order]
        greedy = go.Figure(
            go.Scatter(
                x=list(range(len(names))),
                y=kls,
                mode="lines+markers",
                text=names,
                hovertemplate="%{text}<br>KL %{y:.4f}",
            )
        )
        greedy.add_hline(y=self.tolerance, line_dash="dash", annotation_text="tolerance")
        greedy.update_layout(
            title="Greedy restoration of ReLUs",
            xaxis_title="ReLUs restored",
            yaxis_title="mean KL (nats)",
            yaxis_type="log",
        )
        return {"single_relu_kl": single, "greedy_restoration": greedy}

    def summary(self) -> str:
        n = self.numbers()
        lines = [
            (
                f"{n['relus']} ReLUs; all removed: the movement distribution moves by a total "
                f"variation of {n['all_removed_mean_total_variation']:.2f} on average (0: "
                "unchanged, 1: no move in common), the argmax movement kept in "
                f"{n['all_removed_argmax_agreement']:.1%} of observations; KL(original ‖ "
                f"modified) median {n['all_removed_median_kl']:.3g} nats (its mean, "
                f"{n['all_removed_mean_kl']:.3g}, is set by the few observations whose modified "
                "log-probs collapse)"
            ),
            (
                f"  most important single ReLU: {n['most_important_single_relu']} "
                f"(mean KL {self.single_kl[n['most_important_single_relu']]:.4g})"
            ),
            f"  greedy restoration reached KL <= {self.tolerance} "
            f"after {n['relus_restored_to_reach_tolerance']} ReLUs: "
            + ", ".join(r for r, _ in self.restore_order[: n["relus_restored_to_reach_tolerance"]]),
        ]
        if self.rollout_success:
            lines.append(f"  rollout success: {self.rollout_success}")
        return "\n".join(lines)


@analysis(
    question="How much of the policy is linear once the ReLUs are gone?",
    select=every_open_cell,  # every state a policy can be in
    options=(
        Option(
            "tolerance",
            "mean KL (nats) the greedy restoration aims for",
            kind=cli.nonnegative,
        ),
        Option("rollouts", "also compare rollout success, original vs every ReLU removed"),
        MAX_OBSERVATIONS,
    ),
    quick={"max_observations": 96},
)
def run(
    model: HookedImpala,
    inputs: Inputs,
    *,
    tolerance: float = 0.05,
    relus: Sequence[str] | None = None,
    rollouts: bool = False,
    rollout_max_steps: int = 256,
    max_observations: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> ReluRemovalResult:
    """Remove all / each / greedily-restored ReLUs and measure the policy change on ``inputs``.

    ``relus``: the ReLUs considered (default all). ``rollouts``: also the rollout success of
    the original and the all-removed network on the distinct mazes among ``inputs``, from
    their spawn cells. ``max_observations``: measure on at most this many of the inputs, a
    uniform sample drawn with ``seed`` (the greedy search costs ~R²/2 forward passes over
    all observations for R ReLUs).
    """
    tolerance = checks.real("tolerance", tolerance, minimum=0.0)
    obs = at_most(observations(inputs).to(model.device), max_observations, seed)
    relus = list(remove_relus(model, relus).relus)
    reference = movement_log_probs_without(model, obs)

    def effect(removed: Iterable[str]) -> tuple[torch.Tensor, float, torch.Tensor]:
        """KL per observation, argmax agreement, the modified movement log-probs."""
        modified = movement_log_probs_without(model, obs, removed)
        agreement = float((modified.argmax(-1) == reference.argmax(-1)).float().mean())
        return kl_per_observation(reference, modified), agreement, modified

    all_kl, all_agreement, all_modified = effect(relus)
    all_tv = total_variation(reference, all_modified)  # reported for all removed only
    single_kl, single_agreement = {}, {}
    for relu in tqdm(relus, desc="single ReLUs", disable=not progress):
        kl, agreement, _ = effect([relu])
        single_kl[relu], single_agreement[relu] = float(kl.mean()), agreement
    removed, order = list(relus), []
    with tqdm(total=len(relus), desc="greedy restoration", disable=not progress) as bar:
        while removed:
            trials = {r: float(effect([x for x in removed if x != r])[0].mean()) for r in removed}
            best = min(trials, key=trials.get)
            removed.remove(best)
            order.append((best, trials[best]))
            bar.update(1)
            if trials[best] <= tolerance:
                break
    success = None
    if rollouts:
        rollout_mazes = starting_mazes(inputs)
        play = dict(max_steps=rollout_max_steps, seed=seed, progress=progress)
        success = {
            "original": rollout(model, rollout_mazes, **play).success_rate,
            "all_removed": rollout(
                model, rollout_mazes, fwd_hooks=remove_relus(model, relus).hooks(), **play
            ).success_rate,
        }
    hooks = tuple(f"{r}_{end}" for r in relus for end in ("in", "out"))
    seeds, used = maze_seeds(inputs), {"observations": len(obs)}
    return ReluRemovalResult(
        metadata=RunMetadata.of(
            "relu_removal", model, seed=seed, hooks=hooks, mazes=seeds, parameters=used
        ),
        relus=relus,
        all_removed_kl=all_kl.cpu(),
        all_removed_tv=all_tv.cpu(),
        all_removed_agreement=all_agreement,
        single_kl=single_kl,
        single_agreement=single_agreement,
        restore_order=order,
        tolerance=tolerance,
        rollout_success=success,
    )
