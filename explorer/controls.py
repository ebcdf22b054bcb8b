"""What the page's controls and stores send, checked. The browser holds the page's state and
sends every value back, so a callback may receive anything: an emptied box (None), ``"abc"``
in a number box, NaN, a tampered session. Each function here turns one value into what the
computation takes, or raises ``ValueError`` naming the control, which the page shows as a
message.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from analyses.maze_view import InterventionSettings
from explorer.edits import Session
from hooked_impala import checks
from hooked_impala.maze import Cell

#: The defaults of the controls the page fills in (the intervention's are its own).
DEFAULT_TOP = 8
MAX_TOP = 32
DEFAULT_MAX_STEPS = 128
ROLLOUT_KINDS = ("greedy", "sampled")
SHOWN_FIELDS = ("original", "intervened")


def number(control: str, value: Any, default: float) -> float:
    """A finite number; None (an emptied box) is ``default``."""
    return default if value is None else checks.real(control, value)


def integer(control: str, value: Any, default: int, minimum: int, maximum: int) -> int:
    """An integer within [minimum, maximum] (a number box may send 3.0); None is ``default``."""
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return checks.integer(control, value, minimum, maximum)


def choice(control: str, value: Any, options: Collection[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{control} must be one of {', '.join(options)}, got {value!r}")
    return value


def switch(control: str, value: Any) -> bool:
    """A one-option checklist: ``[]`` (or None) is off, ``["on"]`` on."""
    if value is None:
        return False
    if not isinstance(value, list) or any(v != "on" for v in value):
        raise ValueError(f"{control} must be [] or ['on'], got {value!r}")
    return bool(value)


def parse_channels(text: Any) -> tuple[int, ...]:
    """ "55, 42 7" -> (55, 42, 7); ValueError naming the bad entry."""
    if text is not None and not isinstance(text, str):
        raise ValueError(f"clamp channels must be text such as '55 42', got {text!r}")
    out = []
    for part in (text or "").replace(",", " ").split():
        if not part.isdigit():
            raise ValueError(f"channels are non-negative integers; {part!r} is not one")
        out.append(int(part))
    return tuple(out)


def cell(control: str, value: Any) -> Cell | None:
    """A ``[row, col]`` pair of integers, or None."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{control} must be a [row, col] cell, got {value!r}")
    return checks.integer(f"{control}'s row", value[0]), checks.integer(
        f"{control}'s col", value[1]
    )


def settings_from(
    layer: Any,
    cheese: Any,
    top_right: Any,
    channels: Any,
    value: Any,
    target: Any,
    relus: Any,
    layers: Collection[str] | None = None,
) -> InterventionSettings:
    """The intervention the controls describe; ``layers``: the layers the page offers (any
    text when None)."""
    default = InterventionSettings()
    if layer is None:
        layer = default.layer
    elif layers is not None:
        layer = choice("the layer", layer, layers)
    elif not isinstance(layer, str):
        raise ValueError(f"the layer must be a hook name, got {layer!r}")
    return InterventionSettings(
        layer=layer,
        cheese_coeff=number("the cheese vector coefficient", cheese, default.cheese_coeff),
        top_right_coeff=number("the top-right coefficient", top_right, default.top_right_coeff),
        clamp_channels=parse_channels(channels),
        clamp_value=number("the clamp value", value, default.clamp_value),
        clamp_cell=cell("the clamp target", target),
        remove_relus=switch("remove every ReLU", relus),
    )


def episode_from(data: Any) -> tuple[Session, list[Cell]]:
    """The page's stored episode: its session and the mouse's cells."""
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError(f"the stored episode must hold a session and cells, got {data!r}")
    cells = [cell("an episode's cell", c) for c in data["cells"]]
    if not cells or None in cells:
        raise ValueError("the stored episode holds no cells")
    return Session.from_json(data.get("session")), cells
