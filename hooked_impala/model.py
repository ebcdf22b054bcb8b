"""``HookedImpala``: the procgen maze policy of Langosco et al., with a hook at every step.

The network, top to bottom (``s`` = width scale; s=1: 16/32/32 channels, the paper's
checkpoint has s=4: 64/128/128)::

    obs uint8 (N, 64, 64, 3) ──/255, channels first──> input (N, 3, 64, 64)
    embedder.block{1,2,3}:   conv 3x3 ─> maxpool(3, stride 2, pad 1)
                             ─> res1 ─> res2   (res: relu → conv1 → relu → conv2 → + input)
    embedder: relu3 ─> flatten (C·H·W order) ─> fc (→ 256) ─> relufc
    fc_policy (→ 15 logits), fc_value (→ 1)

Module paths are those of the original checkpoints (``embedder.block2.res1.conv1``, ...), so
their state dicts load without renaming. Hook names are the paper's layer names, e.g.
``embedder.block2.res1.resadd_out`` (the cheese-vector layer). Every hook, with its shape:

| hook name                           | s = 1           | s = 4            |
| ----------------------------------- | --------------- | ---------------- |
| input                               | (N, 3, 64, 64)  | (N, 3, 64, 64)   |
| embedder.block1.conv_out            | (N, 16, 64, 64) | (N, 64, 64, 64)  |
| embedder.block1.maxpool_out         | (N, 16, 32, 32) | (N, 64, 32, 32)  |
| embedder.block1.res{1,2}.relu1_in   | (N, 16, 32, 32) | (N, 64, 32, 32)  |
| embedder.block1.res{1,2}.relu1_out  | (N, 16, 32, 32) | (N, 64, 32, 32)  |
| embedder.block1.res{1,2}.conv1_out  | (N, 16, 32, 32) | (N, 64, 32, 32)  |
| embedder.block1.res{1,2}.relu2_in   | (N, 16, 32, 32) | (N, 64, 32, 32)  |
| embedder.block1.res{1,2}.relu2_out  | (N, 16, 32, 32) | (N, 64, 32, 32)  |
| embedder.block1.res{1,2}.conv2_out  | (N, 16, 32, 32) | (N, 64, 32, 32)  |
| embedder.block1.res{1,2}.resadd_out | (N, 16, 32, 32) | (N, 64, 32, 32)  |
| embedder.block2.conv_out            | (N, 32, 32, 32) | (N, 128, 32, 32) |
| embedder.block2.maxpool_out         | (N, 32, 16, 16) | (N, 128, 16, 16) |
| embedder.block2.res{1,2}.*          | (N, 32, 16, 16) | (N, 128, 16, 16) |
| embedder.block3.conv_out            | (N, 32, 16, 16) | (N, 128, 16, 16) |
| embedder.block3.maxpool_out         | (N, 32, 8, 8)   | (N, 128, 8, 8)   |
| embedder.block3.res{1,2}.*          | (N, 32, 8, 8)   | (N, 128, 8, 8)   |
| embedder.relu3_in, relu3_out        | (N, 32, 8, 8)   | (N, 128, 8, 8)   |
| embedder.flatten_out                | (N, 2048)       | (N, 8192)        |
| embedder.fc_out                     | (N, 256)        | (N, 256)         |
| embedder.relufc_in, relufc_out      | (N, 256)        | (N, 256)         |
| fc_policy_out (alias ``logits``)    | (N, 15)         | (N, 15)          |
| fc_value_out (alias ``value``)      | (N, 1)          | (N, 1)           |


(``res{1,2}.*`` stands for the seven hooks listed for block 1.) Every ReLU has a hook on
its input and its output, so a ReLU can be removed by a hook: stash ``relu*_in`` and
return it at ``relu*_out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from jaxtyping import Float, UInt8
from torch import nn

from hooked_impala.actions import ACTIONS_OF_MOVEMENT, NUM_ACTIONS, Movement
from hooked_impala.hooks import HookedRootModule, HookPoint

IMAGE_SIZE = 64


@dataclass(frozen=True)
class ImpalaConfig:
    """Widths of the network. ``ImpalaConfig.from_scale(4)`` is the paper's checkpoint."""

    channels: tuple[int, int, int] = (16, 32, 32)
    fc_features: int = 256
    num_actions: int = NUM_ACTIONS

    @classmethod
    def from_scale(cls, scale: int) -> ImpalaConfig:
        if scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale!r}")
        return cls(channels=(16 * scale, 32 * scale, 32 * scale))

    @property
    def flat_features(self) -> int:
        """Features entering ``embedder.fc``: last block's channels × 8 × 8."""
        side = IMAGE_SIZE // 2**3
        return self.channels[-1] * side * side


