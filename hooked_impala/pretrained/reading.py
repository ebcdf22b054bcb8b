"""Reading a checkpoint file: ``torch.load`` with ``weights_only=True``, the state dict in
any of the three formats, the widths read off its shapes, and its checks (keys, shapes,
finite values), each error naming the file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from hooked_impala.actions import NUM_ACTIONS
from hooked_impala.model import HookedImpala, ImpalaConfig
from hooked_impala.pretrained.registry import CheckpointError


def load_weights_only(path: Path, source: str | None = None) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a ``CheckpointError`` naming
    ``source`` (default: the path) says why not, without torch's advice to load arbitrary
    pickles with ``weights_only=False`` (which it gives even for a text file)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds on garbage: KeyError, RuntimeError, ...
        text = str(err)
        if found := re.search(r"Unsupported global: GLOBAL (\S+)", text):
            why = (
                f"holds objects other than plain tensors and containers (a pickled "
                f"{found[1]}), so it is not loaded: unpickling those could run any code"
            )
        else:
            lines = [ln.strip() for ln in text.splitlines() if "weights" not in ln.lower()]
            detail = next((ln for ln in lines if ln), "").split(". ")[0]  # 1st sentence
            if path.is_file() and path.stat().st_size == 0:
                detail = "the file is empty"
            why = (
                "cannot be read as a PyTorch checkpoint (truncated, or not a .pth file?): "
                f"{type(err).__name__}: {detail}"
            )
        raise CheckpointError(f"{source or path}: {why}") from None


def read_state_dict(path: Path, source: str | None = None) -> dict[str, torch.Tensor]:
    """The model state dict inside a checkpoint file, in any of the three formats; errors name
    ``source`` (default: the path)."""
    name = source or str(path)
    obj = load_weights_only(path, source)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: holds a {type(obj).__name__}, not a dict of tensors")
    for key in ("model_state_dict", "state_dict"):
        if key in obj:
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: the state dict is a {type(obj).__name__}, not a dict")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"{name}: no model state dict found; keys whose values are not tensors: "
            f"{not_tensors[:10]} (expected a state dict, or one under 'model_state_dict' "
            "or 'state_dict')"
        )
    return dict(obj)


def config_from_state_dict(state: Mapping[str, torch.Tensor], source: str) -> ImpalaConfig:
    """Read the widths off the weight shapes."""
    needed = [f"embedder.block{b}.conv.weight" for b in (1, 2, 3)]
    needed += ["embedder.fc.weight", "fc_policy.weight"]
    missing = [k for k in needed if k not in state]
    if missing:
        raise CheckpointError(
            f"{source}: not an IMPALA maze policy state dict; missing keys {missing} "
            f"(found {len(state)} keys, e.g. {list(state)[:5]})"
        )
    flat = [k for k in needed if state[k].ndim < 2]
    if flat:
        raise CheckpointError(f"{source}: {flat} should be weight matrices or kernels")
    # Widths may differ from the paper's; the 15 procgen actions may not: a head of another
    # size would load and fail only at the first forward, naming no file.
    num_actions = int(state["fc_policy.weight"].shape[0])
    if num_actions != NUM_ACTIONS:
        raise CheckpointError(
            f"{source}: fc_policy has {num_actions} actions; the maze policy has {NUM_ACTIONS}"
        )
    channels = tuple(int(state[k].shape[0]) for k in needed[:3])
    return ImpalaConfig(
        channels=channels,  # type: ignore[arg-type]
        fc_features=int(state["embedder.fc.weight"].shape[0]),
        num_actions=num_actions,
    )


def check_state_dict(state: Mapping[str, torch.Tensor], model: HookedImpala, source: str) -> None:
    """Raise ``CheckpointError`` listing every missing, unexpected or misshapen entry, or else
    every tensor holding NaN or infinite values."""
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        problems.append(f"missing keys: {missing}")
    if unexpected:
        problems.append(f"unexpected keys: {unexpected}")
    for key, tensor in state.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            problems.append(
                f"{key}: shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}"
            )
    if problems:
        raise CheckpointError(f"{source}: does not fit {model.cfg}:\n  " + "\n  ".join(problems))
    broken = [
        f"{key} ({int((~torch.isfinite(t)).sum())} of {t.numel()} values)"
        for key, t in state.items()
        if t.is_floating_point() and not torch.isfinite(t).all()
    ]
    if broken:  # such weights load and run, giving NaN logits and silently wrong results
        shown = ", ".join(broken[:5]) + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        raise CheckpointError(f"{source}: weights hold NaN or infinite values: {shown}")
