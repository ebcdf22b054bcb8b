"""Channel attribution: which channels of a layer push the decision, and which way?

A target metric ``output -> (N,)`` (default: at each maze's decision square, log P(move
toward the cheese) − log P(move toward the top-right corner)) is attributed to the channels
of any hook by three methods:

* gradient × activation, summed over each channel's positions;
* integrated gradients from a baseline (zeros, or the mean activation) along the straight
  path, with the completeness check reported (Σ attributions vs metric(x) − metric(baseline));
* ablation: replace one channel (zero, its mean over the inputs, or its value in another
  maze: resampling) and record the change in the metric.

Positive attribution = the channel pushes toward the cheese. Each method's ranking, their
agreement (Spearman correlation) and per-channel spatial maps are reported.

    python -m analyses.channel_attribution --layer embedder.block2.res1.resadd_out
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import get_args

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from analyses.core import cli as analyses_cli
from analyses.core.figures import square_cells
from analyses.core.inputs import DEFAULT_LAYER, Inputs, NotApplicable, maze_seeds, observations
from analyses.core.result import AnalysisResult, RunMetadata
from analyses.core.spec import Option, analysis
from analyses.measure.attribution import (
    Ablation,
    Baseline,
    Metric,
    ablation_effects,
    decision_metric,
    gradient_x_activation,
    integrated_gradients,
    metric_with_activation,
)
from hooked_impala import checks, cli
from hooked_impala.maze import decision_points
from hooked_impala.model import HookedImpala
from hooked_impala.stats import spearman


@dataclass(kw_only=True)
class ChannelAttributionResult(AnalysisResult):
    """Per-channel attributions of a metric at one layer.

    Attributes:
        grad_x_act, integrated_gradients: ``(N, C)`` per observation and channel.
        ablation: ``(N, C)`` metric change when the channel is ablated (``ablation_method``).
        maps: ``(C, H, W)`` mean gradient × activation per position.
        metric_values: ``(N,)`` the metric; ``baseline_metric_values``: at the IG baseline.
        completeness_error: |Σ IG − (metric − baseline metric)| / |metric − baseline metric|,
            over all observations together.
    """

    layer: str
    grad_x_act: torch.Tensor
    integrated_gradients: torch.Tensor
    ablation: torch.Tensor
    maps: torch.Tensor
    metric_values: torch.Tensor
    baseline_metric_values: torch.Tensor
    completeness_error: float

    def rankings(self) -> dict[str, list[int]]:
        """Channels by mean |attribution|, strongest first, per method (ablation by |effect|)."""
        methods = {
            "grad_x_act": self.grad_x_act,
            "integrated_gradients": self.integrated_gradients,
            "ablation": self.ablation,
        }
        return {
            name: values.mean(0).abs().argsort(descending=True).tolist()
            for name, values in methods.items()
        }

    def numbers(self) -> dict:
        means = {
            "grad_x_act": self.grad_x_act.mean(0),
            "integrated_gradients": self.integrated_gradients.mean(0),
            "ablation": -self.ablation.mean(0),
        }
        ranks = self.rankings()
        top = {name: r[:10] for name, r in ranks.items()}
        names = list(means)
        agreement = {
            f"{a} vs {b}": spearman(means[a].abs().numpy(), means[b].abs().numpy())
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        }
        top10_overlap = {
            f"{a} vs {b}": len(set(top[a]) & set(top[b]))
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        }
        ig = means["integrated_gradients"]
        return {
            "observations": int(self.metric_values.shape[0]),
            "mean_metric": float(self.metric_values.mean()),
            "top_channels": top,
            "toward_cheese": ig.argsort(descending=True)[:10].tolist(),
            "toward_top_right": ig.argsort()[:10].tolist(),
            "rank_agreement_spearman": agreement,
            "top10_overlap": top10_overlap,
            "integrated_gradients_completeness_error": self.completeness_error,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "grad_x_act": self.grad_x_act.numpy(),
            "integrated_gradients": self.integrated_gradients.numpy(),
            "ablation": self.ablation.numpy(),
            "maps": self.maps.numpy(),
            "metric_values": self.metric_values.numpy(),
        }

    def figures(self) -> dict[str, go.Figure]:
        channels = list(range(self.grad_x_act.shape[1]))
        bars = go.Figure()
        for name, values, sign in (
            ("grad × act", self.grad_x_act, 1),
            ("integrated gradients", self.integrated_gradients, 1),
            ("−ablation effect", self.ablation, -1),
        ):
            bars.add_trace(go.Bar(x=channels, y=(sign * values.mean(0)).tolist(), name=name))
        bars.update_layout(
            title=f"Channel attributions at {self.layer} (positive = toward the cheese)",
            xaxis_title="channel",
            yaxis_title="mean attribution",
            barmode="group",
            height=450,
        )
        top = self.rankings()["integrated_gradients"][:6]
        columns = 3  # two rows of three: each map large enough to read, and square
        rows = -(-len(top) // columns)
        maps = make_subplots(rows=rows, cols=columns, subplot_titles=[f"channel {c}" for c in top])
        limit = float(self.maps[top].abs().max()) or 1.0
        for i, c in enumerate(top):
            maps.add_trace(
                go.Heatmap(
                    z=self.maps[c].numpy(),
                    zmin=-limit,
                    zmax=limit,
                    colorscale="RdBu",
                    showscale=i == len(top) - 1,
                ),
                row=i // columns + 1,
                col=i % columns + 1,
            )
        maps.update_yaxes(autorange="reversed")
        square_cells(maps)
        maps.update_layout(
            title="Mean gradient × activation per position, top channels (image orientation)",
            height=300 * rows + 100,
            width=900,
        )
        return {"channel_attributions": bars, "spatial_maps": maps}

    def summary(self) -> str:
        n = self.numbers()
        lines = [
            f"Attribution of the decision metric (mean {n['mean_metric']:.3f}) at {self.layer} "
            f"over {n['observations']} decision squares"
        ]
        for name, top in n["top_channels"].items():
            lines.append(f"  top channels by {name}: {top}")
        lines.append(
            f"  toward the cheese (IG): {n['toward_cheese'][:5]}; "
            f"toward the top right: {n['toward_top_right'][:5]}"
        )
        lines.append(
            "  rank agreement (Spearman): "
            + ", ".join(
                f"{k} {'undefined' if v is None else f'{v:.2f}'}"
                for k, v in n["rank_agreement_spearman"].items()
            )
        )
        lines.append(
            "  integrated gradients completeness error: "
            f"{n['integrated_gradients_completeness_error']:.2%}"
        )
        return "\n".join(lines)


@analysis(
    question="Which channels push toward the cheese, which toward the top right?",
    select=list,  # the mazes: run() puts each on its decision square
    options=(
        Option("layer", "hook whose channels are attributed", kind=cli.hook_name),
        Option(
            "ig_steps",
            "integrated-gradients points (fewer: larger completeness error)",
            kind=cli.positive_int,
        ),
        Option("baseline", "integrated-gradients baseline", choices=get_args(Baseline)),
        Option("ablation", "what replaces an ablated channel", choices=get_args(Ablation)),
    ),
    quick={"ig_steps": 128},
)
def run(
    model: HookedImpala,
    inputs: Inputs,
    *,
    layer: str = DEFAULT_LAYER,
    metric: Metric | None = None,
    ig_steps: int = 256,
    baseline: Baseline = "zero",
    ablation: Ablation = "mean",
    seed: int = 0,
    progress: bool = False,
) -> ChannelAttributionResult:
    """Attribute ``metric`` to the channels of ``layer``.

    ``inputs``: observations or mazes. Without ``metric``, inputs must be mazes: each is put
    on its decision square and the default decision metric is used (mazes without one are
    skipped). ``metric(output) -> (N,)`` may be any function of the model's output.
    """
    ig_steps = checks.integer("ig_steps", ig_steps, minimum=1)
    if baseline not in get_args(Baseline):
        raise ValueError(f"baseline must be one of {get_args(Baseline)}, got {baseline!r}")
    if ablation not in get_args(Ablation):
        raise ValueError(f"ablation must be one of {get_args(Ablation)}, got {ablation!r}")
    seeds = maze_seeds(inputs)
    layer = model.resolve_hook_name(layer)
    metric_is_default = metric is None
    if metric is None:
        points = decision_points(inputs)
        if not points:
            raise NotApplicable(
                "none of the mazes has a decision square; pass mazes that do, or a metric"
            )
        inputs, metric = [p.maze for p in points], decision_metric(points)
    obs = observations(inputs).to(model.device)
    gxa_maps, activation = gradient_x_activation(model, obs, layer, metric)
    if activation.ndim != 4:
        raise ValueError(
            f"channel attribution needs a (N, C, H, W) layer; {layer!r} has shape "
            f"{tuple(activation.shape)}"
        )
    base = (
        torch.zeros_like(activation)
        if baseline == "zero"
        else activation.mean(0, keepdim=True).expand_as(activation)
    )
    ig = integrated_gradients(model, obs, layer, metric, activation, base, ig_steps)
    with torch.no_grad():
        values = metric_with_activation(model, obs, layer, activation, metric)
        base_values = metric_with_activation(model, obs, layer, base, metric)
    expected = (values - base_values).sum()
    error = float((ig.sum() - expected).abs() / expected.abs().clamp_min(1e-12))
    effects = ablation_effects(
        model,
        obs,
        layer,
        metric,
        activation,
        ablation,
        torch.Generator().manual_seed(seed),
        progress,
    )
    metric_kind = {"metric": "decision" if metric_is_default else "custom"}
    return ChannelAttributionResult(
        metadata=RunMetadata.of(
            "channel_attribution",
            model,
            seed=seed,
            hooks=(layer,),
            mazes=seeds,
            parameters=metric_kind,
        ),
        layer=layer,
        grad_x_act=gxa_maps.sum((2, 3)).detach().cpu(),
        integrated_gradients=ig.sum((2, 3)).detach().cpu(),
        ablation=effects,
        maps=gxa_maps.mean(0).detach().cpu(),
        metric_values=values.detach().cpu(),
        baseline_metric_values=base_values.detach().cpu(),
        completeness_error=error,
    )


if __name__ == "__main__":
    sys.exit(analyses_cli.main(run.analysis))