def _grouping_matrix() -> torch.Tensor:
    matrix = torch.zeros(NUM_ACTIONS, len(Movement))
    for movement, actions in ACTIONS_OF_MOVEMENT.items():
        matrix[list(actions), movement] = 1.0
    return matrix


_GROUPING = _grouping_matrix()


def movement_probs(logits: Float[torch.Tensor, "*batch 15"]) -> Float[torch.Tensor, "*batch 5"]:
    """Probabilities of the five movements (columns in ``Movement`` order) from 15 logits."""
    probs = torch.softmax(logits, dim=-1)
    return probs @ _GROUPING.to(dtype=probs.dtype, device=probs.device)


def movement_log_probs(
    logits: Float[torch.Tensor, "*batch 15"],
) -> Float[torch.Tensor, "*batch 5"]:
    """Log-probabilities of the five movements, computed stably with logsumexp per group."""
    log_probs = torch.log_softmax(logits, dim=-1)
    groups = [log_probs[..., list(ACTIONS_OF_MOVEMENT[m])].logsumexp(-1) for m in Movement]
    return torch.stack(groups, dim=-1)


class PolicyOutput(NamedTuple):
    """What the network returns: 15 action logits and the value estimate."""

    logits: Float[torch.Tensor, "n 15"]
    value: Float[torch.Tensor, " n"]

    @property
    def log_probs(self) -> Float[torch.Tensor, "n 15"]:
        return torch.log_softmax(self.logits, dim=-1)

    @property
    def probs(self) -> Float[torch.Tensor, "n 15"]:
        return torch.softmax(self.logits, dim=-1)

    @property
    def movement_probs(self) -> Float[torch.Tensor, "n 5"]:
        """P(LEFT, DOWN, UP, RIGHT, NOOP), the 15 actions summed per movement."""
        return movement_probs(self.logits)

    @property
    def movement_log_probs(self) -> Float[torch.Tensor, "n 5"]:
        return movement_log_probs(self.logits)


class ObservationError(ValueError):
    """An observation of the wrong shape, dtype or range."""


# What the network takes. Its public entry points annotate the argument as a plain Tensor
# and check it in ``to_model_input``, whose errors name the fix (a missing batch dimension,
# channels last, a range) where a generic shape mismatch would not.
Observation = UInt8[torch.Tensor, "n 64 64 3"] | Float[torch.Tensor, "n 3 64 64"]


def _is_transformed(x: torch.Tensor) -> bool:
    """True inside torch.func transforms, where data-dependent checks cannot run."""
    return bool(torch._C._functorch.is_functorch_wrapped_tensor(x))


def to_model_input(obs: torch.Tensor) -> Float[torch.Tensor, "n 3 64 64"]:
    """The one observation conversion: procgen RGB uint8 ``(N, 64, 64, 3)`` → ``/255``,
    channels first, float32 ``(N, 3, 64, 64)``. Float input must already be
    ``(N, 3, 64, 64)`` in [0, 1] and passes through (as float32).
    """
    if not isinstance(obs, torch.Tensor):
        raise ObservationError(
            f"observations must be a torch.Tensor, got {type(obs).__name__}; "
            "use torch.from_numpy(obs) for procgen's numpy arrays"
        )
    expected = "uint8 (N, 64, 64, 3) as procgen renders it, or float (N, 3, 64, 64) in [0, 1]"
    shape = tuple(obs.shape)
    if obs.dtype == torch.uint8:
        if obs.ndim != 4 or shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            hint = " (add a batch dimension: obs[None])" if shape == (64, 64, 3) else ""
            raise ObservationError(
                f"got uint8 observations of shape {shape}{hint}; expected {expected}"
            )
        return obs.permute(0, 3, 1, 2).float().div(255.0)
    if obs.dtype.is_floating_point:
        if obs.ndim != 4 or shape[1:] != (3, IMAGE_SIZE, IMAGE_SIZE):
            hint = ""
            if shape[-3:] == (IMAGE_SIZE, IMAGE_SIZE, 3):
                hint = " (channels last: permute to (N, 3, 64, 64), or pass procgen's uint8)"
            elif shape == (3, 64, 64):
                hint = " (add a batch dimension: obs[None])"
            raise ObservationError(
                f"got {obs.dtype} observations of shape {shape}{hint}; expected {expected}"
            )
        obs = obs.float()
        if not _is_transformed(obs) and obs.numel():
            if not torch.isfinite(obs).all():  # NaN passes every comparison below
                bad = int((~torch.isfinite(obs)).sum())
                raise ObservationError(
                    f"float observations hold {bad} NaN or infinite values; expected values "
                    "in [0, 1]"
                )
            low, high = obs.min().item(), obs.max().item()
            if low < 0.0 or high > 1.0:
                raise ObservationError(
                    f"float observations must lie in [0, 1], got values in [{low:g}, {high:g}]"
                    " (divide RGB by 255, or pass procgen's uint8)"
                )
        return obs
    raise ObservationError(
        f"got observations of dtype {obs.dtype}, shape {shape}; expected {expected}"
    )


