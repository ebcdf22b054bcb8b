"""The docs' scoreboard pages: the scoreboard page's summary, claims and tables (from the
committed full runs where there are any) and the methods page's tables (thresholds, the full
runs, the re-runs beside the runs they repeat)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from comparisons import provenance, provenance_line

from analyses import scoreboard
from analyses.core.inputs import Levels
from analyses.core.markdown import markdown_table
from analyses.scoreboard import replication
from analyses.scoreboard.thresholds import THRESHOLDS
from hooked_impala import load_pretrained
from hooked_impala.files import write_atomically
from hooked_impala.pretrained import cache_dir, find_checkpoint_info

DOCS = Path(__file__).resolve().parent
PROVENANCE = "provenance.txt"  # beside each block's generated files; docs/hooks.py reads it


def committed_digest(full: Path) -> str | None:
    """The sha256 of a committed full run's result (None without one): the docs cache's key
    for the page made from it."""
    saved = full / "result.json"
    return hashlib.sha256(saved.read_bytes()).hexdigest() if saved.is_file() else None


def scoreboard_page(out: Path, full: Path) -> list[str]:
    """The scoreboard page's summary, claims and tables from the committed full run in
    ``full``, followed by its run's line."""
    result = scoreboard.ScoreboardResult.load(full)
    write_atomically(out / "summary.txt", result.summary() + "\n")
    write_atomically(out / PROVENANCE, provenance_line(full) + "\n")
    scoreboard_tables(out, result)
    return []


def scoreboard_tables(out: Path, result: scoreboard.ScoreboardResult) -> None:
    """The scoreboard page's claims table of ``result`` and the tables beside it."""
    write_atomically(out / "claims.md", scoreboard.claims_markdown(result))
    write_scoreboards(out, {result.metadata.checkpoint.name: result})


def write_scoreboards(out: Path, results: dict) -> None:
    """The scoreboard page's tables: the committed full runs where there are any, else the
    docs' checkpoint (already run, quick), the bundled stand-in, and the paper's network when
    its weights are in the cache (hard mode, its own)."""
    results = {**results, **committed_scoreboards()}
    others = [("standin_s1", "easy")]
    paper = find_checkpoint_info("model_rand_region_5")
    if paper is not None and (cache_dir() / paper.filename).is_file():
        others.append(("model_rand_region_5", "hard"))
    for name, mode in others:
        if name in results:
            continue
        model = load_pretrained(name, progress=False)
        results[name] = scoreboard.run(
            model, Levels(mode, range(scoreboard.QUICK.levels)), quick=True
        )
    write_atomically(out / "table.md", scoreboard.comparison_table(results, lambda p: f"{p}.md"))
    write_atomically(out / "calibration.md", scoreboard.calibration_table(results))
    first = next(iter(results.values()))
    rows = [[c.id, c.part or "—", c.operationalisation or c.note] for c in first.claims]
    table = markdown_table(["ID", "part", "operationalisation"], rows)
    write_atomically(out / "operationalisations.md", table)


RESULTS = DOCS / "results"  # committed results the pages read their numbers from


def committed_scoreboards() -> dict[str, scoreboard.ScoreboardResult]:
    """The committed full scoreboards (``docs/results/scoreboard-<checkpoint>-full``), by
    checkpoint."""
    found = {}
    for folder in sorted(RESULTS.glob("scoreboard-*-full")):
        if (folder / "result.json").is_file():
            result = scoreboard.ScoreboardResult.load(folder)
            found[result.metadata.checkpoint.name] = result
    return found


def write_methods(out: Path) -> None:
    """The methods page's tables: the declared thresholds, and the full runs' provenance."""
    rows = [
        [t.key, f"{t.value:g}", "yes" if t.in_the_prediction else "no", t.why]
        + [", ".join(f"{v:g}" for v in t.sensitivity) or "—"]
        for t in THRESHOLDS.values()
    ]
    head = ["key", "threshold", "in the prediction's words", "why", "sensitivity"]
    write_atomically(out / "thresholds.md", markdown_table(head, rows))
    runs = [provenance(f) for f in sorted(RESULTS.glob("scoreboard-*-full"))]
    full_runs = "\n".join(f"- {run}" for run in runs) or "No full run is committed yet."
    write_atomically(out / "full_runs.md", full_runs + "\n")
    write_atomically(
        out / "provenance.md",
        "The numbers on the scoreboard's page come from these committed results (under "
        f"`docs/results/`): {'; '.join(runs) or 'none yet'}.\n",
    )
    replicated = []  # each committed re-run beside the full run it repeats
    for again in sorted(RESULTS.glob("scoreboard-*-replication*")):  # -replication, -2, ...
        full = RESULTS / (again.name.split("-replication")[0] + "-full")
        rows = replication.compare(*map(scoreboard.ScoreboardResult.load, (full, again)))
        replicated.append(
            f"The re-run, {provenance(again)}\n\n{replication.agreement_line(rows)}.\n\n"
            + replication.agreement_table(rows)
        )
    write_atomically(
        out / "replication.md", "\n".join(replicated) or "No re-run is committed yet.\n"
    )
