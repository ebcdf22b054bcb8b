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

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from analyses.common import AnalysisResult, Inputs, checkpoint_metadata, cli, observations
from hooked_impala.hooks import HookSpec
from hooked_impala.model import HookedImpala


def relu_names(model: HookedImpala) -> list[str]:
    """Every ReLU, named by its hook prefix (``embedder.block1.res1.relu1``), forward order."""
    return [name[: -len("_in")] for name in model.hook_dict if name.endswith("_in") and name.rsplit(".", 1)[-1].startswith("relu")]


def removal_hooks(model: HookedImpala, relus: Iterable[str]) -> list[HookSpec]:
    """Forward hooks that turn each named ReLU into the identity."""
    known = set(relu_names(model))
    hooks: list[HookSpec] = []
    for relu in relus:
        if relu not in known:
            raise ValueError(f"unknown ReLU {relu!r}; ReLUs are: {sorted(known)}")
        stash: dict[str, torch.Tensor] = {}

        def keep(a, hook, stash=stash):
            stash["pre"] = a

        def restore(a, hook, stash=stash):
            return stash.pop("pre")

        hooks += [(f"{relu}_in", keep), (f"{relu}_out", restore)]
    return hooks


def movement_log_probs(model: HookedImpala, obs: torch.Tensor, removed: Iterable[str] = ()) -> torch.Tensor:
    with torch.no_grad():
        return model.run_with_hooks(obs, fwd_hooks=removal_hooks(model, removed)).movement_log_probs


def kl_per_observation(reference: torch.Tensor, modified: torch.Tensor) -> torch.Tensor:
    """KL(reference ‖ modified) of the movement distributions, from log-probs, per row."""
    return (reference.exp() * (reference - modified)).sum(-1)


@dataclass
class ReluRemovalResult(AnalysisResult):
    """Effects of removing ReLUs.

    Attributes:
        relus: every ReLU name, forward order.
        all_removed_kl: ``(N,)`` KL per observation with every ReLU removed.
        all_removed_agreement: fraction of observations whose argmax movement survives.
        single_kl: ``{relu: mean KL}`` removing only that ReLU.
        restore_order: ReLUs restored greedily (from all removed), with the mean KL after
            each restoration, until within ``tolerance``.
        rollout_success: ``{"original": r, "all_removed": r}`` when rollouts were run.
    """

    relus: list[str] = None
    all_removed_kl: torch.Tensor = None
    all_removed_agreement: float = 0.0
    single_kl: dict[str, float] = None
    single_agreement: dict[str, float] = None
    restore_order: list[tuple[str, float]] = None
    tolerance: float = 0.0
    rollout_success: dict[str, float] | None = None

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
        return {"all_removed_kl": self.all_removed_kl.numpy(), "single_kl": np.array([self.single_kl[r] for r in self.relus])}

    def figures(self) -> dict:
        import plotly.graph_objects as go

        single = go.Figure(go.Bar(x=self.relus, y=[self.single_kl[r] for r in self.relus]))
        single.update_layout(title="Mean KL(original ‖ modified) when removing one ReLU", yaxis_title="mean KL (nats)", xaxis_tickangle=-45, height=480)
        names = ["(all removed)"] + [r for r, _ in self.restore_order]
        kls = [float(self.all_removed_kl.mean())] + [kl for _, kl in self.restore_order]
        greedy = go.Figure(go.Scatter(x=list(range(len(names))), y=kls, mode="lines+markers", text=names, hovertemplate="%{text}<br>KL %{y:.4f}"))
        greedy.add_hline(y=self.tolerance, line_dash="dash", annotation_text="tolerance")
        greedy.update_layout(title="Greedy restoration of ReLUs", xaxis_title="ReLUs restored", yaxis_title="mean KL (nats)", yaxis_type="log")
        return {"single_relu_kl": single, "greedy_restoration": greedy}

    def summary(self) -> str:
        n = self.numbers()
        lines = [
            f"{n['relus']} ReLUs; all removed: mean KL {n['all_removed_mean_kl']:.4g} nats (median {n['all_removed_median_kl']:.4g}), argmax movement kept in {n['all_removed_argmax_agreement']:.1%} of observations",
            f"  most important single ReLU: {n['most_important_single_relu']} (mean KL {self.single_kl[n['most_important_single_relu']]:.4g})",
            f"  greedy restoration reached KL <= {self.tolerance} after {n['relus_restored_to_reach_tolerance']} ReLUs: "
            + ", ".join(r for r, _ in self.restore_order[: n["relus_restored_to_reach_tolerance"]]),
        ]
        if self.rollout_success:
            lines.append(f"  rollout success: {self.rollout_success}")
        return "\n".join(lines)


def run(
    model: HookedImpala,
    inputs: Inputs,
    tolerance: float = 0.05,
    relus: Sequence[str] | None = None,
    rollout_mazes: Sequence | None = None,
    rollout_max_steps: int = 256,
    seed: int = 0,
    progress: bool = False,
) -> ReluRemovalResult:
    """Remove all / each / greedily-restored ReLUs and measure the policy change on ``inputs``.

    ``relus``: the ReLUs considered (default all). ``rollout_mazes``: if given, also the
    rollout success of the original and the all-removed network on those mazes.
    """
    obs = observations(inputs).to(model.device)
    relus = list(relus) if relus is not None else relu_names(model)
    reference = movement_log_probs(model, obs)

    def effect(removed: Iterable[str]) -> tuple[torch.Tensor, float]:
        modified = movement_log_probs(model, obs, removed)
        agreement = float((modified.argmax(-1) == reference.argmax(-1)).float().mean())
        return kl_per_observation(reference, modified), agreement

    all_kl, all_agreement = effect(relus)
    single_kl, single_agreement = {}, {}
    for relu in tqdm(relus, desc="single ReLUs", disable=not progress):
        kl, agreement = effect([relu])
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
    if rollout_mazes:
        from hooked_impala.maze.rollout import rollout

        mode = rollout_mazes[0].distribution_mode
        success = {
            "original": rollout(model, rollout_mazes, mode, max_steps=rollout_max_steps, seed=seed, progress=progress).success_rate,
            "all_removed": rollout(model, rollout_mazes, mode, max_steps=rollout_max_steps, seed=seed, fwd_hooks=removal_hooks(model, relus), progress=progress).success_rate,
        }
    return ReluRemovalResult(
        metadata={"analysis": "relu_removal", "checkpoint": checkpoint_metadata(model), "relus": relus, "tolerance": tolerance, "observations": len(obs), "seed": seed, "hooks": [f"{r}_{s}" for r in relus for s in ("in", "out")]},
        relus=relus,
        all_removed_kl=all_kl.cpu(),
        all_removed_agreement=all_agreement,
        single_kl=single_kl,
        single_agreement=single_agreement,
        restore_order=order,
        tolerance=tolerance,
        rollout_success=success,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tolerance", type=float, default=0.05, help="mean KL (nats) to restore to (default: %(default)s)")
    parser.add_argument("--rollouts", action="store_true", help="also compare rollout success (original vs all removed)")


def _run_from_args(model, mazes, args) -> ReluRemovalResult:
    from hooked_impala.maze.vector_field import vector_field_cells

    # Every open cell of every maze: the states a policy can be in.
    inputs = [m.with_mouse(c) for m in mazes for c in vector_field_cells(m)]
    return run(model, inputs, args.tolerance, rollout_mazes=mazes if args.rollouts else None, seed=args.seed, progress=True)


def main(argv: Sequence[str] | None = None) -> int:
    return cli("relu_removal", __doc__, _add_arguments, _run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())
