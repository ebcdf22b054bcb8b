"""Argument checks shared by the library and the command line: each returns the value
(converted) or raises ValueError naming the argument, the value and what is allowed.

``hooked_impala.cli`` turns the same checks into argparse types, so a script rejects a bad
flag exactly as the library rejects a bad argument, before any work.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any

import torch

MAX_SEED = 2**31 - 2  # procgen's level_seed_high = seed + 1 must fit an int32


def integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (not a bool, not a float) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f">= {minimum}"
        high = "" if maximum is None else f"<= {maximum}"
        raise ValueError(f"{name} must be {' and '.join(p for p in (low, high) if p)}, got {value}")
    return value


def real(name: str, value: Any, minimum: float | None = None) -> float:
    """A finite number (NaN and ±inf are refused), at least ``minimum`` if given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def finite_tensor(name: str, value: Any) -> torch.Tensor:
    """A tensor without NaN or infinite values. Inside ``torch.func`` transforms (a traced
    value) the data cannot be read, so it passes unchecked."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if torch._C._functorch.is_functorch_wrapped_tensor(value) or not value.is_floating_point():
        return value
    finite = torch.isfinite(value)
    if not finite.all():
        bad = int((~finite).sum())
        first = tuple(int(i) for i in (~finite).nonzero()[0])
        raise ValueError(
            f"{name} holds {bad} NaN or infinite values of {value.numel()} (the first at "
            f"index {first}: {value[first].item()})"
        )
    return value


def output_file(name: str, value: Any) -> Path:
    """A file path results can be written to: not a folder, its folder creatable."""
    if not str(value).strip():
        raise ValueError(f"{name} must name a file, got an empty path")
    path = output_folder(name, Path(str(value)).parent) / Path(str(value)).name
    if path.is_dir():
        raise ValueError(f"{name} {str(value)!r} is a folder, not a file")
    return path


def output_folder(name: str, value: Any) -> Path:
    """A folder results can be written into, checked before any work: not empty, not an
    existing file, not under /dev or /proc, and its nearest existing ancestor a writable
    folder (the folder itself is created when the results are saved)."""
    text = str(value)
    if not text.strip():
        raise ValueError(f"{name} must name a folder, got an empty path")
    path = Path(text).expanduser()
    resolved = path.resolve()
    if resolved.parts[1:2] in (("dev",), ("proc",), ("sys",)):
        raise ValueError(f"{name} {text!r} is under /{resolved.parts[1]}, not a folder for results")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {text!r} exists and is not a folder")
    ancestor = resolved
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{name} {text!r}: {ancestor} is a file, so the folder cannot be made")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {text!r}: {ancestor} is not writable")
    return path


def device(name: str, value: Any) -> torch.device:
    """A torch device this process can use: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, or
    ``"meta"`` (shapes only), refused with the reason when torch cannot use it here."""
    try:
        parsed = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{name} must be a torch device such as 'cpu', 'cuda', 'cuda:1' or 'mps', got {value!r}"
        ) from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} {value!r}: this torch sees no CUDA GPU")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name} {value!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name} {value!r}: MPS (Apple GPU) is not available here")
    if parsed.type not in ("cpu", "cuda", "mps", "meta"):
        raise ValueError(f"{name} {value!r}: only cpu, cuda, mps and meta are supported")
    return parsed
