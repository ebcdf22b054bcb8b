"""Running a policy in mazes: vector fields, batched rollouts, rollout records over thousands
of mazes and held-out evaluation,
each optionally under forward hooks (an intervention).

The room above the maze layer and the model: it imports both, and nothing imports it but
training and the analyses.

The names below are imported when first used (PEP 562): ``python -m
hooked_impala.policy.evaluation`` then runs a module the package has not imported already
(runpy warns of "unpredictable behaviour" otherwise).
"""

import importlib
from typing import Any

#: Module of each name the package exports.
_EXPORTS = {
    "evaluate": "hooked_impala.policy.evaluation",
    "heldout_mazes": "hooked_impala.policy.evaluation",
    "success_in_region": "hooked_impala.policy.evaluation",
    "collect_records": "hooked_impala.policy.records",
    "load_records": "hooked_impala.policy.records",
    "PROCGEN_STEP_LIMIT": "hooked_impala.policy.rollout",
    "Episode": "hooked_impala.policy.rollout",
    "RolloutResult": "hooked_impala.policy.rollout",
    "play": "hooked_impala.policy.rollout",
    "rollout": "hooked_impala.policy.rollout",
    "VectorField": "hooked_impala.policy.vector_field",
    "vector_field": "hooked_impala.policy.vector_field",
    "vector_field_cells": "hooked_impala.policy.vector_field",
    "vector_fields": "hooked_impala.policy.vector_field",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hooked_impala.policy' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
