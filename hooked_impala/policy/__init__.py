"""Running a policy in mazes: vector fields, batched rollouts, rollout records over thousands
of mazes and held-out evaluation,
each optionally under forward hooks (an intervention).

The room above the maze layer and the model: it imports both, and nothing imports it but
training and the analyses.

The names of ``evaluation`` are imported when first used (PEP 562): ``python -m
hooked_impala.policy.evaluation`` then runs a module the package has not imported already
(runpy warns of "unpredictable behaviour" otherwise). The others are imported here: the
functions ``rollout`` and ``vector_field`` share their modules' names, and an attribute set by
importing the module would hide a lazily imported function.
"""

import importlib
from typing import Any

from hooked_impala.policy.records import collect_records, load_records
from hooked_impala.policy.rollout import (
    PROCGEN_STEP_LIMIT,
    Episode,
    RolloutResult,
    play,
    rollout,
)
from hooked_impala.policy.vector_field import (
    VectorField,
    vector_field,
    vector_field_cells,
    vector_fields,
)

_FROM_EVALUATION = ("evaluate", "success_in_region")

__all__ = [
    "PROCGEN_STEP_LIMIT",
    "Episode",
    "RolloutResult",
    "VectorField",
    "collect_records",
    "evaluate",
    "load_records",
    "play",
    "rollout",
    "success_in_region",
    "vector_field",
    "vector_field_cells",
    "vector_fields",
]


def __getattr__(name: str) -> Any:
    if name not in _FROM_EVALUATION:
        raise AttributeError(f"module 'hooked_impala.policy' has no attribute {name!r}")
    return getattr(importlib.import_module("hooked_impala.policy.evaluation"), name)
