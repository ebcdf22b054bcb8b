"""The distances the ReLU-removal analysis reports, on distributions with known answers."""

from __future__ import annotations

import math

import torch

from analyses.measure.relu import kl_per_observation, total_variation


def log(*probs: float) -> torch.Tensor:
    return torch.tensor([probs]).clamp_min(1e-30).log()


def test_total_variation_is_half_the_l1_distance_and_stays_bounded() -> None:
    p = log(0.5, 0.5, 0.0, 0.0, 0.0)
    assert float(total_variation(p, p)) == 0.0
    assert math.isclose(float(total_variation(p, log(0.0, 0.5, 0.5, 0.0, 0.0))), 0.5)
    assert math.isclose(float(total_variation(p, log(0.0, 0.0, 0.0, 0.5, 0.5))), 1.0)
    # Where KL explodes (the modified distribution puts log-probs of -1e9 where p has mass),
    # the total variation is at most 1.
    collapsed = torch.tensor([[-1e9, -1e9, 0.0, -1e9, -1e9]])
    assert float(kl_per_observation(p, collapsed)) > 1e8
    assert math.isclose(float(total_variation(p, collapsed)), 1.0)
