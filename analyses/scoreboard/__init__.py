"""Predictions scoreboard: every pre-registered prediction about the maze policy, as an
experiment on this checkpoint, with the measured number, its 95% interval and a verdict.

The predictions (IDs A1–A10, B1–B8, C1–C2 and their texts) are read from
``../shared/predictions.md`` when it is there, else from the copy packaged with ``analyses``.
Each ID has a declared experiment (``analyses.scoreboard.claims``) that states its
operationalisation; the experiments share the toolkit's analyses (behaviour regression, maze
size and corners, probes, retargeting, cheese and top-right vectors), each run once
(``analyses.scoreboard.evidence``). Verdicts: holds / fails / inconclusive (with how many
more mazes would decide it) / not testable (with why) / answered (B1, B2 are questions).

    python -m analyses.scoreboard --checkpoint model_160022528 --quick
    python -m analyses.scoreboard --checkpoint model_160022528      # full: 10,000 levels

``--quick`` uses small samples (marked in every output); the full run uses the statistics'
sizes and reuses their rollout records (``--records``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from analyses.core.inputs import Levels
from analyses.core.records import Records, checked
from analyses.core.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.core.spec import RECORDS, Analysis, Option
from analyses.scoreboard import set_a, set_bc
from analyses.scoreboard.claims import Claim, explained
from analyses.scoreboard.evidence import FULL, QUICK, Evidence, Sizes
from analyses.scoreboard.verdicts import NOT_TESTABLE, Verdict, read_predictions
from hooked_impala.model import HookedImpala

COLOURS = {
    Verdict.HOLDS: "#b7e1b0",
    Verdict.FAILS: "#f4b6b0",
    Verdict.INCONCLUSIVE: "#f6e3a1",
    Verdict.NOT_TESTABLE: "#dddddd",
    Verdict.ANSWERED: "#b9d3ee",
}

#: Prediction ID -> its experiment (each function is named after its ID).
EXPERIMENTS: dict[str, Callable[[Evidence], list[Claim]]] = {
    experiment.__name__.upper(): experiment
    for experiment in (
        set_a.a1,
        set_a.a2,
        set_a.a3,
        set_a.a4,
        set_a.a5,
        set_a.a6,
        set_a.a7,
        set_a.a8,
        set_a.a9,
        set_a.a10,
        set_bc.b1,
        set_bc.b2,
        set_bc.b3,
        set_bc.b4,
        set_bc.b5,
        set_bc.b6,
        set_bc.b7,
        set_bc.b8,
        set_bc.c1,
        set_bc.c2,
    )
}


def verdict_of(claims: list[Claim]) -> str:
    """One prediction's verdict: its claim's, or a count when its parts disagree."""
    verdicts = Counter(c.verdict for c in claims)
    if len(verdicts) == 1:
        return next(iter(verdicts))
    return "mixed: " + ", ".join(f"{v} {n}" for v, n in verdicts.most_common())


@dataclass(kw_only=True)
class ScoreboardResult(AnalysisResult):
    """Verdicts on every prediction.

    Attributes:
        predictions: ID -> text, as read.
        claims: every testable part of every prediction, in file order.
        quick: small samples (``--quick``): the verdicts are provisional.
        evidence: name -> the experiment's result (``AnalysisResult``) or numbers (dict).
    """

    predictions: dict[str, str]
    claims: list[Claim]
    quick: bool
    evidence: dict

    @property
    def sample(self) -> str:
        return "QUICK (small samples; provisional)" if self.quick else "full samples"

    def verdicts(self) -> dict[str, str]:
        return {
            pid: verdict_of([c for c in self.claims if c.id == pid]) for pid in self.predictions
        }

    def calibration(self) -> dict[str, dict]:
        """Per stated confidence: how many decided claims held (holds / (holds + fails))."""
        out: dict[str, dict] = {}
        for claim in self.claims:
            if claim.confidence is None or not claim.verdict.decided:
                continue
            entry = out.setdefault(f"{claim.confidence:.2f}", {"held": 0, "decided": 0})
            entry["decided"] += 1
            entry["held"] += claim.verdict == Verdict.HOLDS
        return dict(sorted(out.items()))

    def numbers(self) -> dict:
        return {
            "sample": self.sample,
            "quick": self.quick,
            "verdicts": self.verdicts(),
            "claims": [c.as_dict() for c in self.claims],
            "predictions": self.predictions,
            "calibration": self.calibration(),
            "evidence": {
                name: (e.numbers() if isinstance(e, AnalysisResult) else e)
                for name, e in self.evidence.items()
            },
        }

    def figures(self) -> dict[str, go.Figure]:
        rows = self.claims
        colours = [COLOURS.get(c.verdict, "#ffffff") for c in rows]
        cells = [
            [c.id for c in rows],
            [c.part or "—" for c in rows],
            [c.verdict for c in rows],
            ["" if c.measured is None else str(c.measured) for c in rows],
            [
                "" if c.threshold is None else f"{'>' if c.above else '<'} {c.threshold:.3g}"
                for c in rows
            ],
            ["" if c.confidence is None else f"{c.confidence:.0%}" for c in rows],
            [c.note for c in rows],
        ]
        table = go.Table(
            columnwidth=[40, 180, 90, 220, 70, 60, 320],
            header={
                "values": ["ID", "part", "verdict", "measured", "predicted", "conf.", "note"],
                "fill_color": "#34495e",
                "font": {"color": "white"},
                "align": "left",
            },
            cells={"values": cells, "fill_color": [colours] * len(cells), "align": "left"},
        )
        checkpoint = self.metadata.checkpoint.name
        fig = go.Figure(table)
        fig.update_layout(
            title=f"Predictions scoreboard: {checkpoint} ({self.sample})",
            height=120 + 38 * len(rows),
        )
        return {"scoreboard": fig}

    def summary(self) -> str:
        lines = [f"Predictions scoreboard ({self.sample})"]
        for pid, verdict in self.verdicts().items():
            lines.append(f"  {pid:4s} {verdict}")
            for c in (c for c in self.claims if c.id == pid):
                measured = "" if c.measured is None else f": {c.measured}"
                part = f"{c.part}: " if c.part else ""
                lines.append(f"         {part}{c.verdict}{measured}")
        counts = Counter(v.split(":")[0] for v in self.verdicts().values())
        lines.append("  predictions: " + ", ".join(f"{v} {n}" for v, n in counts.most_common()))
        return "\n".join(lines)


#: The analysis page (docs/analyses/<page>.md) showing each experiment's kind of figure.
EVIDENCE_PAGES = {
    "behaviour": "behaviour",
    "behaviour_greedy": "behaviour",
    "generalisation": "generalisation",
    "probes": "probes",
    "retarget": "retarget",
    "retarget_small": "retarget",
    "retarget_corners": "retarget",
    "cheese_vector": "cheese_vector",
    "top_right_vector": "top_right_vector",
}


def _cell(claims: list[Claim], link: Callable[[str], str] | None) -> str:
    verdict = verdict_of(claims)
    colour = COLOURS.get(verdict.split(":")[0], "#ffffff")
    text = f'<span style="background:{colour};padding:0 4px">{verdict}</span>'
    if len(claims) == 1 and claims[0].measured is not None:
        m = claims[0].measured
        text += f"<br>{m.value:.3g} [{m.low:.3g}, {m.high:.3g}], n = {m.n}"
    pages = sorted({c.evidence for c in claims if c.evidence in EVIDENCE_PAGES})
    if link and pages:
        text += "<br>" + ", ".join(f"[{p}]({link(EVIDENCE_PAGES[p])})" for p in pages)
    return text


def comparison_table(
    results: Mapping[str, ScoreboardResult], link: Callable[[str], str] | None = None
) -> str:
    """A markdown table: one row per prediction, one column per checkpoint (verdict coloured,
    the measured value with its 95% interval and n, and ``link(page)`` to the analysis
    that decided it); the predicted confidences beside it."""
    names = list(results)
    first = results[names[0]]
    lines = [
        "| ID | prediction | stated confidence | " + " | ".join(names) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for pid, text in first.predictions.items():
        confidences = sorted(
            {c.confidence for c in first.claims if c.id == pid and c.confidence is not None}
        )
        stated = ", ".join(f"{c:.0%}" for c in confidences) or "—"
        short = text if len(text) <= 140 else text[:137].rstrip() + "…"
        cells = [_cell([c for c in results[n].claims if c.id == pid], link) for n in names]
        lines.append(f"| {pid} | {short} | {stated} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def calibration_table(results: Mapping[str, ScoreboardResult]) -> str:
    """Per checkpoint and stated confidence: how many of the decided claims held."""
    lines = ["| checkpoint | stated confidence | held / decided |", "| --- | --- | --- |"]
    for name, result in results.items():
        for confidence, entry in result.calibration().items():
            lines.append(
                f"| {name} | {float(confidence):.0%} | {entry['held']} / {entry['decided']} |"
            )
    return "\n".join(lines) + "\n"


def run(
    model: HookedImpala,
    inputs: Levels,
    *,
    quick: bool = False,
    records: Records = Records.AUTO,
    predictions: str | Path | None = None,
    sizes: Sizes | None = None,
    seed: int = 0,
    progress: bool = False,
) -> ScoreboardResult:
    """Run every prediction's experiment on the levels of ``inputs`` (their mode; the level
    studies use the first ``Sizes.levels`` of them) and judge it. ``quick``: the small
    ``QUICK`` sizes; ``records``: where the rollout records go (``Records``);
    ``predictions``: the predictions file (default: the shared one, else the packaged copy);
    ``sizes``: other sample sizes than ``QUICK``/``FULL`` (e.g. tiny ones for tests).
    """
    if not isinstance(inputs, Levels):
        raise TypeError(f"the scoreboard plays whole levels (Levels), got {type(inputs).__name__}")
    records = checked(records)
    texts = read_predictions(Path(predictions) if predictions else None)
    sizes = sizes or (QUICK if quick else FULL)
    evidence = Evidence(model, inputs, sizes, seed=seed, progress=progress, records=records)
    claims: list[Claim] = []
    for pid in texts:
        experiment = EXPERIMENTS.get(pid)
        if experiment is None:
            claims.append(Claim(pid, "", "", NOT_TESTABLE, note="no experiment is declared"))
            continue
        started = time.perf_counter()
        claims.extend(explained(c) for c in experiment(evidence))
        if progress:
            print(f"scoreboard: {pid} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return ScoreboardResult(
        metadata=RunMetadata(
            analysis="scoreboard",
            checkpoint=CheckpointRef.of(model),
            hooks=(),
            seed=seed,
            maze_seeds=(),
            parameters={
                "levels": str(inputs),
                "quick": sizes.quick,
                "sizes": dataclasses.asdict(sizes),
                "records": str(records),
            },
        ),
        predictions=texts,
        claims=claims,
        quick=sizes.quick,
        evidence={**evidence.results, **evidence.extra},
    )


ANALYSIS = Analysis(
    name="scoreboard",
    question="Which of the 20 pre-registered predictions about this network hold on this "
    "checkpoint?",
    run=run,
    select=list,  # unused: a population of levels
    options=(
        Option("quick", "small samples, marked as such in every output"),
        RECORDS,
        Option("predictions", "predictions file (default: ../shared/predictions.md)", kind=str),
    ),
    levels=10_000,
    quick_levels=QUICK.levels,
    quick={"quick": True},
)
