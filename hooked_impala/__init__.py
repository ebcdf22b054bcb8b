"""hooked-impala: mechanistic interpretability of the procgen maze policy network.

>>> from hooked_impala import load_pretrained
>>> model = load_pretrained("model_160022528")
>>> out, cache = model.run_with_cache(obs)
>>> cache["embedder.block2.res1.resadd_out"].shape

Rooms (docs/contributing.md has the map): the hook core and the model here;
``hooked_impala.interventions`` (interventions as named values); ``hooked_impala.maze``, the
procgen environment without any model; ``hooked_impala.policy``, running a model in mazes
(vector fields, rollouts, evaluation); ``hooked_impala.train``. The subpackages are imported
on demand, so the model works without procgen.

Importing the package keeps freed memory in the process for fast caching (see
``hooked_impala.runtime``; ``HOOKED_IMPALA_SYSTEM_MALLOC=1`` opts out).
"""

from hooked_impala.actions import Movement
from hooked_impala.activation_cache import ActivationCache, HookNameError
from hooked_impala.hooks import HookedRootModule, HookPoint
from hooked_impala.model import (
    HookedImpala,
    ImpalaConfig,
    ObservationError,
    PolicyOutput,
    movement_log_probs,
    movement_probs,
)
from hooked_impala.pretrained import (
    REGISTRY,
    CheckpointError,
    CheckpointUnavailableError,
    cache_dir,
    load_pretrained,
)
from hooked_impala.runtime import tune_allocator

tune_allocator()  # process-wide, so once, here: see hooked_impala.runtime

__all__ = [
    "REGISTRY",
    "ActivationCache",
    "CheckpointError",
    "CheckpointUnavailableError",
    "HookNameError",
    "HookPoint",
    "HookedImpala",
    "HookedRootModule",
    "ImpalaConfig",
    "Movement",
    "ObservationError",
    "PolicyOutput",
    "cache_dir",
    "load_pretrained",
    "movement_log_probs",
    "movement_probs",
]