class ResidualBlock(nn.Module):
    """relu → conv1 → relu → conv2 → add the block's input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.relu1_in, self.relu1_out = HookPoint(), HookPoint()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv1_out = HookPoint()
        self.relu2_in, self.relu2_out = HookPoint(), HookPoint()
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2_out = HookPoint()
        self.resadd_out = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1_out(F.relu(self.relu1_in(x)))
        out = self.conv1_out(self.conv1(out))
        out = self.relu2_out(F.relu(self.relu2_in(out)))
        out = self.conv2_out(self.conv2(out))
        return self.resadd_out(out + x)


class ImpalaBlock(nn.Module):
    """conv 3x3 → maxpool(3, stride 2, pad 1) → res1 → res2; halves the spatial size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv_out = HookPoint()
        self.maxpool_out = HookPoint()
        self.res1 = ResidualBlock(out_channels)
        self.res2 = ResidualBlock(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_out(self.conv(x))
        x = self.maxpool_out(F.max_pool2d(x, kernel_size=3, stride=2, padding=1))
        return self.res2(self.res1(x))


class ImpalaEmbedder(nn.Module):
    """Three IMPALA blocks, then relu → flatten → fc → relu: the 256 features both heads read."""

    def __init__(self, cfg: ImpalaConfig) -> None:
        super().__init__()
        c1, c2, c3 = cfg.channels
        self.block1 = ImpalaBlock(3, c1)
        self.block2 = ImpalaBlock(c1, c2)
        self.block3 = ImpalaBlock(c2, c3)
        self.relu3_in, self.relu3_out = HookPoint(), HookPoint()
        self.flatten_out = HookPoint()
        self.fc = nn.Linear(cfg.flat_features, cfg.fc_features)
        self.fc_out = HookPoint()
        self.relufc_in, self.relufc_out = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(x)))
        x = self.relu3_out(F.relu(self.relu3_in(x)))
        x = self.flatten_out(x.flatten(start_dim=1))  # (C, H, W) order, as the original
        x = self.fc_out(self.fc(x))
        return self.relufc_out(F.relu(self.relufc_in(x)))


class HookedImpala(HookedRootModule):
    """The maze policy network with TransformerLens-style hooks (see the module docstring).

    ``model(obs)`` takes uint8 ``(N, 64, 64, 3)`` or float ``(N, 3, 64, 64)`` observations
    and returns a ``PolicyOutput(logits (N, 15), value (N,))``.
    """

    hook_aliases = {"logits": "fc_policy_out", "value": "fc_value_out"}

    def __init__(self, cfg: ImpalaConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or ImpalaConfig()
        self.input = HookPoint()
        self.embedder = ImpalaEmbedder(self.cfg)
        self.fc_policy = nn.Linear(self.cfg.fc_features, self.cfg.num_actions)
        self.fc_policy_out = HookPoint()
        self.fc_value = nn.Linear(self.cfg.fc_features, 1)
        self.fc_value_out = HookPoint()
        # Set by load_pretrained (a pretrained.CheckpointRecord): provenance for results.
        self.checkpoint = None
        self.setup()

    def forward(self, obs: torch.Tensor) -> PolicyOutput:
        """``obs``: an ``Observation``, uint8 ``(N, 64, 64, 3)`` or float ``(N, 3, 64, 64)``."""
        x = to_model_input(obs).to(self.fc_policy.weight.dtype)  # float64 models for checks
        hidden = self.embedder(self.input(x))
        logits = self.fc_policy_out(self.fc_policy(hidden))
        value = self.fc_value_out(self.fc_value(hidden))
        return PolicyOutput(logits, value.squeeze(-1))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def hook_shapes(self, batch: int = 1) -> dict[str, tuple[int, ...]]:
        """Every hook name with the shape of its activation for a batch of ``batch``."""
        if not isinstance(batch, int) or batch < 1:  # torch.zeros(-1) names no argument
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        with torch.no_grad():
            _, cache = self.run_with_cache(
                torch.zeros(batch, 3, IMAGE_SIZE, IMAGE_SIZE, device=self.device)
            )
        return {name: tuple(t.shape) for name, t in cache.items()}
