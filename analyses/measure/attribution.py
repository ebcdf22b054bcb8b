"""Attribution of a decision metric to the channels of a layer: the decision metric itself,
gradients at a hook, gradient × activation, integrated gradients and ablation effects, and
the integrated-gradients ranking of channels that other analyses compare with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from tqdm.auto import tqdm

from analyses.core.inputs import DEFAULT_LAYER, NotApplicable, observations
from hooked_impala.interventions import (
    Ablation,
    ReplaceChannels,
    ablation_values,
    replace_activation,
)
from hooked_impala.maze import DecisionPoint, Maze, decision_points
from hooked_impala.model import HookedImpala, PolicyOutput

Baseline = Literal["zero", "mean"]
Metric = Callable[[PolicyOutput], torch.Tensor]


def decision_metric(points: Sequence[DecisionPoint]) -> Metric:
    """``output -> (N,)``: log P(cheese-ward move) − log P(top-right-ward move) per point."""
    cheese = torch.tensor([int(p.cheese_move) for p in points])
    top = torch.tensor([int(p.top_right_move) for p in points])

    def metric(output: PolicyOutput) -> torch.Tensor:
        log_probs = output.movement_log_probs
        rows = torch.arange(log_probs.shape[0], device=log_probs.device)
        device = log_probs.device
        return log_probs[rows, cheese.to(device)] - log_probs[rows, top.to(device)]

    return metric


def metric_with_activation(
    model: HookedImpala, obs: torch.Tensor, layer: str, activation: torch.Tensor, metric: Metric
) -> torch.Tensor:
    """``metric`` of the model's output with the activation at ``layer`` replaced."""
    return metric(
        model.run_with_hooks(obs, fwd_hooks=replace_activation(layer, activation).hooks())
    )


def gradient_at(model, obs, layer, metric, activation) -> torch.Tensor:
    """d Σ metric / d activation at ``layer`` (the model's parameters get no gradients)."""
    point = activation.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(
        metric_with_activation(model, obs, layer, point, metric).sum(), point
    )
    return grad


def gradient_x_activation(model, obs, layer, metric) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, C, H, W)`` gradient × activation maps, and the activation."""
    with torch.no_grad():
        _, cache = model.run_with_cache(obs, names_filter=[layer])
    activation = cache[layer]
    return gradient_at(model, obs, layer, metric, activation) * activation, activation


def integrated_gradients(
    model, obs, layer, metric, activation, baseline, steps: int
) -> torch.Tensor:
    """``(N, C, H, W)`` integrated gradients (midpoint Riemann sum over ``steps`` points)."""
    total = torch.zeros_like(activation)
    for k in range(steps):
        alpha = (k + 0.5) / steps
        total += gradient_at(model, obs, layer, metric, baseline + alpha * (activation - baseline))
    return (activation - baseline) * total / steps


def ablation_effects(
    model: HookedImpala,
    obs: torch.Tensor,
    layer: str,
    metric: Metric,
    activation: torch.Tensor,
    method: Ablation,
    generator: torch.Generator,
    progress: bool,
) -> torch.Tensor:
    """``(N, C)``: metric(ablated) − metric(original) for each channel ablated alone (one
    replacement drawn for all channels, so resampling compares like with like)."""
    with torch.no_grad():
        original = metric(model(obs))
        replacement = ablation_values(activation, method, generator)
        effects = torch.zeros(activation.shape[:2])
        for c in tqdm(range(activation.shape[1]), desc=f"{method} ablation", disable=not progress):
            ablate = ReplaceChannels(layer, (c,), replacement).hooks()
            effects[:, c] = (metric(model.run_with_hooks(obs, fwd_hooks=ablate)) - original).cpu()
    return effects


def integrated_gradient_ranking(
    model: HookedImpala, mazes: Sequence[Maze], *, ig_steps: int, layer: str = DEFAULT_LAYER
) -> list[int]:
    """Channels of ``layer`` by mean |integrated gradient| of the decision metric (zero
    baseline) at the mazes' decision squares, strongest first."""
    points = decision_points(mazes)
    if not points:
        raise NotApplicable("none of the mazes has a decision square")
    layer = model.resolve_hook_name(layer)
    obs = observations([p.maze for p in points]).to(model.device)
    metric = decision_metric(points)
    with torch.no_grad():
        _, cache = model.run_with_cache(obs, names_filter=[layer])
    activation = cache[layer]
    ig = integrated_gradients(
        model, obs, layer, metric, activation, torch.zeros_like(activation), ig_steps
    )
    return ig.sum((2, 3)).detach().cpu().mean(0).abs().argsort(descending=True).tolist()
