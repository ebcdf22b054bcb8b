"""Checkpoints: a small registry, a verified download cache, and ``load_pretrained``.

``load_pretrained(name_or_path)`` accepts a registry name (see ``REGISTRY``) or a path.
Named checkpoints live in the cache directory, ``$HOOKED_IMPALA_HOME`` if set, else the
platform cache directory (``~/.cache/hooked-impala`` on Linux), under their original file
names. A missing file is downloaded into ``.<name>.part`` there (locked, so a second process
waits for the first; a killed download's leftover is overwritten) and renamed into place only
after its size and sha256 check out, or, without a published checksum, after it loads as a
state dict, so the cache never holds a partial file or an error page.

Three file formats load, all with ``torch.load(..., weights_only=True)``:
``{"model_state_dict": ..., "optimizer_state_dict": ...}`` (the paper's checkpoint),
``{"state_dict": ...}`` (the scale-1 PPO agent) and a bare state dict. The widths are read
off the weight shapes.
"""

from hooked_impala.pretrained.download import download, sha256_of, verify_file
from hooked_impala.pretrained.loading import (
    CheckpointRecord,
    default_device,
    load_pretrained,
    resolve_checkpoint,
)
from hooked_impala.pretrained.reading import (
    check_state_dict,
    config_from_state_dict,
    load_weights_only,
    read_state_dict,
)
from hooked_impala.pretrained.registry import (
    BUNDLED_DIR,
    ENV_HOME,
    REGISTRY,
    CheckpointError,
    CheckpointInfo,
    CheckpointUnavailableError,
    available_checkpoints,
    cache_dir,
    find_checkpoint_info,
)

__all__ = [
    "BUNDLED_DIR",
    "ENV_HOME",
    "REGISTRY",
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointRecord",
    "CheckpointUnavailableError",
    "available_checkpoints",
    "cache_dir",
    "check_state_dict",
    "config_from_state_dict",
    "default_device",
    "download",
    "find_checkpoint_info",
    "load_pretrained",
    "load_weights_only",
    "read_state_dict",
    "resolve_checkpoint",
    "sha256_of",
    "verify_file",
]
