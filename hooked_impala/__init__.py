"""hooked-impala: mechanistic interpretability of the procgen maze policy network.

>>> from hooked_impala import load_pretrained
>>> model = load_pretrained("model_160022528")
>>> out, cache = model.run_with_cache(obs)
>>> cache["embedder.block2.res1.resadd_out"].shape

The maze environment layer is the subpackage ``hooked_impala.maze`` (imported on demand,
so the model works without procgen).
"""

from hooked_impala.actions import Movement, movement_log_probs, movement_probs
from hooked_impala.hooks import ActivationCache, HookedRootModule, HookNameError, HookPoint
from hooked_impala.model import HookedImpala, ImpalaConfig, ObservationError, PolicyOutput
from hooked_impala.pretrained import (
    REGISTRY,
    CheckpointError,
    CheckpointUnavailableError,
    cache_dir,
    load_pretrained,
)

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
