"""Incremental forward passes: many observations that differ from one reference image in a
small patch each (a maze with the mouse on every cell) cost much less than a full forward.

A 3x3 convolution changes its output only within one position of a changed input, a max-pool
(3, stride 2) within about half that, a ReLU or residual add nowhere else. So the network is
run once on a *reference* image and, for each observation, every spatial layer is recomputed
only inside a *window*: the box of positions its changed inputs can reach. Everything outside
the window is the reference's activation. Windows share one size per layer (the largest over
the batch), so a layer runs as one batched convolution over ``(N, C, h, w)`` windows, with
the inputs gathered from the reference and overlaid with the previous layer's windows. Once a
layer's windows cover more than ``max_window_fraction`` of its grid, the windows are written
into full activations and the rest of the network runs as usual. The numbers are those of a
full forward up to float rounding (a convolution over a window sums the same products).

Hooks: the reference and the full layers run through the model's own hook points, so every
attached hook fires there. In a windowed layer a hook must say how to act on a window: a hook
function with a ``window(activation, rows, cols, hook)`` method and ``positionwise = True``
(each position treated alone, every observation alike; the toolkit's interventions are such
hooks where that holds). At the first hook that cannot, the evaluator switches to full
activations just before it, so any hook sees a full tensor.

    out = incremental_forward(model, obs)   # obs (N, 64, 64, 3): same PolicyOutput as model(obs)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Int
from torch import nn

from hooked_impala.hooks import HookPoint
from hooked_impala.model import HookedImpala, PolicyOutput, to_model_input

#: Above this fraction of a layer's grid, windows cost more than the full layer (gather and
#: scatter overheads, smaller matrix products); measured on this CPU at s=1 and s=4.
MAX_WINDOW_FRACTION = 0.5

#: Observations × first-block channels above which ``incremental_pays``: s=1 from 128
#: observations, s=4 from 32.
INCREMENTAL_MIN_WORK = 2048


def window_of(
    tensor: torch.Tensor,
    rows: Int[torch.Tensor, "n h"],
    cols: Int[torch.Tensor, "n w"],
) -> torch.Tensor:
    """``(N, C, h, w)``: the window ``rows × cols`` of each observation out of a ``(C, H, W)``
    tensor shared by all (a vector to add, a replacement), or ``(N, C, H, W)`` per observation.
    Gathered as whole channel vectors (channels-last memory), which is several times faster
    than gathering each channel's values."""
    if tensor.ndim == 3:
        picked = tensor.permute(1, 2, 0)[rows[:, :, None], cols[:, None, :]]
    else:
        n = torch.arange(rows.shape[0], device=rows.device)[:, None, None]
        picked = tensor.permute(0, 2, 3, 1)[n, rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2)


def is_positionwise(fn: Callable) -> bool:
    """True for a hook that may run on windows (see the module docstring)."""
    return bool(getattr(fn, "positionwise", False)) and callable(getattr(fn, "window", None))


@dataclass
class _Windows:
    """A layer's activation for N observations: ``ref`` everywhere except, for observation
    i, the ``(h, w)`` box at ``off[i]`` (top-left, in the layer's grid) that holds
    ``values[i]``."""

    values: torch.Tensor  # (N, C, h, w)
    off: torch.Tensor  # (N, 2) long
    ref: torch.Tensor  # (C, H, W)

    @property
    def rows(self) -> torch.Tensor:
        return self.off[:, :1] + torch.arange(self.values.shape[2], device=self.off.device)

    @property
    def cols(self) -> torch.Tensor:
        return self.off[:, 1:] + torch.arange(self.values.shape[3], device=self.off.device)

    def region(self, off: torch.Tensor, size: tuple[int, int], pad: float) -> torch.Tensor:
        """``(N, C, size)``: the activation over the box at ``off`` (which may reach one
        position beyond the grid: filled with ``pad``) — the reference overlaid with the
        window, which must lie inside the box."""
        margin = 1
        ref = F.pad(self.ref, (margin,) * 4, value=pad)
        device = off.device
        rows = off[:, :1] + margin + torch.arange(size[0], device=device)
        cols = off[:, 1:] + margin + torch.arange(size[1], device=device)
        out = window_of(ref, rows, cols)  # (N, C, th, tw), channels-last memory
        rel = self.off - off
        n = torch.arange(len(off), device=device)[:, None, None]
        r = rel[:, :1, None] + torch.arange(self.values.shape[2], device=device)[None, :, None]
        c = rel[:, 1:, None] + torch.arange(self.values.shape[3], device=device)[None, None, :]
        out.permute(0, 2, 3, 1)[n, r, c] = self.values.permute(0, 2, 3, 1)
        return out

    def full(self) -> torch.Tensor:
        """``(N, C, H, W)``: every observation's whole activation."""
        zero = torch.zeros_like(self.off)
        return self.region(zero, tuple(self.ref.shape[1:]), 0.0)


