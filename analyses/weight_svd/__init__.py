"""Weight SVD: how many singular vectors of each layer does the policy need?

Every convolution (kernel as ``out × in·k·k``) and linear layer has a singular spectrum.
Truncating a layer to rank ``r`` keeps its ``r`` largest singular values. This analysis
truncates each layer alone, and all layers together (to the same fraction of each one's
full rank), and measures the change of the movement distribution on a set of observations
(mean KL(original ‖ truncated), argmax agreement); the smallest rank per layer that stays
within ``--tolerance``; and compares each spectrum's effective rank with the effective rank
of the Jacobians the ``jacobian_svd`` analysis reports at the cheese-vector layer.

    python -m analyses.weight_svd --tolerance 0.01
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from tqdm.auto import tqdm

from analyses.core.inputs import (
    DEFAULT_LAYER,
    Inputs,
    at_most,
    every_open_cell,
    maze_seeds,
    observations,
)
from analyses.core.result import AnalysisResult, RunMetadata
from analyses.core.spec import MAX_OBSERVATIONS, Option, analysis
from analyses.measure.jacobian import effective_rank, jacobians
from analyses.measure.relu import kl_per_observation, starting_mazes
from analyses.measure.weights import as_matrix, weight_layers
from hooked_impala import checks, cli
from hooked_impala.model import HookedImpala
from hooked_impala.policy import rollout
from hooked_impala.stats import rate_text

#: Fractions of every layer's full rank for the joint truncation.
JOINT_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0)


def truncated(weight: torch.Tensor, rank: int) -> torch.Tensor:
    """``weight`` with only its ``rank`` largest singular values (as a matrix, see
    ``as_matrix``), in its own shape. At or above full rank: ``weight`` itself, unchanged."""
    matrix = as_matrix(weight)
    if rank >= min(matrix.shape):
        return weight
    u, s, vh = torch.linalg.svd(matrix.double(), full_matrices=False)
    low = (u[:, :rank] * s[:rank]) @ vh[:rank]
    return low.to(weight.dtype).reshape(weight.shape)


def full_rank(layer: torch.nn.Module) -> int:
    return min(as_matrix(layer.weight).shape)


@contextlib.contextmanager
def truncated_weights(model: HookedImpala, ranks: Mapping[str, int]) -> Iterator[HookedImpala]:
    """The model with layers ``{module path: rank}`` truncated inside the ``with`` block; the
    original weights are back afterwards, also after an error."""
    layers = weight_layers(model)
    unknown = [name for name in ranks if name not in layers]
    if unknown:
        raise ValueError(f"unknown weight layers {unknown}; layers are: {list(layers)}")
    originals = {name: layers[name].weight.data for name in ranks}
    try:
        for name, rank in ranks.items():
            layers[name].weight.data = truncated(originals[name], rank)
        yield model
    finally:
        for name, weight in originals.items():
            layers[name].weight.data = weight


def joint_ranks(layers: Mapping[str, torch.nn.Module], fraction: float) -> dict[str, int]:
    """Every layer's rank at ``fraction`` of its full rank (rounded up: at least 1)."""
    return {name: int(np.ceil(fraction * full_rank(layer))) for name, layer in layers.items()}


