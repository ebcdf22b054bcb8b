"""The result of the resampling analysis: numbers, arrays, figures and summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import torch

from analyses.core.result import AnalysisResult
from analyses.resample.compute import CONDITIONS, SourcePair, spread


def _percent(s: dict) -> str:
    if s["mean"] is None:
        return "n/a"
    low, high = s["ci95"]
    interval = "" if low is None else f" [{100 * low:.2f}, {100 * high:.2f}]"
    return f"{100 * s['mean']:.2f}%{interval}"


@dataclass(kw_only=True)
class ResampleResult(AnalysisResult):
    """Total-variation change of the action distribution when channel subsets are resampled.

    Attributes:
        channels: the chosen subset; ``channels_from``: "given" or how it was chosen.
        layer_channels: channels of the layer.
        subsets: every subset resampled, in the order of ``tv``'s second axis: the chosen
            subset, the random draws, every channel, then each chosen channel alone;
            ``kinds`` names each ("set", "random", "all", "single").
        tv, tv_moves: ``(2, G, N)`` [same, different] × subset × position, over the 15
            actions and over the 5 movements.
        maze_index: ``(N,)`` which pair each position belongs to; ``cells``: ``(N, 2)`` its
            mouse cell (row, col).
        pairs: the target and source mazes, one per target maze used.
        skipped: positions left out, by reason; ``positions_considered``: before skipping.
    """

    layer: str
    channels: tuple[int, ...]
    channels_from: str
    layer_channels: int
    subsets: list[tuple[int, ...]]
    kinds: list[str]
    tv: torch.Tensor
    tv_moves: torch.Tensor
    maze_index: torch.Tensor
    cells: torch.Tensor
    pairs: list[SourcePair] = field(repr=False)
    skipped: dict[str, int]
    positions_considered: int

    def group(self, kind: str) -> list[int]:
        """Indices of ``subsets`` of one kind."""
        return [g for g, k in enumerate(self.kinds) if k == kind]

    def group_labels(self) -> dict[str, str]:
        k, draws = len(self.channels), len(self.group("random"))
        named = "cheese channels" if self.channels_from != "given" else "chosen channels"
        labels = {"set": f"{named} {list(self.channels)}"}
        if draws:
            labels["random"] = f"random {k} ({draws} draws)"
        labels["all"] = f"all {self.layer_channels} channels"
        return labels

    def _entry(self, indices: list[int]) -> dict:
        clusters = self.maze_index.numpy()
        per_position = self.tv[:, indices].mean(1).numpy()  # (2, N), mean over draws
        moves = self.tv_moves[:, indices].mean(1).numpy()
        entry = {}
        for c, name in enumerate(CONDITIONS):
            entry[name] = spread(per_position[c], clusters, self.metadata.seed or 0)
            entry[name]["movements_mean"] = float(moves[c].mean()) if moves.shape[1] else None
        entry["different_minus_same"] = spread(
            per_position[1] - per_position[0], clusters, self.metadata.seed or 0
        )
        if len(indices) > 1:
            draw_means = self.tv[:, indices].mean(2).numpy()  # (2, draws)
            for c, name in enumerate(CONDITIONS):
                entry[name]["sd_across_draws"] = float(draw_means[c].std(ddof=1))
        return entry

    def numbers(self) -> dict:
        return {
            "layer": self.layer,
            "layer_channels": self.layer_channels,
            "channels": list(self.channels),
            "channels_from": self.channels_from,
            "positions": int(self.tv.shape[2]),
            "mazes": len(self.pairs),
            "positions_considered": self.positions_considered,
            "skipped": dict(self.skipped),
            "groups": {
                kind: {"label": label, **self._entry(self.group(kind))}
                for kind, label in self.group_labels().items()
            },
            "single_channels": {
                str(self.subsets[g][0]): self._entry([g]) for g in self.group("single")
            },
        }

    def arrays(self) -> dict[str, np.ndarray]:
        width = max(len(s) for s in self.subsets)
        padded = np.full((len(self.subsets), width), -1)
        for g, s in enumerate(self.subsets):
            padded[g, : len(s)] = s
        return {
            "tv": self.tv.numpy(),
            "tv_moves": self.tv_moves.numpy(),
            "maze_index": self.maze_index.numpy(),
            "cells": self.cells.numpy(),
            "subsets": padded,  # -1 pads the shorter subsets
            "kinds": np.array(self.kinds),
        }

    def _bars(self, entries: dict[str, dict], labels: list[str], title: str) -> go.Figure:
        fig = go.Figure()
        colours = {"same": "#d4a017", "different": "#1f4e79"}
        for condition in CONDITIONS:
            means = [100 * (e[condition]["mean"] or 0.0) for e in entries.values()]
            highs = [100 * (e[condition]["ci95"][1] or 0.0) for e in entries.values()]
            lows = [100 * (e[condition]["ci95"][0] or 0.0) for e in entries.values()]
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=means,
                    name=f"{condition} cheese cell",
                    marker_color=colours[condition],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [h - m for h, m in zip(highs, means)],
                        "arrayminus": [m - lo for m, lo in zip(means, lows)],
                    },
                )
            )
        fig.update_layout(
            title=title,
            yaxis_title="mean TV change of the action distribution (%)",
            barmode="group",
            height=450,
        )
        return fig

    def figures(self) -> dict[str, go.Figure]:
        n = self.numbers()
        where = f"at {self.layer}, {n['positions']} positions in {n['mazes']} mazes"
        groups = self._bars(
            n["groups"],
            [g["label"] for g in n["groups"].values()],
            f"Resampling channel subsets from another maze {where} (95% maze-bootstrap CI)",
        )
        singles = self._bars(
            n["single_channels"],
            [f"channel {c}" for c in n["single_channels"]],
            f"Resampling one channel {where}",
        )
        singles.update_xaxes(type="category")
        return {"groups": groups, "single_channels": singles}

    def summary(self) -> str:
        n = self.numbers()
        skipped = ", ".join(f"{v} {k}" for k, v in n["skipped"].items() if v) or "none"
        lines = [
            f"Resampling channels at {self.layer} ({self.layer_channels} channels) from another "
            "maze: mean TV change of the 15-action distribution [95% maze-bootstrap CI]",
            f"  {n['positions']} positions in {n['mazes']} mazes "
            f"({n['positions_considered']} considered; skipped: {skipped})",
            f"  {'subset':34s} {'same cheese cell':>24s} {'different cheese cell':>24s}"
            f" {'different - same':>24s}",
        ]
        rows = [(g["label"], g) for g in n["groups"].values()]
        rows += [(f"channel {c}", e) for c, e in n["single_channels"].items()]
        for label, e in rows:
            lines.append(
                f"  {label:34s} {_percent(e['same']):>24s} {_percent(e['different']):>24s}"
                f" {_percent(e['different_minus_same']):>24s}"
            )
        moves = "; ".join(
            f"{g['label']} {100 * g['same']['movements_mean']:.2f}% / "
            f"{100 * g['different']['movements_mean']:.2f}%"
            for g in n["groups"].values()
        )
        lines.append(f"  over the 5 movements (same / different): {moves}")
        return "\n".join(lines)
