"""Where an analysis keeps its rollout records: one type for the three places.

* ``Records.AUTO`` — a folder under ``out/records`` named by the analysis, checkpoint and
  settings, kept: the same command resumes an interrupted run or reuses a finished one;
* ``Records.TEMPORARY`` — a temporary folder, removed after the run;
* ``Records.at(path)`` — that folder, kept and reused by a later run with the same settings.

On the command line ``--records auto|temporary|FOLDER`` (``Records.parse``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hooked_impala import checks, cli
from hooked_impala.maze import DistributionMode
from hooked_impala.policy.rollout import PROCGEN_STEP_LIMIT, check_steps

#: ``Records.AUTO`` keeps an analysis's rollouts under this folder, one subfolder per
#: analysis, checkpoint and settings.
AUTO_RECORDS = Path("out/records")


@dataclass(frozen=True)
class Records:
    """Where rollout records go: a folder (``path``), or automatic / temporary."""

    path: Path | None = None
    temporary: bool = False

    AUTO: ClassVar[Records]
    TEMPORARY: ClassVar[Records]

    @classmethod
    def at(cls, path: str | Path) -> Records:
        """A folder results can be written into (checked now)."""
        return cls(path=checks.output_folder("records", path))

    @classmethod
    def parse(cls, text: str) -> Records:
        """``--records``: "auto", "temporary", or a folder (an argparse type: a bad folder
        is argparse's error naming the flag)."""
        if text == "auto":
            return cls.AUTO
        if text == "temporary":
            return cls.TEMPORARY
        return cls(path=cli.output_folder(text))

    def __str__(self) -> str:
        if self.path is not None:
            return str(self.path)
        return "temporary" if self.temporary else "auto"

    def below(self, name: str) -> Records:
        """For one of several experiments sharing this place: a subfolder of a folder; an
        automatic or temporary place stays as it is (each experiment names its own)."""
        return self if self.path is None else Records(path=self.path / name)

    @contextlib.contextmanager
    def folder(
        self,
        *,
        analysis: str,
        checkpoint: str,
        mode: DistributionMode,
        max_steps: int,
        greedy: bool,
        seed: int,
    ) -> Iterator[Path]:
        """The folder to write records into, for the duration of the block."""
        if self.temporary:
            with tempfile.TemporaryDirectory(prefix="records-") as tmp:
                yield Path(tmp)
            return
        path = self.path
        if path is None:
            name = Path(checkpoint).stem.replace(" ", "_").strip("()") or "model"
            policy = "greedy" if greedy else f"sampled-seed{seed}"
            path = AUTO_RECORDS / f"{analysis}-{name}-{mode}-{policy}-max{max_steps}"
        yield checks.output_folder("records", path)


def checked(records: object) -> Records:
    """``records`` if it is a :class:`Records`, else a TypeError saying how to make one."""
    if not isinstance(records, Records):
        raise TypeError(
            f"records must be Records.AUTO, Records.TEMPORARY or Records.at(folder), got "
            f"{records!r}"
        )
    return records


Records.AUTO = Records()
Records.TEMPORARY = Records(temporary=True)


@dataclass(frozen=True)
class Playing:
    """How an analysis of a level population plays its levels: one episode each, of at most
    ``max_steps`` steps, with sampled (seeded) or ``greedy`` actions, its rollout records
    kept as ``records`` says. On the command line ``--max-steps``, ``--greedy``,
    ``--records``."""

    max_steps: int = PROCGEN_STEP_LIMIT
    greedy: bool = False
    records: Records = Records.AUTO

    def __post_init__(self) -> None:
        checked(self.records)
        check_steps("max_steps", self.max_steps)
        object.__setattr__(self, "greedy", bool(self.greedy))

    def playing(self, mode: DistributionMode, seed: int) -> dict[str, object]:
        """The keywords of :func:`~hooked_impala.policy.collect_records` that say how."""
        return {"mode": mode, "max_steps": self.max_steps, "greedy": self.greedy, "seed": seed}

    def folder(
        self, analysis: str, checkpoint: str, mode: DistributionMode, seed: int
    ) -> contextlib.AbstractContextManager[Path]:
        """Where ``analysis`` keeps these episodes' records (:meth:`Records.folder`)."""
        return self.records.folder(
            analysis=analysis, checkpoint=checkpoint, **self.playing(mode, seed)
        )
