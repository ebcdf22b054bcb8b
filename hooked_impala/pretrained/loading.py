"""``load_pretrained``: a registry name, entry or path to a ``HookedImpala`` in eval mode,
with a record of where it came from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from hooked_impala import checks
from hooked_impala.model import HookedImpala
from hooked_impala.pretrained.download import download, sha256_of, verify_file
from hooked_impala.pretrained.reading import (
    check_state_dict,
    config_from_state_dict,
    read_state_dict,
)
from hooked_impala.pretrained.registry import (
    BUNDLED_DIR,
    REGISTRY,
    CheckpointError,
    CheckpointInfo,
    cache_dir,
    find_checkpoint_info,
)


def resolve_checkpoint(
    name_or_path: str | os.PathLike | CheckpointInfo,
    directory: Path | None = None,
    progress: bool = True,
) -> tuple[Path, CheckpointInfo | None]:
    """The local file for a registry name or entry (downloading it if needed) or a path."""
    if isinstance(name_or_path, CheckpointInfo):
        info: CheckpointInfo | None = name_or_path
    else:
        info = find_checkpoint_info(str(name_or_path))
    if info is None:
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path, None
        known = sorted({n for i in REGISTRY.values() for n in (i.name, *i.aliases)})
        raise FileNotFoundError(
            f"{str(name_or_path)!r} is neither a file nor a known checkpoint name. "
            f"Known names: {', '.join(known)}"
        )
    if info.bundled:
        path = BUNDLED_DIR / info.filename
        if not path.is_file():
            raise CheckpointError(
                f"{path}: the bundled checkpoint {info.name!r} is missing "
                "from the installed package"
            )
        verify_file(path, info)
        return path, info
    path = (directory or cache_dir()) / info.filename
    if path.is_file():
        verify_file(path, info)
    else:
        download(info, path.parent, progress=progress)  # verifies before renaming into place
    return path, info


@dataclass(frozen=True)
class CheckpointRecord:
    """Where a loaded model came from, for the metadata of analysis results."""

    name: str
    path: str
    sha256: str
    parent: str | None = None  # the checkpoint it was fine-tuned from, if the registry says


def load_pretrained(
    name_or_path: str | os.PathLike | CheckpointInfo,
    device: str | torch.device | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    dtype: torch.dtype | None = None,
) -> HookedImpala:
    """Load a checkpoint by registry name, path or ``CheckpointInfo`` into a ``HookedImpala``
    in eval mode.

    ``device``: where the weights go; None (the default, as TransformerLens) takes CUDA when
    it is available and the CPU otherwise (``default_device()``); MPS only when asked for.
    ``dtype``: the weights' dtype (default: the checkpoint's, float32); observations are
    converted to it in the forward pass. ``cache`` overrides the cache directory for named
    checkpoints. The returned model's ``checkpoint`` attribute records the name, file,
    sha256 and the registry parent (the checkpoint it was fine-tuned from).
    """
    device = default_device() if device is None else checks.device("device", device)
    path, info = resolve_checkpoint(name_or_path, Path(cache) if cache else None, progress)
    try:
        state = read_state_dict(path)
    except CheckpointError as err:  # e.g. an error page that older versions let into the cache
        if info is None or info.bundled:
            raise
        raise CheckpointError(f"{err}; delete the file to download it again") from None
    model = HookedImpala(config_from_state_dict(state, str(path)))
    check_state_dict(state, model, str(path))
    model.load_state_dict(state)
    model.checkpoint = CheckpointRecord(
        name=info.name if info else path.name,
        path=str(path),
        sha256=info.sha256 if info and info.sha256 else sha256_of(path),
        parent=info.parent if info else None,
    )
    return model.to(device=device, dtype=dtype).eval()


def default_device() -> torch.device:
    """CUDA when torch sees a GPU, else the CPU: where ``load_pretrained`` puts a model."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
