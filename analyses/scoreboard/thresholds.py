"""Every threshold a verdict uses, in one table (``thresholds.toml`` beside this module): the
value, whether it is in the prediction's own words, and why. A threshold that is *not* in
the prediction's words is a reading of ours, so each verdict that uses one also shows the
verdict across a range of it (its sensitivity line); ``docs/methods.md`` shows the table."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from importlib.resources import files


@dataclass(frozen=True)
class Threshold:
    """A threshold of one claim. ``in_the_prediction``: stated by the prediction; else
    ``why`` says how we read the prediction and ``sensitivity`` lists the values the verdict
    is also shown at."""

    key: str
    value: float
    in_the_prediction: bool
    why: str
    sensitivity: tuple[float, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)


def _table() -> dict[str, Threshold]:
    table = tomllib.loads(files(__package__).joinpath("thresholds.toml").read_text("utf-8"))
    return {
        key: Threshold(key, **{**row, "sensitivity": tuple(row.get("sensitivity", ()))})
        for key, row in table.items()
    }


THRESHOLDS: dict[str, Threshold] = _table()


def threshold(key: str) -> Threshold:
    return THRESHOLDS[key]
