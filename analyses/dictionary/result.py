"""The result of the dictionary analysis: numbers, figures, summary and the per-latent
pages (see :mod:`analyses.dictionary`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyses.core.result import AnalysisResult
from analyses.dictionary.fidelity import CONDITIONS


def _text(saved: dict | None, fmt: str = ".3g") -> str:
    """An Estimate saved with ``as_dict()``, as text."""
    if saved is None:
        return "n/a"
    low, high = saved["ci95"]
    return (
        f"{saved['value']:{fmt}} (95% CI {low:{fmt}}–{high:{fmt}}; n = {saved['n']} "
        f"{saved['unit']})"
    )


def short(hook: str) -> str:
    """``embedder.block2.res1.resadd_out`` -> ``block2.res1.resadd_out`` (file names)."""
    return hook.removeprefix("embedder.")


@dataclass(kw_only=True)
class DictionaryResult(AnalysisResult):
    """Sparse dictionaries at each hook: training, quality, fidelity, labels, steering.

    Attributes:
        split: the maze split (training / selection / test seeds and the split's seed).
        data: how the activations were gathered.
        per_hook: per hook, the dictionary's card (shape, training, curve, test quality),
            the decision-square KL and behaviour per condition, and the cheese tracking.
        steering: the steering comparison at the first hook (None if it had no targets).
        pages_html: per-latent pages by file name.
        per_maze_kl: per hook and condition, the KL of each test maze (arrays.npz).
    """

    split: dict[str, Any]
    data: dict[str, Any]
    per_hook: dict[str, dict[str, Any]]
    steering: dict[str, Any] | None
    pages_html: dict[str, str]
    per_target: dict[str, np.ndarray]

    def numbers(self) -> dict[str, Any]:
        split = {k: (len(v) if isinstance(v, list) else v) for k, v in self.split.items()}
        return {
            "split": split,
            "data": self.data,
            "hooks": self.per_hook,
            "steering": self.steering,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"split_{k}": np.array(v) for k, v in self.split.items() if isinstance(v, list)}
        return {**out, **self.per_target}

    def pages(self) -> dict[str, str]:
        return self.pages_html

    def figures(self) -> dict[str, go.Figure]:
        figs = {"training_curve": self.training_curve(), "fidelity": self.fidelity()}
        figs["cheese_tracking"] = self.cheese_tracking()
        if self.steering is not None:
            figs["steering"] = self.steering_figure()
        return figs

    def training_curve(self) -> go.Figure:
        fig = make_subplots(rows=1, cols=3, subplot_titles=("FVU (batch)", "L0", "dead fraction"))
        for hook, found in self.per_hook.items():
            curve = found["curve"]
            steps = [row["step"] for row in curve]
            for col, key in enumerate(("fvu", "l0", "dead_fraction"), start=1):
                fig.add_trace(
                    go.Scatter(
                        x=steps, y=[row[key] for row in curve], name=short(hook),
                        legendgroup=hook, showlegend=col == 1, mode="lines",
                    ),
                    row=1, col=col,
                )  # fmt: skip
        fig.update_xaxes(title_text="step")
        fig.update_yaxes(type="log", row=1, col=1)
        fig.update_layout(title="Training curves of the dictionaries", height=380)
        return fig

    def fidelity(self) -> go.Figure:
        """Mean KL at the decision square per hook and condition, with maze-level intervals."""
        fig = go.Figure()
        hooks = list(self.per_hook)
        for condition in CONDITIONS:
            values, low, high = [], [], []
            for hook in hooks:
                mean = self.per_hook[hook]["decision_kl"][condition]
                values.append(None if mean is None else mean["value"])
                low.append(0 if mean is None else mean["value"] - mean["ci95"][0])
                high.append(0 if mean is None else mean["ci95"][1] - mean["value"])
            fig.add_trace(
                go.Bar(
                    x=[short(h) for h in hooks], y=values, name=condition,
                    error_y={"type": "data", "array": high, "arrayminus": low},
                )
            )  # fmt: skip
        fig.update_layout(
            barmode="group",
            yaxis={"type": "log", "title": "KL(original ‖ edited), nats"},
            title="Spliced fidelity at the decision square (test mazes; 95% maze bootstrap)",
        )
        return fig

    def cheese_tracking(self) -> go.Figure:
        fig = go.Figure()
        hooks = list(self.per_hook)
        for which in ("latent", "channel"):
            rows = [self.per_hook[h]["cheese_tracking"][which] for h in hooks]
            fig.add_trace(
                go.Bar(
                    x=[short(h) for h in hooks],
                    y=[None if r is None else r["value"] for r in rows],
                    name=f"best {which}",
                    error_y={
                        "type": "data",
                        "array": [0 if r is None else r["ci95"][1] - r["value"] for r in rows],
                        "arrayminus": [0 if r is None else r["value"] - r["ci95"][0] for r in rows],
                    },
                )
            )
        fig.update_layout(
            barmode="group",
            yaxis={"title": "cheese score (squares below the cheese's)", "range": [0.5, 1]},
            title="Cheese tracking: best latent vs best channel (chosen on selection mazes, "
            "scored on test mazes)",
        )
        return fig

    def steering_figure(self) -> go.Figure:
        s = self.steering
        names = list(s["mean"])
        fig = go.Figure(
            go.Bar(
                x=names,
                y=[s["mean"][n]["value"] if s["mean"][n] else None for n in names],
                error_y={
                    "type": "data",
                    "array": [s["mean"][n]["ci95"][1] - s["mean"][n]["value"] for n in names],
                    "arrayminus": [s["mean"][n]["value"] - s["mean"][n]["ci95"][0] for n in names],
                },
            )
        )
        fig.update_layout(
            title=f"Retargeting at {short(s['hook'])}: normalised path probability to the "
            f"target ({s['targets']} targets in {s['mazes']} test mazes)",
            yaxis={"title": "mean normalised path probability", "range": [0, 1]},
        )
        return fig

    def summary(self) -> str:
        sp = self.split
        lines = [
            f"Sparse dictionaries on {self.data['mazes']} mazes ({len(sp['train'])} training, "
            f"{len(sp['selection'])} selection, {len(sp['test'])} test), "
            f"{self.data['per_maze']} observations per maze along the policy's trajectories",
        ]
        for hook, h in self.per_hook.items():
            q, sae = h["quality"], h["sae"]
            lines.append(
                f"  {hook}: size {sae['size']}, k {sae['k']}; test FVU {q['fvu']:.4f}, "
                f"L0 {q['l0']:.2f}, dead {q['dead_fraction']:.1%}, dense {q['dense_fraction']:.1%}"
            )
            kl = h["decision_kl"]
            lines.append(
                "    KL at the decision square: "
                + "; ".join(f"{c} {_text(kl[c])}" for c in CONDITIONS)
            )
            b = h["behaviour"]
            lines.append(
                "    cheese reached: "
                + "; ".join(
                    f"{c} {_text(b[c]['cheese'], '.2f')}" for c in ("original", *CONDITIONS)
                )
            )
            lines.append(
                "    top right reached: "
                + "; ".join(
                    f"{c} {_text(b[c]['top_right'], '.2f')}" for c in ("original", *CONDITIONS)
                )
            )
            t = h["cheese_tracking"]
            lines.append(
                f"    cheese score (test): best latent {t['best_latent']} "
                f"{_text(t['latent'], '.3f')}; best channel {t['best_channel_name']} "
                f"{_text(t['channel'], '.3f')}; latent − channel "
                f"{_text(t['latent_minus_channel'], '+.3f')}"
            )
            lines.append(
                f"    peak within a square of the cheese (test): latent "
                f"{_text(t['latent_located'], '.2f')}; channel {_text(t['channel_located'], '.2f')}"
            )
        if self.steering is not None:
            s = self.steering
            lines.append(
                f"  steering at {s['hook']} ({s['targets']} targets, {s['mazes']} test mazes): "
                + "; ".join(f"{n} {_text(v, '.3f')}" for n, v in s["mean"].items())
            )
            lines.append(
                "    latent − channel "
                + _text(s["latent_minus_channel"], "+.3f")
                + "; latent − top channels "
                + _text(s["latent_minus_channels"], "+.3f")
            )
        return "\n".join(lines)