def _reach(
    off: torch.Tensor, size: int, grid_in: int, grid_out: int, k: int, s: int, p: int
) -> tuple[torch.Tensor, int]:
    """One axis of a (k, stride s, padding p) layer: the output box (offsets, common size)
    that holds every output whose inputs meet the input box ``[off, off + size)``."""
    lo = torch.div(off + p - k + 1 + s - 1, s, rounding_mode="floor").clamp(min=0)
    hi = torch.div(off + size - 1 + p, s, rounding_mode="floor").clamp(max=grid_out - 1)
    length = int((hi - lo + 1).max())
    return lo.clamp(max=grid_out - length), length


@dataclass(frozen=True)
class _Spatial:
    """A convolution or max-pool with kernel k, stride s, padding p (both IMPALA's: p = 1)."""

    k: int
    s: int
    conv: nn.Conv2d | None = None  # None: max-pool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            return F.max_pool2d(x, self.k, self.s, padding=1)
        return self.conv(x)

    def windows(self, x: _Windows, max_fraction: float) -> _Windows | None:
        """The layer on windows, or None when its windows would exceed ``max_fraction``."""
        grid_in = x.ref.shape[1]
        grid_out = (grid_in + 2 - self.k) // self.s + 1
        (h, w) = x.values.shape[2:]
        r, h_out = _reach(x.off[:, 0], h, grid_in, grid_out, self.k, self.s, 1)
        c, w_out = _reach(x.off[:, 1], w, grid_in, grid_out, self.k, self.s, 1)
        if h_out * w_out > max_fraction * grid_out * grid_out:
            return None
        off = torch.stack([r, c], dim=1)
        span = (self.s * (h_out - 1) + self.k, self.s * (w_out - 1) + self.k)
        pad = 0.0 if self.conv is not None else float("-inf")
        patch = x.region(self.s * off - 1, span, pad)
        if self.conv is None:
            out = F.max_pool2d(patch, self.k, self.s)
        else:
            out = F.conv2d(patch, self.conv.weight, self.conv.bias, stride=self.s)
        return _Windows(out, off, ref=torch.empty(0))  # ref: set at the next hook


class _ReferenceDone(Exception):
    """The reference pass reached the first hook windows cannot pass."""


