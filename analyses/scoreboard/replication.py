"""Does a re-run reproduce a committed scoreboard? Claim by claim (prediction and part): is
the re-run's measured value inside the committed run's 95% interval, and is the verdict the
same. A re-run on other levels and seeds is a replication; on the same ones, a check that
the run is reproducible (its numbers must then be equal).

    python -m analyses.scoreboard.replication docs/results/scoreboard-model_160022528-full RERUN
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from analyses.scoreboard.claims import Claim
from analyses.scoreboard.result import ScoreboardResult


@dataclass(frozen=True)
class Agreement:
    """One claim in both runs. ``inside`` is None where either run measured nothing."""

    id: str
    part: str
    committed: Claim
    rerun: Claim

    @property
    def inside(self) -> bool | None:
        was, now = self.committed.measured, self.rerun.measured
        if was is None or now is None:
            return None
        return was.low <= now.value <= was.high

    @property
    def same_verdict(self) -> bool:
        return self.committed.verdict == self.rerun.verdict


def compare(committed: ScoreboardResult, rerun: ScoreboardResult) -> list[Agreement]:
    """Every claim present in both runs, in the committed run's order."""
    again = {(c.id, c.part): c for c in rerun.claims}
    return [
        Agreement(c.id, c.part, c, again[(c.id, c.part)])
        for c in committed.claims
        if (c.id, c.part) in again
    ]


def agreement_table(rows: Sequence[Agreement]) -> str:
    """A markdown table: claim, committed value [interval] and verdict, re-run value and
    verdict, inside or not."""
    lines = [
        "| claim | committed | re-run | re-run inside the committed interval | same verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        name = f"{r.id} {r.part}".strip()
        was = f"{r.committed.measured or 'not measured'}; {r.committed.verdict}"
        now = "not measured" if r.rerun.measured is None else f"{r.rerun.measured.value:.4g}"
        inside = {None: "—", True: "yes", False: "**no**"}[r.inside]
        same = "yes" if r.same_verdict else f"**no** ({r.rerun.verdict})"
        lines.append(f"| {name} | {was} | {now}; {r.rerun.verdict} | {inside} | {same} |")
    return "\n".join(lines) + "\n"


def agreement_line(rows: Sequence[Agreement]) -> str:
    """How many measured claims fall inside the committed intervals, how many verdicts agree."""
    measured = [r for r in rows if r.inside is not None]
    inside = sum(bool(r.inside) for r in measured)
    same = sum(r.same_verdict for r in rows)
    return (
        f"{inside} of {len(measured)} measured claims inside the committed interval; "
        f"{same} of {len(rows)} verdicts the same"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analyses.scoreboard.replication", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("committed", type=Path, help="folder of the committed scoreboard")
    parser.add_argument("rerun", type=Path, help="folder of the re-run")
    args = parser.parse_args(argv)
    runs = []
    for folder in (args.committed, args.rerun):
        if not (folder / "result.json").is_file():
            parser.error(f"{folder} holds no scoreboard result (no result.json)")
        try:
            runs.append(ScoreboardResult.load(folder))
        except (ValueError, KeyError, TypeError) as err:  # JSONDecodeError is a ValueError
            parser.error(f"{folder / 'result.json'} is not a readable scoreboard result: {err!r}")
    rows = compare(*runs)
    print(agreement_table(rows))
    print(agreement_line(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
