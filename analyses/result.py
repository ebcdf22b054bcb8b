"""What every analysis returns: a result with typed run metadata, four views of itself
(``numbers()`` JSON, ``arrays()`` NPZ, ``figures()`` plotly, ``summary()`` text), optional
extra pages, and ``save(dir)``, which writes them all or nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from hooked_impala.files import current_umask, write_atomically
from hooked_impala.maze import Region
from hooked_impala.model import HookedImpala


@dataclass(frozen=True, kw_only=True)
class CheckpointRef:
    """Which weights produced a result (``name`` is "(in-memory model)" for an unsaved one)
    and where they ran: the device and dtype (results agree across devices only up to float
    rounding)."""

    name: str
    sha256: str | None
    device: str = "cpu"
    dtype: str = "float32"

    @classmethod
    def of(cls, model: HookedImpala) -> CheckpointRef:
        record = model.checkpoint
        where = {
            "device": str(model.device),
            "dtype": str(model.fc_policy.weight.dtype).removeprefix("torch."),
        }
        if record is None:
            return cls(name="(in-memory model)", sha256=None, **where)
        return cls(name=record.name, sha256=record.sha256, **where)


@dataclass(frozen=True, kw_only=True)
class RunMetadata:
    """How a result was made: the analysis, the weights, the hooks it read or wrote, the
    seed, the maze seeds of its inputs (empty for raw observations) and its parameters."""

    analysis: str
    checkpoint: CheckpointRef
    hooks: tuple[str, ...]
    seed: int | None
    maze_seeds: tuple[int, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return to_jsonable(asdict(self))


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for tensors, arrays, numpy scalars, enums, regions and paths.
    Non-finite floats become None (``NaN`` is not JSON)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return to_jsonable(value.item())
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, (Region, PurePath)):
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@contextlib.contextmanager
def replaced_folder(out: Path) -> Iterator[Path]:
    """A fresh sibling folder to write into; when the block ends normally it replaces
    ``out`` whole, and on any exception (Ctrl-C included) it is deleted and ``out`` is left
    as it was. So ``out`` holds a complete old result or a complete new one, never a mix.

    The swap is two renames (old aside, new in), so a crash between them leaves ``out``
    missing with the old one beside it as ``.<name>.old-*``, never a mixture."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    staging.chmod(0o777 & ~current_umask())  # mkdtemp's 0700 would hide results from others
    try:
        yield staging
        if out.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(aside / out.name)
            staging.rename(out)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass(kw_only=True)
class AnalysisResult:
    """Base of every analysis result; subclasses are keyword-only dataclasses with required
    fields and override the views they have."""

    metadata: RunMetadata

    def numbers(self) -> dict[str, Any]:
        return {}

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def figures(self) -> dict[str, go.Figure]:
        return {}

    def pages(self) -> dict[str, str]:
        """Extra standalone HTML pages by file name (e.g. an interactive view)."""
        return {}

    def summary(self) -> str:
        return json.dumps(to_jsonable(self.numbers()), indent=2)

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``result.json`` (metadata + numbers), ``arrays.npz``, ``<figure>.html`` (plotly
        embedded, no CDN) and the extra pages into ``out_dir``, replacing it whole (see
        ``replaced_folder``)."""
        out = Path(out_dir)
        with replaced_folder(out) as staging:
            names = self.write_into(staging)
        return [out / name for name in names]

    def write_into(self, folder: Path) -> list[str]:
        """Write the files into an existing ``folder``; their names."""
        document = {"metadata": self.metadata.to_json(), "numbers": to_jsonable(self.numbers())}
        files = {"result.json": json.dumps(document, indent=2, allow_nan=False)}
        arrays = {k: np.asarray(v) for k, v in self.arrays().items()}
        if arrays:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)
            files["arrays.npz"] = buffer.getvalue()
        for name, fig in self.figures().items():
            files[f"{name}.html"] = fig.to_html(include_plotlyjs=True, full_html=True)
        files.update(self.pages())
        for name, content in files.items():
            write_atomically(folder / name, content)
        return list(files)
