"""Running a policy in mazes: vector fields, batched rollouts, rollout records over thousands
of mazes and held-out evaluation,
each optionally under forward hooks (an intervention).

The room above the maze layer and the model: it imports both, and nothing imports it but
training and the analyses.
"""

from hooked_impala.policy.evaluation import evaluate, heldout_mazes, success_in_region
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

__all__ = [
    "PROCGEN_STEP_LIMIT",
    "Episode",
    "RolloutResult",
    "VectorField",
    "collect_records",
    "evaluate",
    "heldout_mazes",
    "load_records",
    "play",
    "rollout",
    "success_in_region",
    "vector_field",
    "vector_field_cells",
    "vector_fields",
]
