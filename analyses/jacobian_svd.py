"""Jacobian SVD: which directions of a layer (or of the input) most move the decision?

For each observation, the Jacobian of a chosen output (movement log-probs, logits or the
value) with respect to the activation at a hook point — or of one hook's activation with
respect to another's — computed with ``torch.func`` (``vmap`` over observations, ``jacrev``
over outputs; no Python loop over output rows). The activation is swapped in through a
forward hook, so the model's own forward pass is used end to end. Then an SVD of each
Jacobian: the singular-value spectrum, the effective rank and the top right-singular
vectors reshaped to the layer's (channel, height, width); optionally the Jacobians of all
observations stacked, for directions shared across mazes.

    python -m analyses.jacobian_svd --layer embedder.block2.res1.resadd_out \
--output movement_log_probs
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from analyses.core import cli as analyses_cli
from analyses.core.inputs import (
    DEFAULT_LAYER,
    Inputs,
    at_decision_squares,
    maze_seeds,
    observations,
)
from analyses.core.result import AnalysisResult, RunMetadata
from analyses.core.spec import Option, analysis
from analyses.measure.jacobian import OUTPUTS, Output, effective_rank, jacobians
from hooked_impala import checks, cli
from hooked_impala.model import HookedImpala


@dataclass(kw_only=True)
class JacobianSVDResult(AnalysisResult):
    """SVD of per-observation Jacobians.

    Attributes:
        singular_values: ``(N, k)`` per observation, descending (k = min(out, in)).
        top_vectors: ``(N, top_k, *layer_shape)`` right-singular vectors (unit norm).
        effective_rank: ``(N,)``.
        stacked_singular_values / stacked_top_vectors: the same for all Jacobians stacked
            (``(k,)`` and ``(top_k, *layer_shape)``), or None.
        layer_shape: the activation's (C, H, W) (or (D,)).
    """

    wrt: str
    output: str  # an output of the network, or the hook differentiated
    singular_values: torch.Tensor
    top_vectors: torch.Tensor
    effective_rank: torch.Tensor
    stacked_singular_values: torch.Tensor | None
    stacked_top_vectors: torch.Tensor | None
    layer_shape: tuple[int, ...]
    backgrounds: np.ndarray  # observations, for drawing vectors over mazes

    def numbers(self) -> dict:
        s = self.singular_values
        out = {
            "observations": int(s.shape[0]),
            "mean_singular_values": s.mean(0).tolist(),
            "mean_effective_rank": float(self.effective_rank.mean()),
            "top_singular_value_share": float((s[:, 0] / s.sum(1).clamp_min(1e-30)).mean()),
        }
        if self.stacked_singular_values is not None:
            ss = self.stacked_singular_values
            out["stacked_top10_singular_values"] = ss[:10].tolist()
            out["stacked_effective_rank"] = float(effective_rank(ss))
            if len(self.layer_shape) == 3:
                v = self.stacked_top_vectors[0]
                out["stacked_top_vector_top_channels"] = (
                    v.pow(2).sum((1, 2)).argsort(descending=True)[:10].tolist()
                )
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "singular_values": self.singular_values.numpy(),
            "top_vectors": self.top_vectors.numpy(),
            "effective_rank": self.effective_rank.numpy(),
        }
        if self.stacked_singular_values is not None:
            arrays["stacked_singular_values"] = self.stacked_singular_values.numpy()
            arrays["stacked_top_vectors"] = self.stacked_top_vectors.numpy()
        return arrays

    def figures(self) -> dict[str, go.Figure]:
        s = self.singular_values.numpy()
        spectrum = go.Figure()
        for i in range(min(len(s), 20)):
            spectrum.add_trace(
                go.Scatter(
                    y=s[i], mode="lines+markers", line={"width": 1}, name=f"obs {i}", opacity=0.6
                )
            )
        if self.stacked_singular_values is not None:
            ss = self.stacked_singular_values.numpy()
            spectrum.add_trace(
                go.Scatter(
                    y=ss[: s.shape[1] * 4] / math.sqrt(len(s)),
                    mode="lines",
                    line={"width": 3, "color": "black"},
                    name="stacked / sqrt(N)",
                )
            )
        spectrum.update_layout(
            title=f"Singular values of d {self.output} / d {self.wrt}",
            xaxis_title="index",
            yaxis_title="singular value",
            yaxis_type="log",
        )
        figs = {"spectrum": spectrum}
        if len(self.layer_shape) == 3:
            v = (
                self.stacked_top_vectors
                if self.stacked_top_vectors is not None
                else self.top_vectors[0]
            ).numpy()
            k = min(3, v.shape[0])
            fig = make_subplots(
                rows=1,
                cols=k + 1,
                subplot_titles=["maze (obs 0)"] + [f"|v{i + 1}| over channels" for i in range(k)],
            )
            fig.add_trace(go.Image(z=self.backgrounds[0]), row=1, col=1)
            for i in range(k):
                spatial = np.sqrt((v[i] ** 2).sum(0))
                fig.add_trace(
                    go.Heatmap(z=spatial[::-1], colorscale="Viridis", showscale=i == k - 1),
                    row=1,
                    col=i + 2,
                )
            fig.update_layout(
                title="Top right-singular vectors: spatial norm (image orientation)",
                height=360,
                width=320 * (k + 1),
            )
            figs["top_vectors"] = fig
        return figs

    def summary(self) -> str:
        n = self.numbers()
        lines = [
            f"Jacobian of {self.output} w.r.t. {self.wrt} over {n['observations']} observations",
            (
                f"  mean effective rank {n['mean_effective_rank']:.2f}; "
                f"top singular value carries {n['top_singular_value_share']:.1%} of the spectrum"
            ),
            (
                "  mean singular values: "
                f"{', '.join(f'{x:.3g}' for x in n['mean_singular_values'][:6])}"
            ),
        ]
        if "stacked_top_vector_top_channels" in n:
            lines.append(
                "  stacked top direction, strongest channels: "
                f"{n['stacked_top_vector_top_channels']}"
            )
        return "\n".join(lines)


@analysis(
    question="Which directions of the cheese-vector layer move the decision most?",
    select=at_decision_squares,
    options=(
        Option(
            "layer",
            "hook to differentiate with respect to ('input': the observation)",
            kind=cli.hook_name,
        ),
        Option("output", "what to differentiate", choices=OUTPUTS),
        Option(
            "of_hook",
            "differentiate this hook's activation instead of the output",
            kind=cli.hook_name,
        ),
        Option("top_k", "right-singular vectors kept per observation", kind=cli.positive_int),
        Option("stack", "also the SVD of all Jacobians stacked"),
    ),
)
def run(
    model: HookedImpala,
    inputs: Inputs,
    *,
    layer: str = DEFAULT_LAYER,
    output: Output = "movement_log_probs",
    of_hook: str | None = None,
    top_k: int = 3,
    stack: bool = True,
    seed: int | None = None,
    progress: bool = False,
) -> JacobianSVDResult:
    """Jacobians of ``output`` (or of ``of_hook``'s activation) w.r.t. the activation at hook
    ``layer`` at every observation, and their SVDs. ``layer="input"`` differentiates w.r.t.
    the observation. Deterministic: ``seed`` is accepted for the common signature only."""
    top_k = checks.integer("top_k", top_k, minimum=1)
    obs = observations(inputs).to(model.device)
    wrt = model.resolve_hook_name(layer)
    J = jacobians(model, obs, wrt, output, of_hook, progress=progress)
    with torch.no_grad():
        _, cache = model.run_with_cache(obs[:1], names_filter=[wrt])
    layer_shape = tuple(cache[wrt].shape[1:])
    _, S, Vh = torch.linalg.svd(J, full_matrices=False)
    k = min(top_k, S.shape[1])
    stacked_s = stacked_v = None
    if stack:
        _, stacked_s, stacked_vh = torch.linalg.svd(J.reshape(-1, J.shape[-1]), full_matrices=False)
        stacked_v = stacked_vh[:k].reshape(k, *layer_shape)
    hooks, seeds = (wrt, *([of_hook] if of_hook else [])), maze_seeds(inputs)
    return JacobianSVDResult(
        metadata=RunMetadata.of(
            "jacobian_svd",
            model,
            seed=seed,
            hooks=hooks,
            mazes=seeds,
            parameters={"output": of_hook or output},
        ),
        wrt=wrt,
        output=of_hook or output,
        singular_values=S,
        top_vectors=Vh[:, :k].reshape(len(obs), k, *layer_shape),
        effective_rank=effective_rank(S),
        stacked_singular_values=stacked_s,
        stacked_top_vectors=stacked_v,
        layer_shape=layer_shape,
        backgrounds=obs.cpu().numpy(),
    )


if __name__ == "__main__":
    sys.exit(analyses_cli.main(run.analysis))
