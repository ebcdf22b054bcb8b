"""hooked-impala: mechanistic interpretability of the procgen maze policy network.

>>> from hooked_impala import load_pretrained
>>> model = load_pretrained("model_160022528")
>>> out, cache = model.run_with_cache(obs)
>>> cache["embedder.block2.res1.resadd_out"].shape

Rooms (docs/contributing.md has the map): the hook core and the model here;
``hooked_impala.interventions`` (interventions as named values); ``hooked_impala.maze``, the
procgen environment without any model; ``hooked_impala.policy``, running a model in mazes
(vector fields, rollouts, evaluation); ``hooked_impala.train``.

The names below are imported when first used (PEP 562), so ``import hooked_impala.maze``
does not import torch, and the model works without procgen.

Importing the package keeps freed memory in the process for fast caching (see
``hooked_impala.runtime``; ``HOOKED_IMPALA_SYSTEM_MALLOC=1`` opts out). That setting is a
``mallopt`` call without torch, so it still happens here, before torch allocates anything.
"""

import importlib
from typing import Any

from hooked_impala.runtime import tune_allocator

tune_allocator()  # process-wide, so once, here: see hooked_impala.runtime

#: Module of each name the package exports.
_EXPORTS = {
    "Movement": "hooked_impala.actions",
    "ActivationCache": "hooked_impala.activation_cache",
    "HookNameError": "hooked_impala.activation_cache",
    "HookedRootModule": "hooked_impala.hooks",
    "HookPoint": "hooked_impala.hooks",
    "HookedImpala": "hooked_impala.model",
    "ImpalaConfig": "hooked_impala.model",
    "ObservationError": "hooked_impala.model",
    "PolicyOutput": "hooked_impala.model",
    "movement_log_probs": "hooked_impala.model",
    "movement_probs": "hooked_impala.model",
    "REGISTRY": "hooked_impala.pretrained",
    "CheckpointError": "hooked_impala.pretrained",
    "CheckpointUnavailableError": "hooked_impala.pretrained",
    "cache_dir": "hooked_impala.pretrained",
    "load_pretrained": "hooked_impala.pretrained",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hooked_impala' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