class _Evaluator:
    """Runs ``HookedImpala``'s forward on windows, then on full activations (see the module
    docstring); ``reference`` records the reference's activation at every hook."""

    def __init__(self, model: HookedImpala, max_fraction: float, stop_at: str | None) -> None:
        self.model = model
        self.max_fraction = max_fraction
        self.stop_at = stop_at  # the first hook a window cannot pass: full from there
        self.reference: dict[str, torch.Tensor] = {}
        self.windowed = False
        self.first_full: str | None = None  # where the windows ended (for profiles)
        self.window_sizes: dict[str, tuple[int, int]] = {}

    # --- hooks -----------------------------------------------------------------------------
    def hook(self, point: HookPoint, x):
        name = point.name
        if isinstance(x, _Windows):
            if name == self.stop_at:
                return self.hook(point, self.to_full(x, name))
            # A new value, never an edit of x: a residual block adds its input as it was.
            values = x.values
            for handle in list(point.fwd_hooks):
                out = handle.fn.window(values, x.rows, x.cols, hook=point)
                values = values if out is None else out
            self.window_sizes[name] = tuple(values.shape[2:])
            return _Windows(values, x.off, self.reference[name])
        if not self.windowed and name == self.stop_at:
            # Windows end here, so the reference is not needed further; its hooks may take
            # one value per observation, which a batch of one cannot run.
            raise _ReferenceDone
        out = point(x)
        if not self.windowed:
            self.reference[name] = out[0]
        return out

    def to_full(self, x, name: str) -> torch.Tensor:
        if isinstance(x, _Windows):
            self.first_full = self.first_full or name
            return x.full()
        return x

    # --- layers ----------------------------------------------------------------------------
    def spatial(self, layer: _Spatial, x, name: str):
        """The layer whose output hook is ``name``: on windows, or on full activations when
        the windows grew too large or that hook is where they must end (the windows of a
        layer's output know the reference only after its hook)."""
        with torch.profiler.record_function(name):  # per-layer times in a profile
            if isinstance(x, _Windows) and name != self.stop_at:
                out = layer.windows(x, self.max_fraction)
                if out is not None:
                    return out
            return layer(self.to_full(x, name))

    def relu(self, x):
        if isinstance(x, _Windows):
            return _Windows(F.relu(x.values), x.off, F.relu(x.ref))
        return F.relu(x)

    def residual(self, block, x):
        h = self.hook(block.relu1_in, x)
        h = self.hook(block.relu1_out, self.relu(h))
        h = self.spatial(_Spatial(3, 1, block.conv1), h, block.conv1_out.name)
        h = self.hook(block.conv1_out, h)
        h = self.hook(block.relu2_in, h)
        h = self.hook(block.relu2_out, self.relu(h))
        h = self.spatial(_Spatial(3, 1, block.conv2), h, block.conv2_out.name)
        h = self.hook(block.conv2_out, h)
        if isinstance(h, _Windows) and block.resadd_out.name != self.stop_at:
            # Then x is windows too: full never turns back.
            values = h.values + x.region(h.off, tuple(h.values.shape[2:]), 0.0)
            return self.hook(block.resadd_out, _Windows(values, h.off, h.ref))
        name = block.resadd_out.name
        return self.hook(block.resadd_out, self.to_full(h, name) + self.to_full(x, name))

    def impala_block(self, block, x):
        x = self.spatial(_Spatial(3, 1, block.conv), x, block.conv_out.name)
        x = self.hook(block.conv_out, x)
        x = self.spatial(_Spatial(3, 2), x, block.maxpool_out.name)
        x = self.hook(block.maxpool_out, x)
        return self.residual(block.res2, self.residual(block.res1, x))

    def forward(self, x) -> PolicyOutput:
        model, emb = self.model, self.model.embedder
        x = self.hook(model.input, x)
        for block in (emb.block1, emb.block2, emb.block3):
            x = self.impala_block(block, x)
        x = self.to_full(x, emb.relu3_in.name)
        x = emb.relu3_out(F.relu(emb.relu3_in(x)))
        x = emb.flatten_out(x.flatten(start_dim=1))
        x = emb.fc_out(emb.fc(x))
        hidden = emb.relufc_out(F.relu(emb.relufc_in(x)))
        logits = model.fc_policy_out(model.fc_policy(hidden))
        value = model.fc_value_out(model.fc_value(hidden))
        return PolicyOutput(logits, value.squeeze(-1))


def incremental_pays(model: HookedImpala, n: int) -> bool:
    """True when an incremental pass over ``n`` observations is expected to beat a full one:
    its fixed costs (a reference pass, gathers, a convolution call per window) need enough
    observations times channels (``benchmarks/bench_vector_field.py`` measures both)."""
    return n * model.cfg.channels[0] >= INCREMENTAL_MIN_WORK


Method = Literal["auto", "incremental", "full"]


def forward(model: HookedImpala, obs: torch.Tensor, method: Method = "auto") -> PolicyOutput:
    """``model(obs)`` (``"full"``) or ``incremental_forward(model, obs)``
    (``"incremental"``), for observations of one maze that differ in the mouse's cell;
    ``"auto"``: incremental when ``incremental_pays`` for this batch. Hooks attached to
    the model act either way."""
    if method not in ("auto", "incremental", "full"):
        raise ValueError(f"method must be 'auto', 'incremental' or 'full', got {method!r}")
    if method == "incremental" or (method == "auto" and incremental_pays(model, len(obs))):
        return incremental_forward(model, obs)
    return model(obs)


def _first_stop(model: HookedImpala) -> str | None:
    """The first hook (forward order) with a hook function that cannot run on windows; for
    a ReLU's output, its input (a ReLU removal stashes at one and returns at the other)."""
    for name, point in model.hook_dict.items():
        if not all(is_positionwise(handle.fn) for handle in point.fwd_hooks):
            if name.endswith("_out") and name.rsplit(".", 1)[-1].startswith("relu"):
                return name[: -len("_out")] + "_in"
            return name
    return None


