"""What patching patches: a :class:`Component` is a slice of one hook's activation (one
channel, one block of positions, or both), and grids build the usual lists of them.

For a spatial hook ``(N, C, H, W)``, ``channel`` picks one of C (None: all) and
``rows``/``cols`` a half-open block of positions (None: all). For a flat hook ``(N, F)``
(``embedder.fc_out``, ...) ``channel`` picks one feature and ``rows``/``cols`` must be None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import torch


class Granularity(StrEnum):
    """The three grids: per channel, per position block, per (channel x position block)."""

    CHANNEL = "channel"
    POSITION = "position"
    CHANNEL_POSITION = "channel_position"


@dataclass(frozen=True, order=True)
class Component:
    """One patchable slice of ``hook``'s activation (module docstring)."""

    hook: str
    channel: int | None = None
    rows: tuple[int, int] | None = None
    cols: tuple[int, int] | None = None

    def __str__(self) -> str:
        where = "" if self.rows is None else f" rows {self.rows} cols {self.cols}"
        what = "all channels" if self.channel is None else f"channel {self.channel}"
        return f"{self.hook} {what}{where}"

    def check(self, shape: Sequence[int]) -> None:
        """ValueError naming the problem if this component does not fit an activation of
        ``shape`` (without the batch)."""
        if len(shape) not in (1, 3):
            raise ValueError(
                f"{self.hook!r} has activations of shape {tuple(shape)}; patching "
                "takes (C, H, W) or (F,) hooks"
            )
        if self.channel is not None and not 0 <= self.channel < shape[0]:
            raise ValueError(f"{self}: channel out of range 0..{shape[0] - 1}")
        if len(shape) == 1 and (self.rows is not None or self.cols is not None):
            raise ValueError(f"{self}: {self.hook!r} is flat {tuple(shape)}; it has no positions")
        for axis, span in ((1, self.rows), (2, self.cols)):
            if span is not None and not 0 <= span[0] < span[1] <= shape[axis]:
                raise ValueError(f"{self}: block {span} outside 0..{shape[axis]}")


def _blocks(size: int, block: int) -> list[tuple[int, int]]:
    return [(start, min(start + block, size)) for start in range(0, size, block)]


def grid(
    hook: str, shape: Sequence[int], granularity: Granularity | str, block: int = 1
) -> list[Component]:
    """Every component of ``hook`` (activation ``shape`` without the batch) at a granularity;
    positions in ``block x block`` squares (the last ones smaller when ``block`` does not
    divide the side). Flat hooks have channels only."""
    granularity = Granularity(granularity)
    if block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    shape = tuple(shape)
    if len(shape) == 1:
        if granularity is not Granularity.CHANNEL:
            raise ValueError(f"{hook!r} is flat {shape}: only the channel grid applies")
        return [Component(hook, c) for c in range(shape[0])]
    if len(shape) != 3:
        raise ValueError(f"{hook!r} has activations of shape {shape}; expected (C, H, W) or (F,)")
    channels: list[int | None] = list(range(shape[0]))
    if granularity is Granularity.CHANNEL:
        return [Component(hook, c) for c in channels]
    squares = [(r, c) for r in _blocks(shape[1], block) for c in _blocks(shape[2], block)]
    if granularity is Granularity.POSITION:
        channels = [None]
    return [Component(hook, ch, r, c) for ch in channels for (r, c) in squares]


def masks(components: Sequence[Component], shape: Sequence[int], device=None) -> torch.Tensor:
    """``(K, *shape)`` bool: True where component k takes the patched value."""
    out = torch.zeros((len(components), *shape), dtype=torch.bool, device=device)
    for k, comp in enumerate(components):
        index: list[slice | int] = [k]
        index.append(slice(None) if comp.channel is None else comp.channel)
        if len(shape) == 3:
            index.append(slice(None) if comp.rows is None else slice(*comp.rows))
            index.append(slice(None) if comp.cols is None else slice(*comp.cols))
        out[tuple(index)] = True
    return out
