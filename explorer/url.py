"""The explorer's state in its address, so that a link (or a reload) reopens the same view:
the checkpoint, the level, the edits made to it, the intervention and the shown field.

    ?level=3&mode=easy&checkpoint=standin_s1&edits=cheese.5.6~wall.3.4.m&cheese=-1&view=difference

``edits`` lists the edits oldest first (``mode.row.col``, ``.m`` when the margin could be
edited); only controls away from their defaults are written. A link is read back with the
same checks as the page's own values: a bad one is refused with a message naming the
parameter, and the page opens on its default state instead.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

from explorer.controls import settings_from
from explorer.edits import Session

#: Query key -> the control it sets (the intervention's, in ``INTERVENTION_INPUTS`` order).
CONTROLS = {
    "layer": "layer",
    "cheese": "cheese-coeff",
    "top_right": "top-right-coeff",
    "clamp": "clamp-channels",
    "clamp_value": "clamp-value",
    "target": "target",
    "relus": "relus",
}
VIEW = "view"
CHECKPOINT = "checkpoint"
KEYS = ("level", "mode", "edits", *CONTROLS, VIEW, CHECKPOINT)


def to_query(
    session: Session,
    values: Sequence[Any],
    view: str,
    defaults: Sequence[Any],
    checkpoint: str | None = None,
) -> str:
    """The address's query for ``session``, the intervention controls' ``values`` (in
    ``CONTROLS`` order; those equal to ``defaults`` left out), the shown ``view`` and the
    ``checkpoint`` shown."""
    query: dict[str, str] = {"level": str(session.seed), "mode": session.mode}
    if checkpoint is not None:
        query[CHECKPOINT] = checkpoint
    if session.edits:
        query["edits"] = "~".join(
            f"{mode}.{row}.{col}" + (".m" if margin else "")
            for mode, row, col, margin in session.edits
        )
    for key, value, default in zip(CONTROLS, values, defaults, strict=True):
        if value in (None, "", []) or value == default:
            continue
        if key == "target":
            query[key] = f"{value[0]}.{value[1]}"
        elif key == "relus":
            query[key] = "on"
        else:
            query[key] = str(value)
    if view != "original":
        query[VIEW] = view
    return "?" + urlencode(query)


def from_query(
    query: str,
    layers: Collection[str],
    views: Collection[str],
    checkpoints: Collection[str] = (),
) -> tuple[Session, dict[str, Any]] | None:
    """The session and control values (by control id, plus ``"view"`` and ``"checkpoint"``,
    one of ``checkpoints``) a query describes, or None for a query without a level;
    ValueError naming the parameter for a bad one."""
    raw = parse_qs(query.lstrip("?"), keep_blank_values=True, strict_parsing=False)
    if unknown := sorted(set(raw) - set(KEYS)):
        raise ValueError(f"the link has unknown parameters: {', '.join(unknown)}")
    if repeated := sorted(k for k, v in raw.items() if len(v) > 1):
        raise ValueError(f"the link repeats {', '.join(repeated)}")
    got = {k: v[0] for k, v in raw.items()}
    if "level" not in got:
        return None
    if not got["level"].isdigit():
        raise ValueError(f"the link's level must be a seed (0, 1, 2, ...), got {got['level']!r}")
    edits = []
    for text in filter(None, got.get("edits", "").split("~")):
        parts = text.split(".")
        margin = parts[-1] == "m"
        parts = parts[:-1] if margin else parts
        if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts[1:]):
            raise ValueError(f"the link's edit {text!r} is not mode.row.col")
        edits.append([parts[0], int(parts[1]), int(parts[2]), margin])
    session = Session.from_json(
        {"seed": int(got["level"]), "mode": got.get("mode", "easy"), "edits": edits}
    )
    values: dict[str, Any] = {}
    for key, control in CONTROLS.items():
        if key not in got:
            continue
        text = got[key]
        if key in ("cheese", "top_right", "clamp_value"):
            try:
                values[control] = float(text)
            except ValueError:
                raise ValueError(f"the link's {key} must be a number, got {text!r}") from None
        elif key == "target":
            row, _, col = text.partition(".")
            if not (row.isdigit() and col.isdigit()):
                raise ValueError(f"the link's target must be row.col, got {text!r}")
            values[control] = [int(row), int(col)]
        elif key == "relus":
            values[control] = ["on"] if text == "on" else []
        else:
            values[control] = text
    # The same checks as the page's own values: what the link sets must be a valid intervention.
    settings_from(*(values.get(c) for c in CONTROLS.values()), layers=layers)
    if VIEW in got:
        if got[VIEW] not in views:
            raise ValueError(f"the link's view must be one of {', '.join(views)}")
        values[VIEW] = got[VIEW]
    if CHECKPOINT in got:
        if got[CHECKPOINT] not in checkpoints:
            raise ValueError(
                f"the link's checkpoint {got[CHECKPOINT]!r} is not one this explorer offers "
                f"({', '.join(checkpoints)})"
            )
        values[CHECKPOINT] = got[CHECKPOINT]
    return session, values
