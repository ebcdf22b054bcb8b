"""Does a re-run reproduce a committed scoreboard? Claim by claim (prediction and part):

* is the re-run's value inside the committed run's 95% interval (a loose check: with honest
  intervals and runs of the same size it fails about one time in six, since both runs carry
  sampling error);
* the difference between the runs, with its 95% interval from both runs' intervals, and the
  p-value of "the runs measure the same thing", Holm-adjusted over the distinct numbers
  compared (claims sharing one committed number, e.g. A4's four X, count once): the runs
  *disagree* on a number when its adjusted p is below 0.05;
* is the verdict the same.

A re-run on other levels and seeds is a replication; on the same ones, a check that the run is
reproducible (its numbers must then be equal).

    python -m analyses.scoreboard.replication docs/results/scoreboard-model_160022528-full RERUN
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from analyses.core.markdown import markdown_table
from analyses.scoreboard.claims import Claim
from analyses.scoreboard.result import ScoreboardResult
from hooked_impala.stats import Estimate, holm, independent_difference

#: The family-wise level at which two runs are said to disagree on a number.
LEVEL = 0.05


@dataclass(frozen=True)
class Agreement:
    """One claim in both runs: ``difference`` re-run − committed with its interval, ``p``
    its p-value and ``adjusted_p`` that p Holm-adjusted over the distinct numbers (all set
    by :func:`compare`); these and ``inside`` are None where either run measured nothing."""

    id: str
    part: str
    committed: Claim
    rerun: Claim
    difference: Estimate | None = None
    p: float | None = None
    adjusted_p: float | None = None

    @property
    def inside(self) -> bool | None:
        was, now = self.committed.measured, self.rerun.measured
        if was is None or now is None:
            return None
        return was.low <= now.value <= was.high

    @property
    def disagree(self) -> bool | None:
        return None if self.adjusted_p is None else self.adjusted_p < LEVEL

    @property
    def same_verdict(self) -> bool:
        return self.committed.verdict == self.rerun.verdict


def _number(row: Agreement) -> tuple:
    """What makes two claims one number: the prediction and the committed estimate."""
    m = row.committed.measured
    return (row.id, m.value, m.low, m.high, m.n) if m is not None else (row.id, row.part)


def compare(committed: ScoreboardResult, rerun: ScoreboardResult) -> list[Agreement]:
    """Every claim present in both runs, in the committed run's order, with its difference
    tested and Holm-adjusted over the distinct numbers measured in both."""
    again = {(c.id, c.part): c for c in rerun.claims}
    rows = []
    for c in committed.claims:
        if (c.id, c.part) not in again:
            continue
        row = Agreement(c.id, c.part, c, again[(c.id, c.part)])
        if c.measured is not None and row.rerun.measured is not None:
            difference, p = independent_difference(c.measured, row.rerun.measured)
            row = replace(row, difference=difference, p=p)
        rows.append(row)
    # Claims sharing a committed number (A4's four X) have one p: a key each, not a test each.
    distinct = {_number(r): r.p for r in rows if r.p is not None}
    adjusted = dict(zip(distinct, holm(list(distinct.values())))) if distinct else {}
    return [r if r.p is None else replace(r, adjusted_p=float(adjusted[_number(r)])) for r in rows]


def agreement_table(rows: Sequence[Agreement]) -> str:
    """A markdown table: claim, committed value [interval] and verdict, re-run value and
    verdict, inside or not, the difference with its interval and adjusted p, same verdict."""
    cells = []
    for r in rows:
        was = f"{r.committed.measured or 'not measured'}; {r.committed.verdict}"
        now = "not measured" if r.rerun.measured is None else f"{r.rerun.measured.value:.4g}"
        inside = {None: "—", True: "yes", False: "**no**"}[r.inside]
        if r.difference is None:
            moved = "—"
        else:
            d = r.difference
            flag = " **disagree**" if r.disagree else ""
            moved = f"{d.value:+.3g} [{d.low:+.3g}, {d.high:+.3g}], p = {r.adjusted_p:.2g}{flag}"
        same = "yes" if r.same_verdict else f"**no** ({r.rerun.verdict})"
        cells.append([f"{r.id} {r.part}".strip(), was, f"{now}; {r.rerun.verdict}", inside])
        cells[-1] += [moved, same]
    head = ["claim", "committed", "re-run", "re-run inside the committed interval"]
    head += ["re-run − committed (95% CI), Holm-adjusted p", "same verdict"]
    return markdown_table(head, cells)


def agreement_line(rows: Sequence[Agreement]) -> str:
    """How many measured claims fall inside the committed intervals, on how many distinct
    numbers the runs disagree (before and after Holm's correction), how many verdicts agree."""
    measured = [r for r in rows if r.inside is not None]
    inside = sum(bool(r.inside) for r in measured)
    numbers = {_number(r): r for r in measured}
    nominal = sum(r.p < LEVEL for r in numbers.values())
    disagree = sum(bool(r.disagree) for r in numbers.values())
    same = sum(r.same_verdict for r in rows)
    return (
        f"{inside} of {len(measured)} measured claims inside the committed interval; of the "
        f"{len(numbers)} distinct numbers, the runs differ on {nominal} at the 5% level "
        f"before correction and on {disagree} after Holm's correction for the {len(numbers)} "
        f"comparisons; {same} of {len(rows)} verdicts the same"
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
