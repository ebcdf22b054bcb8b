"""Weight diff: what changed between two checkpoints of the same network, and how did the
behaviour change?

Compares the loaded model ("after", e.g. a fine-tuned checkpoint) with ``--before`` (by
default the checkpoint it was fine-tuned from, its registry ``parent``):

* per weight layer and per output channel, the relative change ‖ΔW‖ / ‖W‖ (a channel's
  kernel and bias together; a linear layer's output unit likewise);
* the most and least changed channels; whether the most changed channels of the conv that
  writes the cheese-vector layer (``embedder.block2.res1.conv2``, whose output channels are
  the residual stream's) are the cheese channels (the ``cheese_channels`` ranking) or the
  channels that matter most for the decision (``channel_attribution``'s integrated
  gradients), against the overlap chance alone would give;
* behaviour on the same levels, before and after: cheese reached, top-right 5×5 reached
  (informative levels only), mean steps, with 95% intervals; and both vector fields on the
  same mazes.

    python -m analyses.weight_diff --checkpoint standin_s1_avoid_cheese
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from analyses.core.inputs import Levels, at_decision_squares
from analyses.core.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.core.spec import Option, analysis
from analyses.measure.attribution import integrated_gradient_ranking
from analyses.measure.cheese_channels import score_channels
from analyses.measure.weights import as_matrix, weight_layers
from hooked_impala import checks, cli
from hooked_impala.maze import Maze, decision_square
from hooked_impala.model import HookedImpala
from hooked_impala.policy import VectorField, rollout, vector_field
from hooked_impala.pretrained import load_pretrained
from hooked_impala.stats import mean_with_interval, rate_text

#: The conv whose output channels are the cheese-vector layer's (residual stream) channels.
CHEESE_WRITER = "embedder.block2.res1.conv2"


def load_before(model: HookedImpala, before: str | HookedImpala | None) -> HookedImpala:
    """The reference model: ``before`` (a model, or a checkpoint's name or path, loaded onto
    ``model``'s device), or by default ``model``'s registry parent."""
    if isinstance(before, HookedImpala):
        other, before = before, CheckpointRef.of(before).name
    else:
        if before is None:
            record = model.checkpoint
            before = getattr(record, "parent", None)
            if before is None:
                name = record.name if record is not None else "this in-memory model"
                raise ValueError(
                    f"weight_diff compares two checkpoints, and {name} names no parent: pass "
                    "--before NAME_OR_PATH (e.g. --checkpoint standin_s1_avoid_cheese, whose "
                    "parent is standin_s1)"
                )
        other = load_pretrained(before, device=model.device, progress=False)
    mine, theirs = model.state_dict(), other.state_dict()
    for key in [*mine, *theirs]:
        if key not in mine or key not in theirs or mine[key].shape != theirs[key].shape:
            shapes = [tuple(d[key].shape) if key in d else "absent" for d in (theirs, mine)]
            raise ValueError(
                f"{before} and the loaded checkpoint differ in architecture: parameter {key!r} "
                f"is {shapes[0]} before and {shapes[1]} after"
            )
    return other


def _rows(layer: torch.nn.Module) -> torch.Tensor:
    """``(out, in·k·k + 1)``: each output channel's kernel and bias."""
    return torch.cat([as_matrix(layer.weight), layer.bias[:, None]], dim=1).detach().double()


def relative_changes(
    before: HookedImpala, after: HookedImpala
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """``({layer: ‖ΔW‖/‖W‖}, {layer: (out,) per-channel ‖ΔW_c‖/‖W_c‖})``, W = before's
    kernels and biases, forward order."""
    layers, channels = {}, {}
    after_layers = weight_layers(after)
    for name, layer in weight_layers(before).items():
        w, delta = _rows(layer), _rows(after_layers[name]) - _rows(layer)
        layers[name] = float(delta.norm() / w.norm().clamp_min(1e-30))
        channels[name] = (delta.norm(dim=1) / w.norm(dim=1).clamp_min(1e-30)).cpu().numpy()
    return layers, channels


def behaviour(model: HookedImpala, mazes, max_steps: int, seed: int, progress: bool) -> dict:
    """Cheese reached and top-right reached (informative levels) as rates; per episode, the
    mean steps, the share of steps the mouse stayed where it was (a move into a wall or a
    no-op) and the share of the maze's open cells it visited, as [mean, low, high]."""
    result = rollout(model, mazes, max_steps=max_steps, seed=seed, progress=progress)
    per_episode = {
        "mean_steps": [e.steps for e in result.episodes],
        "stayed_put": [
            np.mean([a == b for a, b in zip(e.cells[:-1], e.cells[1:])]) if e.steps else 0.0
            for e in result.episodes
        ],
        "cells_visited": [len(set(e.cells)) / len(e.maze.open_cells) for e in result.episodes],
    }
    out = {
        "cheese_reached": result.success.as_dict(),
        "top_right_reached": result.top_right_first.as_dict(),
    }
    for key, values in per_episode.items():
        mean = mean_with_interval(values, unit="episodes")
        out[key] = None if mean is None else [mean.value, mean.low, mean.high]
    return out


@dataclass(kw_only=True)
class WeightDiffResult(AnalysisResult):
    """Relative weight changes between two checkpoints, and their behaviour.

    Attributes:
        before: the reference checkpoint.
        layer_change: ``{layer: ‖ΔW‖/‖W‖}``; channel_change: ``{layer: (out,)}``.
        overlaps: ``{ranking: {"overlap": k, "top": t, "chance": t²/C, ...}}`` of the top
            ``t`` changed channels of ``CHEESE_WRITER`` with that ranking's top ``t``.
        behaviour: ``{"before"|"after": behaviour dict}``.
        fields: ``[(before, after) vector fields]`` on the same mazes.
    """

    before: CheckpointRef
    layer_change: dict[str, float]
    channel_change: dict[str, np.ndarray]
    overlaps: dict[str, dict]
    behaviour: dict[str, dict]
    fields: list[tuple[VectorField, VectorField]]
    top: int

    def ranked_channels(self, layer: str) -> list[int]:
        """Channels of ``layer`` that changed at all, most changed first."""
        change = self.channel_change[layer]
        return [int(c) for c in np.argsort(-change, kind="stable") if change[c] > 0]

    def numbers(self) -> dict:
        most = max(self.layer_change, key=self.layer_change.get)
        return {
            "before": self.before.name,
            "layer_relative_change": self.layer_change,
            "most_changed_layer": most,
            "least_changed_layer": min(self.layer_change, key=self.layer_change.get),
            "most_changed_channels": {
                name: self.ranked_channels(name)[: self.top] for name in self.channel_change
            },
            "least_changed_channels": {
                name: [int(c) for c in np.argsort(v, kind="stable")[: self.top]]
                for name, v in self.channel_change.items()
            },
            "cheese_writer": CHEESE_WRITER,
            "overlaps": self.overlaps,
            "behaviour": self.behaviour,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"channel_change/{name}": v for name, v in self.channel_change.items()}

    def figures(self) -> dict[str, go.Figure]:
        names = list(self.layer_change)
        layers = go.Figure(go.Bar(x=names, y=[self.layer_change[n] for n in names]))
        layers.update_layout(
            title=f"Relative weight change ‖ΔW‖/‖W‖ per layer ({self.before.name} → "
            f"{self.metadata.checkpoint.name})",
            yaxis_title="‖ΔW‖ / ‖W‖",
            xaxis_tickangle=-45,
            height=480,
        )
        strip = go.Figure()
        for name in names:
            change = self.channel_change[name]
            strip.add_trace(
                go.Box(
                    y=change,
                    name=name.removeprefix("embedder."),
                    boxpoints="all",
                    text=[f"channel {c}" for c in range(len(change))],
                    hovertemplate="%{text}: %{y:.4f}<extra></extra>",
                )
            )
        strip.update_layout(
            title="Relative change per output channel",
            yaxis_title="‖ΔW_c‖ / ‖W_c‖",
            showlegend=False,
            xaxis_tickangle=-45,
            height=480,
        )
        figs = {"layer_change": layers, "channel_change": strip}
        for k, (old, new) in enumerate(self.fields):
            figs[f"fields_{old.maze.seed}"] = _side_by_side(old, new)
            if k == 0:
                figs["fields"] = figs.pop(f"fields_{old.maze.seed}")
        return figs

    def summary(self) -> str:
        n = self.numbers()
        before, after = self.behaviour["before"], self.behaviour["after"]
        writer = self.ranked_channels(CHEESE_WRITER)[: self.top]
        lines = [
            f"{self.before.name} → {self.metadata.checkpoint.name}: most changed layer "
            f"{n['most_changed_layer']} ({self.layer_change[n['most_changed_layer']]:.3f}), "
            f"least {n['least_changed_layer']} ({self.layer_change[n['least_changed_layer']]:.3f})",
            f"  most changed channels of {CHEESE_WRITER}: {writer}",
        ]
        for ranking, o in self.overlaps.items():
            lines.append(
                f"  overlap with the top {o['top']} by {ranking}: {o['overlap']} "
                f"(chance {o['chance']:.2f}; P(≥ {o['overlap']} by chance) {o['p_value']:.2f})"
            )
        for key, label in (
            ("cheese_reached", "cheese reached"),
            ("top_right_reached", "top-right reached"),
        ):
            lines.append(f"  {label}: {rate_text(before[key])} → {rate_text(after[key])}")
        for key, label, fmt in (
            ("mean_steps", "mean steps", "{:.1f}"),
            ("stayed_put", "steps staying put", "{:.1%}"),
            ("cells_visited", "open cells visited", "{:.1%}"),
        ):
            if before.get(key) and after.get(key):
                old, new = (fmt.format(side[key][0]) for side in (before, after))
                lines.append(f"  {label} (mean per episode): {old} → {new}")
        return "\n".join(lines)


def _side_by_side(old: VectorField, new: VectorField) -> go.Figure:
    """Two vector fields of one maze next to each other."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[old.label, new.label])
    for col, field in ((1, old), (2, new)):
        for trace in field.figure().data:
            fig.add_trace(trace, row=1, col=col)
    size = old.maze.world_size
    axis = {"range": [-0.5, size - 0.5], "showgrid": False, "zeroline": False}
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_layout(title=f"Vector fields, seed {old.maze.seed}", height=520, showlegend=False)
    return fig


def _overlap(changed: list[int], ranking: list[int], top: int, channels: int) -> dict:
    """How many of the ``top`` most changed channels (only channels that changed at all)
    are among the ranking's ``top``, and how many chance would give (the hypergeometric
    mean: ``len(changed) · top / channels``)."""
    changed, ranked = changed[:top], ranking[:top]
    chosen = set(changed) & set(ranked)
    # P(overlap >= observed) when the changed channels are a random draw (hypergeometric).
    draws, hits = len(changed), len(ranked)
    tail = sum(
        math.comb(hits, k) * math.comb(channels - hits, draws - k)
        for k in range(len(chosen), min(draws, hits) + 1)
    ) / math.comb(channels, draws)
    return {
        "overlap": len(chosen),
        "channels": sorted(chosen),
        "top": top,
        "changed_top": changed,
        "chance": draws * hits / channels,
        "p_value": tail,
        "ranking_top": ranked,
    }


def representative(mazes: list[Maze], n: int) -> list[Maze]:
    """The ``n`` mazes to draw: with a decision square, size nearest the inputs' median (the
    first levels of a seed range include 3×3 mazes with a handful of arrows)."""
    median = float(np.median([m.maze_size for m in mazes])) if mazes else 0.0
    return sorted(
        mazes, key=lambda m: (decision_square(m) is None, abs(m.maze_size - median), m.seed)
    )[:n]


@analysis(
    question="What did fine-tuning change in the weights, and in the behaviour?",
    select=lambda mazes: mazes,  # not used: the analysis studies a range of levels
    options=(
        Option(
            "before",
            "reference checkpoint (registry name or path; default: the checkpoint's parent)",
            kind=str,
        ),
        Option("top", "most/least changed channels listed and compared", kind=cli.positive_int),
        Option("max_steps", "step limit of the rollouts", kind=cli.positive_int),
        Option("field_mazes", "mazes whose vector fields are drawn", kind=cli.integer(0)),
    ),
    levels=200,
    quick_levels=40,
    checkpoint="standin_s1_avoid_cheese",
)
def run(
    model: HookedImpala,
    inputs: Levels,
    *,
    before: str | HookedImpala | None = None,
    top: int = 8,
    max_steps: int = 256,
    field_mazes: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> WeightDiffResult:
    """Weight changes from ``before`` (default: the model's registry parent) to ``model``,
    and both models' behaviour on the levels of ``inputs``.

    Args:
        before: the reference: a registry name or path, or a loaded model.
        top: how many most/least changed channels to list and to compare with rankings.
        max_steps: step limit of the rollouts (sampled actions, the same seed for both).
        field_mazes: mazes whose vector fields are drawn side by side (the most typical ones:
            :func:`representative`).
    """
    if not isinstance(inputs, Levels):
        raise ValueError(f"weight_diff takes Levels (a range of seeds), got {type(inputs)}")
    top = checks.integer("top", top, minimum=1)
    checks.integer("max_steps", max_steps, minimum=1)
    checks.integer("field_mazes", field_mazes, minimum=0)
    old = load_before(model, before)
    layer_change, channel_change = relative_changes(old, model)
    mazes = list(inputs.mazes())
    before_ref = CheckpointRef.of(old)
    change = channel_change[CHEESE_WRITER]
    changed = [int(c) for c in np.argsort(-change, kind="stable") if change[c] > 0]
    # Rankings of the reference model: which channels *were* the cheese's, or decisive.
    rankings = {
        "cheese_channels": score_channels(old, mazes[:8], cells_per_maze=16, seed=seed).ranked(),
        "integrated_gradients": integrated_gradient_ranking(
            old, at_decision_squares(mazes[:16]), ig_steps=32
        ),
    }
    overlaps = {k: _overlap(changed, r, top, len(change)) for k, r in rankings.items()}
    play = {"max_steps": max_steps, "seed": seed, "progress": progress}
    behaviours = {"before": behaviour(old, mazes, **play), "after": behaviour(model, mazes, **play)}
    fields = [
        (
            vector_field(old, maze, label=f"{before_ref.name} (before)"),
            vector_field(model, maze, label=f"{CheckpointRef.of(model).name} (after)"),
        )
        for maze in representative(mazes, field_mazes)
    ]
    return WeightDiffResult(
        metadata=RunMetadata.of(
            "weight_diff",
            model,
            seed=seed,
            mazes=inputs.seeds,
            parameters={
                "before": before_ref.name,
                "before_sha256": before_ref.sha256,
                "levels": str(inputs),
            },
        ),
        before=before_ref,
        layer_change=layer_change,
        channel_change=channel_change,
        overlaps=overlaps,
        behaviour=behaviours,
        fields=fields,
        top=top,
    )
