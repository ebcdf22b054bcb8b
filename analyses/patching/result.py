"""The patching analysis' result: numbers, arrays and the three figures (layer x channel
heatmap of restored fraction, attribution vs exact per layer, faithfulness curve)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyses.core.result import AnalysisResult
from hooked_impala.patching import Circuit, PatchingResult


def _short(hook: str) -> str:
    return hook.removeprefix("embedder.")


@dataclass(frozen=True)
class SpatialMaps:
    """Per-square patching of a few channels of ``hook`` in one pair: ``maps`` ``(k, H, W)``
    fraction of that pair's gap restored by patching channel ``channels[i]`` at one square;
    ``observation`` ``(64, 64, 3)``: the pair's clean frame (maze seed ``maze``)."""

    hook: str
    channels: list[int]
    maze: int
    maps: np.ndarray
    observation: np.ndarray

    def figure(self) -> go.Figure:
        """Each map over the maze's frame: square ``(i, j)`` of the layer's ``H x W`` grid
        covers the frame's pixels ``64/H`` apart, row 0 at the top (as the layer's grid)."""
        k, height, width = self.maps.shape
        fig = make_subplots(rows=1, cols=k, subplot_titles=[f"channel {c}" for c in self.channels])
        limit = float(np.abs(self.maps).max()) or 1.0
        for n in range(k):
            fig.add_trace(go.Image(z=self.observation, hoverinfo="skip"), row=1, col=n + 1)
            fig.add_trace(
                go.Heatmap(
                    z=self.maps[n],
                    x0=32 / width - 0.5,
                    dx=64 / width,
                    y0=32 / height - 0.5,
                    dy=64 / height,
                    zmin=-limit,
                    zmax=limit,
                    colorscale="RdBu",
                    opacity=0.6,
                    showscale=n == 0,
                    colorbar={"title": "fraction"},
                    hovertemplate="square (%{y:.0f}, %{x:.0f}): %{z:.3f}<extra></extra>",
                ),
                row=1,
                col=n + 1,
            )
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False, scaleanchor="x")
        fig.update_layout(
            title=f"Where each channel of {_short(self.hook)} restores the decision: one "
            f"square patched at a time, maze seed {self.maze}",
            height=330,
        )
        return fig