def _changed_boxes(x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per observation of the model input ``x`` (N, 3, H, W), the first and last (row, col)
    of the pixels that differ from ``ref``: ``lo``, ``hi`` (N, 2); an unchanged image gets
    the box (0, 0)."""
    changed = (x != ref).any(dim=1)  # (N, H, W)
    los, his = [], []
    for axis in (2, 1):  # rows: any over columns; columns: any over rows
        hit = changed.any(dim=axis)
        grid = hit.shape[1]
        index = torch.arange(grid, device=x.device)
        los.append(torch.where(hit, index, grid).min(dim=1).values.clamp(max=grid - 1))
        his.append(torch.where(hit, index, -1).max(dim=1).values.clamp(min=0))
    lo, hi = torch.stack(los, dim=1), torch.stack(his, dim=1)
    return lo, torch.maximum(hi, lo)


def _input_windows(x: torch.Tensor, ref: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor):
    """Windows of the model input ``x`` (N, 3, H, W) holding each observation's box
    ``lo..hi`` (inclusive), all of the largest box's size."""
    grid = torch.tensor(x.shape[2:], device=x.device)
    size = (hi - lo + 1).max(dim=0).values
    off = torch.minimum(lo, grid - size)
    rows = off[:, :1] + torch.arange(int(size[0]), device=x.device)
    cols = off[:, 1:] + torch.arange(int(size[1]), device=x.device)
    return _Windows(window_of(x, rows, cols), off, ref)


def _run(
    model: HookedImpala,
    obs: torch.Tensor,
    reference: torch.Tensor | None,
    max_window_fraction: float,
) -> tuple[PolicyOutput, _Evaluator]:
    if not 0.0 <= max_window_fraction <= 1.0:
        raise ValueError(f"max_window_fraction must lie in [0, 1], got {max_window_fraction!r}")
    x = to_model_input(obs).to(device=model.device, dtype=model.fc_policy.weight.dtype)
    evaluator = _Evaluator(model, max_window_fraction, _first_stop(model))
    if len(x) == 0:  # no observation to differ from a reference: the full pass's empty output
        return model(x), evaluator
    if reference is None:
        # The per-value median: wherever most observations agree (everything but a mouse
        # patch), it is their common value, so each observation differs only in its patch.
        ref = x.median(dim=0).values
    else:
        ref = to_model_input(reference).to(x)
        if ref.shape[0] != 1:
            raise ValueError(f"reference must be one observation (1, ...), got {tuple(ref.shape)}")
        ref = ref[0]
    try:
        evaluator.forward(ref[None])
    except _ReferenceDone:
        pass
    evaluator.windowed = True
    # One window size for the whole batch: splitting it by size (a mouse near the border
    # reaches less of the grid) saved convolution work but cost as much in smaller batches.
    out = evaluator.forward(_input_windows(x, ref, *_changed_boxes(x, ref)))
    return out, evaluator


def incremental_forward(
    model: HookedImpala,
    obs: torch.Tensor,
    reference: torch.Tensor | None = None,
    max_window_fraction: float = MAX_WINDOW_FRACTION,
) -> PolicyOutput:
    """``model(obs)``, computed incrementally from a reference image (module docstring).

    Args:
        model: a ``HookedImpala``; hooks attached to it act as in ``model(obs)``.
        obs: ``(N, 64, 64, 3)`` uint8 or ``(N, 3, 64, 64)`` float observations that mostly
            agree (e.g. one maze with the mouse on different cells).
        reference: one observation ``(1, ...)`` they are compared with (default: their
            per-value median, which for a vector field is the maze without a mouse).
        max_window_fraction: a layer whose windows would cover more of its grid than this
            runs in full, and so does every layer after it.

    Returns:
        ``PolicyOutput``: logits ``(N, 15)``, value ``(N,)``; equal to ``model(obs)`` up to
        float rounding, whatever the reference (a poor one only costs time).
    """
    return _run(model, obs, reference, max_window_fraction)[0]


def window_fractions(
    model: HookedImpala,
    obs: torch.Tensor,
    reference: torch.Tensor | None = None,
    max_window_fraction: float = 1.0,
) -> dict[str, float]:
    """``{hook name: window area / grid area}`` for every hook computed on windows, forward
    order: how much of each layer an incremental pass recomputes (``max_window_fraction``
    1.0: windows all the way to the last spatial layer)."""
    with torch.no_grad():
        _, evaluator = _run(model, obs, reference, max_window_fraction)
    grids = {name: ref.shape[1:] for name, ref in evaluator.reference.items()}
    return {
        name: h * w / (grids[name][0] * grids[name][1])
        for name, (h, w) in evaluator.window_sizes.items()
    }