def rank_grid(full: int) -> list[int]:
    """1, 2, 4, … below ``full``, and every eighth of ``full`` (rounded up), then ``full``:
    powers of two alone jump from half the rank to all of it, so "needs its full rank" would
    only mean "half is not enough"."""
    ranks, r = set(), 1
    while r < full:
        ranks.add(r)
        r *= 2
    ranks |= {-(-k * full // 8) for k in range(1, 8)}
    return sorted(ranks | {full})


@dataclass(kw_only=True)
class WeightSVDResult(AnalysisResult):
    """Singular spectra of the weight layers and the effect of truncating them.

    Attributes:
        spectra: ``{layer: (full rank,) singular values}``, largest first.
        single: ``{layer: [(rank, mean KL, argmax agreement), ...]}`` truncating that layer.
        joint: ``[(fraction, mean KL, argmax agreement), ...]`` truncating every layer to
            ``ceil(fraction × its full rank)``.
        tolerance: the mean KL (nats) a truncation may cost.
        jacobian_effective_rank: mean effective rank of the Jacobians of the movement
            log-probabilities w.r.t. ``jacobian_layer`` (``jacobian_svd``'s measure).
        rollout_success: ``{"original": Rate dict, "joint": Rate dict}`` when rollouts ran,
            the joint truncation at ``rollout_fraction``.
    """

    spectra: dict[str, np.ndarray]
    single: dict[str, list[tuple[int, float, float]]]
    joint: list[tuple[float, float, float]]
    tolerance: float
    jacobian_layer: str
    jacobian_effective_rank: float
    rollout_success: dict[str, dict] | None
    rollout_fraction: float | None

    def smallest_rank(self, layer: str) -> int:
        """The smallest tested rank of ``layer`` within the tolerance (its full rank at worst,
        which reproduces the model exactly)."""
        return min(r for r, kl, _ in self.single[layer] if kl <= self.tolerance)

    def smallest_joint_fraction(self) -> float:
        return min(f for f, kl, _ in self.joint if kl <= self.tolerance)

    def numbers(self) -> dict:
        out = {
            "tolerance": self.tolerance,
            "layers": {
                name: {
                    "full_rank": len(s),
                    "effective_rank": float(effective_rank(torch.from_numpy(s))),
                    "smallest_rank_within_tolerance": self.smallest_rank(name),
                    "top_singular_value": float(s[0]),
                }
                for name, s in self.spectra.items()
            },
            "single": {
                name: [{"rank": r, "mean_kl": kl, "agreement": a} for r, kl, a in rows]
                for name, rows in self.single.items()
            },
            "joint": [{"fraction": f, "mean_kl": kl, "agreement": a} for f, kl, a in self.joint],
            "smallest_joint_fraction_within_tolerance": self.smallest_joint_fraction(),
            "jacobian_layer": self.jacobian_layer,
            "jacobian_mean_effective_rank": self.jacobian_effective_rank,
        }
        if self.rollout_success is not None:
            out["rollout_success"] = self.rollout_success
            out["rollout_fraction"] = self.rollout_fraction
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"spectrum/{name}": s for name, s in self.spectra.items()}

    def figures(self) -> dict[str, go.Figure]:
        spectra = go.Figure()
        for name, s in self.spectra.items():
            spectra.add_trace(
                go.Scatter(x=np.arange(1, len(s) + 1) / len(s), y=s / s[0], mode="lines", name=name)
            )
        spectra.update_layout(
            title="Singular spectra of the weight layers (σ / σ₁)",
            xaxis_title="index / full rank",
            yaxis_title="σ / σ₁",
            yaxis_type="log",
            height=480,
        )
        names = list(self.single)
        needed = go.Figure(
            go.Bar(
                x=names,
                y=[self.smallest_rank(n) / len(self.spectra[n]) for n in names],
                text=[f"{self.smallest_rank(n)}/{len(self.spectra[n])}" for n in names],
                hovertemplate="%{x}<br>rank %{text}<extra></extra>",
            )
        )
        needed.update_layout(
            title=f"Smallest rank within mean KL ≤ {self.tolerance:g} (that layer alone)",
            yaxis_title="rank / full rank",
            xaxis_tickangle=-45,
            height=480,
        )
        joint = go.Figure(
            go.Scatter(
                x=[f for f, _, _ in self.joint],
                y=[kl for _, kl, _ in self.joint],
                mode="lines+markers",
                text=[f"agreement {a:.1%}" for _, _, a in self.joint],
            )
        )
        joint.add_hline(y=self.tolerance, line_dash="dash", annotation_text="tolerance")
        joint.update_layout(
            title="Every layer truncated to the same fraction of its rank",
            xaxis_title="fraction of each layer's full rank kept",
            yaxis_title="mean KL (nats)",
            yaxis_type="log",
        )
        return {"spectra": spectra, "smallest_rank": needed, "joint_truncation": joint}

    def summary(self) -> str:
        n = self.numbers()
        needed = ", ".join(
            f"{name.removeprefix('embedder.')} {v['smallest_rank_within_tolerance']}/"
            f"{v['full_rank']}"
            for name, v in n["layers"].items()
        )
        lines = [
            f"{len(self.spectra)} weight layers; smallest rank within mean KL ≤ "
            f"{self.tolerance:g}, one layer at a time: {needed}",
            f"  every layer together: {n['smallest_joint_fraction_within_tolerance']:.0%} of "
            "each layer's rank stays within the tolerance",
            f"  Jacobian mean effective rank at {self.jacobian_layer}: "
            f"{self.jacobian_effective_rank:.2f}",
        ]
        if self.rollout_success:
            original, joint = (rate_text(self.rollout_success[k]) for k in ("original", "joint"))
            lines.append(
                f"  rollouts, cheese reached: original {original}; every layer at "
                f"{self.rollout_fraction:.0%} of its rank {joint}"
            )
        return "\n".join(lines)


@analysis(
    question="How many singular vectors of each layer does the policy need?",
    select=every_open_cell,
    options=(
        Option("tolerance", "mean KL (nats) a truncation may cost", kind=cli.nonnegative),
        MAX_OBSERVATIONS,
        Option(
            "jacobian_observations",
            "observations for the Jacobian effective rank",
            kind=cli.positive_int,
        ),
        Option("rollouts", "also rollout success, original vs jointly truncated"),
    ),
    quick={"max_observations": 96, "jacobian_observations": 8},
)
def run(
    model: HookedImpala,
    inputs: Inputs,
    *,
    tolerance: float = 0.01,
    max_observations: int | None = None,
    jacobian_observations: int = 16,
    rollouts: bool = False,
    rollout_max_steps: int = 256,
    seed: int = 0,
    progress: bool = False,
) -> WeightSVDResult:
    """Spectra of every weight layer, and the movement distribution's change when layers are
    truncated (each alone at ranks 1, 2, 4, …, full; all together at ``JOINT_FRACTIONS``).

    ``max_observations``: measure on at most this many of the inputs (a seeded sample).
    ``jacobian_observations``: observations for the Jacobian effective rank.
    ``rollouts``: also the rollout success of the original and of every layer truncated to
    the smallest joint fraction within the tolerance, from the mazes' spawn cells.
    """
    tolerance = checks.real("tolerance", tolerance, minimum=0.0)
    checks.integer("jacobian_observations", jacobian_observations, minimum=1)
    obs = at_most(observations(inputs).to(model.device), max_observations, seed)
    layers = weight_layers(model)

    def effect(ranks: Mapping[str, int]) -> tuple[float, float]:
        with torch.no_grad(), truncated_weights(model, ranks):
            modified = model(obs).movement_log_probs
        kl = float(kl_per_observation(reference, modified).mean())
        return kl, float((modified.argmax(-1) == reference.argmax(-1)).float().mean())

    with torch.no_grad():
        reference = model(obs).movement_log_probs
        spectra = {
            name: torch.linalg.svdvals(as_matrix(layer.weight).double()).cpu().numpy()
            for name, layer in layers.items()
        }
    single = {}
    for name, layer in tqdm(layers.items(), desc="layers", disable=not progress):
        single[name] = [(r, *effect({name: r})) for r in rank_grid(full_rank(layer))]
    joint = [(f, *effect(joint_ranks(layers, f))) for f in JOINT_FRACTIONS]
    jacobian_layer = model.resolve_hook_name(DEFAULT_LAYER)
    J = jacobians(model, obs[:jacobian_observations], jacobian_layer)
    jacobian_rank = float(effective_rank(torch.linalg.svdvals(J)).mean())
    success, fraction = None, None
    if rollouts:
        fraction = min(f for f, kl, _ in joint if kl <= tolerance)
        ranks = joint_ranks(layers, fraction)
        mazes = starting_mazes(inputs)
        play = dict(max_steps=rollout_max_steps, seed=seed, progress=progress)
        original = rollout(model, mazes, **play).success
        with truncated_weights(model, ranks):
            low_rank = rollout(model, mazes, **play).success
        success = {"original": original.as_dict(), "joint": low_rank.as_dict()}
    seeds, used = maze_seeds(inputs), {"observations": len(obs)}
    return WeightSVDResult(
        metadata=RunMetadata.of(
            "weight_svd", model, seed=seed, hooks=(jacobian_layer,), mazes=seeds, parameters=used
        ),
        spectra=spectra,
        single=single,
        joint=joint,
        tolerance=tolerance,
        jacobian_layer=jacobian_layer,
        jacobian_effective_rank=jacobian_rank,
        rollout_success=success,
        rollout_fraction=fraction,
    )