@dataclass(kw_only=True)
class PatchingAnalysisResult(AnalysisResult):
    """Exact and attribution patching per channel, their agreement, and a minimal circuit.

    Attributes:
        exact, atp, atp_ig: the grids (``values`` ``(P, K)``) over the same components.
        agreement_atp, agreement_ig: per hook, Spearman and top-``top`` recall vs exact.
        seconds: wall time of each method over the whole grid (this machine, this run).
        circuit: the channels chosen on selection pairs, the curves on both sets.
        cheese_channels: the retarget analysis's cheese channels at the circuit's hook (chosen
            on its own selection mazes) and their overlap with the circuit against chance.
    """

    exact: PatchingResult
    atp: PatchingResult
    atp_ig: PatchingResult
    agreement_atp: dict
    agreement_ig: dict
    seconds: dict[str, float]
    circuit: Circuit
    cheese_channels: dict
    spatial: SpatialMaps
    top: int

    def matrix(self, result: PatchingResult) -> np.ndarray:
        """``(hooks, max channels)`` fraction per channel, NaN where a hook has fewer."""
        hooks = result.hooks
        rows = [result.select(h).fraction().numpy() for h in hooks]
        out = np.full((len(hooks), max(len(r) for r in rows)), np.nan)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    def top_channels(self, hook: str, n: int = 5) -> list[dict]:
        """The ``n`` channels of ``hook`` with the largest |exact fraction|, with intervals."""
        sub = self.exact.select(hook)
        fraction = sub.fraction()
        out = []
        for k in fraction.abs().argsort(descending=True)[:n].tolist():
            estimate = sub.estimate(k)
            out.append(
                {
                    "channel": sub.components[k].channel,
                    "fraction": float(fraction[k]),
                    "interval": None if estimate is None else [estimate.low, estimate.high],
                }
            )
        return out

    def numbers(self) -> dict:
        c = self.circuit
        test = c.test_estimate()
        exact_s = self.seconds["exact"]
        return {
            "pairs": len(set(self.exact.mazes)),
            "rows": len(self.exact.mazes),  # the pairs, or their cells with the field metric
            "metric": self.metadata.parameters.get("metric", "decision"),
            "mean_gap": self.exact.gap,
            "direction": self.exact.direction,
            "top_channels": {h: self.top_channels(h) for h in self.exact.hooks},
            "agreement_atp": self.agreement_atp,
            "agreement_integrated": self.agreement_ig,
            "seconds": self.seconds,
            "compute_ratio_exact_over": {k: exact_s / v for k, v in self.seconds.items() if v},
            "circuit": {
                "hook": c.hook,
                "threshold": c.threshold,
                "channels": None if c.channels is None else list(c.channels),
                "size": c.size,
                "of_channels": len(c.selection.order),
                "selection_curve": c.selection.fractions().tolist(),
                "test_curve": c.test.fractions().tolist(),
                "test_kept": None if test is None else test.value,
                "test_interval": None if test is None else [test.low, test.high],
                "test_pairs": len(set(c.test.mazes)),
                "cheese_channels": self.cheese_channels,
            },
            "spatial_maps": {
                "hook": self.spatial.hook,
                "channels": self.spatial.channels,
                "maze": self.spatial.maze,
                "peak": [float(np.abs(m).max()) for m in self.spatial.maps],
            },
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "exact_fraction": self.matrix(self.exact),
            "atp_fraction": self.matrix(self.atp),
            "atp_ig_fraction": self.matrix(self.atp_ig),
            "exact_values": self.exact.values.numpy(),
            "clean_metric": self.exact.clean.numpy(),
            "corrupted_metric": self.exact.corrupted.numpy(),
            "faithfulness_test": self.circuit.test.fractions().numpy(),
            "faithfulness_selection": self.circuit.selection.fractions().numpy(),
            "spatial_maps": self.spatial.maps,
        }

    def figures(self) -> dict[str, go.Figure]:
        m = self.matrix(self.exact)
        limit = float(np.nanmax(np.abs(m))) or 1.0
        heat = go.Figure(
            go.Heatmap(
                z=m,
                y=[_short(h) for h in self.exact.hooks],
                zmin=-limit,
                zmax=limit,
                colorscale="RdBu",
                colorbar={"title": "fraction"},
            )
        )
        heat.update_layout(
            title=f"Fraction of the gap restored per channel ({self.exact.direction}, "
            f"{len(set(self.exact.mazes))} pairs)",
            xaxis_title="channel",
            yaxis={"autorange": "reversed"},
            height=120 + 25 * len(self.exact.hooks),
        )
        scatter = go.Figure()
        for h in self.exact.hooks:
            x = self.exact.select(h).fraction().numpy()
            for name, result in (("AtP", self.atp), (self.atp_ig.method, self.atp_ig)):
                scatter.add_trace(
                    go.Scatter(
                        x=x,
                        y=result.select(h).fraction().numpy(),
                        mode="markers",
                        name=f"{_short(h)} {name}",
                        visible=True if name == "AtP" else "legendonly",
                    )
                )
        span = [float(np.nanmin(m)), float(np.nanmax(m))]
        scatter.add_trace(
            go.Scatter(x=span, y=span, mode="lines", name="y = x", line={"dash": "dot"})
        )
        scatter.update_layout(
            title="Attribution patching vs exact, per channel (fraction of the gap)",
            xaxis_title="exact",
            yaxis_title="estimate",
            height=500,
        )
        c = self.circuit
        sizes = list(range(len(c.selection.order) + 1))
        bounds = [c.test.estimate(n) for n in sizes]
        curve = go.Figure()
        curve.add_trace(
            go.Scatter(x=sizes, y=c.selection.fractions().numpy(), name="selection pairs")
        )
        curve.add_trace(
            go.Scatter(
                x=sizes,
                y=c.test.fractions().numpy(),
                name="test pairs (95% maze interval)",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [0 if b is None else b.high - b.value for b in bounds],
                    "arrayminus": [0 if b is None else b.value - b.low for b in bounds],
                },
            )
        )
        curve.add_hline(y=c.threshold, line_dash="dot")
        curve.update_layout(
            title=f"Faithfulness at {_short(c.hook)}: channels kept in attribution order, the "
            "rest mean-ablated",
            xaxis_title="channels kept",
            yaxis_title="fraction of the gap kept",
            height=450,
        )
        return {
            "patching_heatmap": heat,
            "atp_vs_exact": scatter,
            "faithfulness": curve,
            "spatial_maps": self.spatial.figure(),
        }

    def summary(self) -> str:
        n = self.numbers()
        lines = [
            f"Activation patching over {n['pairs']} pairs ({n['direction']}), mean gap "
            f"{n['mean_gap']:.3f} "
            + (
                "(log P(cheese move) - log P(top-right move))"
                if n["metric"] == "decision"
                else f"(log P(cheese-ward move) over {n['rows']} field cells)"
            )
        ]
        for h, top in n["top_channels"].items():
            best = ", ".join(f"{t['channel']} ({t['fraction']:+.2f})" for t in top[:3])
            a, g = self.agreement_atp[h], self.agreement_ig[h]
            rho = "undefined" if a["spearman"] is None else f"{a['spearman']:.2f}"
            lines.append(
                f"  {_short(h)}: top {best}; AtP Spearman {rho}, top-{self.top} recall "
                f"{a[f'top{self.top}_recall']:.2f} (integrated {g[f'top{self.top}_recall']:.2f})"
            )
        lines.append(
            "  compute (wall time) exact / "
            + ", ".join(f"{k}: {v:.1f}x" for k, v in n["compute_ratio_exact_over"].items())
        )
        c = n["circuit"]
        if c["size"] is None:
            lines.append(f"  circuit at {c['hook']}: no prefix keeps {c['threshold']:.0%}")
        else:
            lines.append(
                f"  circuit at {c['hook']}: {c['size']} of {c['of_channels']} channels "
                f"{c['channels']} keep {c['test_kept']:.2f} [{c['test_interval'][0]:.2f}, "
                f"{c['test_interval'][1]:.2f}] of the gap on {c['test_pairs']} test pairs"
            )
        cheese = self.cheese_channels
        lines.append(
            f"  the retarget analysis's cheese channels {cheese['channels']}: {cheese['count']} "
            f"in the circuit (chance {cheese['expected']:.1f}; P(at least that many) = "
            f"{cheese['p_at_least']:.2f})"
        )
        return "\n".join(lines)
