"""What every analysis returns: a result with typed run metadata, four views of itself
(``numbers()`` JSON, ``arrays()`` NPZ, ``figures()`` plotly, ``summary()`` text), optional
extra pages, and ``save(dir)``, which writes them all or nothing and never over a user's
files (``analyses.core.saving``).
"""

from __future__ import annotations

import functools
import inspect
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from enum import Enum, StrEnum
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np
import plotly.graph_objects as go
import torch

from analyses.core.records import Records
from analyses.core.saving import result_folder, write_marker
from hooked_impala.files import write_atomically
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

    @classmethod
    def of(
        cls,
        analysis: str,
        model: HookedImpala,
        *,
        seed: int | None,
        hooks: Sequence[str] = (),
        mazes: Iterable[int] = (),
        parameters: Mapping[str, Any] | None = None,
    ) -> RunMetadata:
        """The metadata of ``analysis`` run on ``model`` (its checkpoint read from the model)
        over the mazes of seeds ``mazes``."""
        return cls(
            analysis=analysis,
            checkpoint=CheckpointRef.of(model),
            hooks=tuple(hooks),
            seed=seed,
            maze_seeds=tuple(int(s) for s in mazes),
            parameters=dict(parameters or {}),
        )

    def to_json(self) -> dict:
        # Field by field, not asdict: asdict would turn a settings value inside the
        # parameters into a dict before to_jsonable could write it as its own words.
        return to_jsonable({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, saved: Mapping[str, Any]) -> RunMetadata:
        """The metadata of a saved ``result.json`` (its ``"metadata"``) read back."""
        checkpoint = CheckpointRef(**saved["checkpoint"])
        tuples = {k: tuple(saved[k]) for k in ("hooks", "maze_seeds") if k in saved}
        return cls(**{**saved, "checkpoint": checkpoint, **tuples})


#: Keywords of ``run`` that are not options of the analysis: more mazes it reads (recorded by
#: their seeds where it matters), where it runs and how loudly (the seed has a field of its
#: own in the metadata).
_NOT_PARAMETERS = frozenset({"seed", "progress", "sweep", "sources"})

Run = TypeVar("Run", bound=Callable[..., "AnalysisResult"])


def keeps_arguments(run: Run) -> Run:
    """Decorate an analysis's ``run(model, inputs, *, ...)`` so that its result's
    ``metadata.parameters`` hold every keyword-only argument it was called with, defaults
    filled in, under whatever ``run`` recorded itself (derived values such as the channels
    it chose win). So each option is recorded from the signature, where its default is
    written, and no analysis lists them again."""
    signature = inspect.signature(run)
    options = {
        name
        for name, p in signature.parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in _NOT_PARAMETERS
    }

    @functools.wraps(run)
    def recorded(*args: Any, **kwargs: Any) -> AnalysisResult:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        result = run(*args, **kwargs)
        called = {k: v for k, v in bound.arguments.items() if k in options}
        own = result.metadata.parameters
        result.metadata = replace(result.metadata, parameters={**called, **own})
        return result

    return recorded  # type: ignore[return-value]


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
    if isinstance(value, StrEnum):  # a word (a verdict): its value
        return str(value)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, (Region, PurePath, Records)):  # their command-line words
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):  # a settings value: its fields
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


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
        embedded, no CDN) and the extra pages into ``out_dir``: a new folder, an empty one,
        or a previous result of the same analysis, replaced whole; any other folder is
        refused (:func:`~analyses.core.saving.result_folder`)."""
        out = Path(out_dir)
        with result_folder(out, self.metadata.analysis) as staging:
            names = self.write_into(staging)
        return [out / name for name in names]

    def write_into(self, folder: Path) -> list[str]:
        """Write the files, and the marker naming the analysis, into an existing
        ``folder``; the files' names."""
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
        write_marker(folder, self.metadata.analysis)
        return list(files)
