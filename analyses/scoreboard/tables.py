"""The scoreboard as tables: every claim coloured by verdict (a figure, and a markdown table
for the docs, which wraps where the figure's cells were clipped), and markdown tables
comparing checkpoints and the calibration of the stated confidences (for the docs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from analyses.core.markdown import markdown_table
from analyses.scoreboard.claims import Claim, verdict_of
from analyses.scoreboard.verdicts import Verdict

if TYPE_CHECKING:
    from analyses.scoreboard.result import ScoreboardResult

COLOURS = {
    Verdict.HOLDS: "#b7e1b0",
    Verdict.FAILS: "#f4b6b0",
    Verdict.INCONCLUSIVE: "#f6e3a1",
    Verdict.NOT_TESTABLE: "#dddddd",
    Verdict.ANSWERED: "#b9d3ee",
}


CLAIM_COLUMNS = ["ID", "part", "verdict", "measured", "predicted", "conf.", "note"]


def _coloured(verdict: str) -> str:
    """``verdict`` on its colour (an HTML span; "mixed: …" and other readings get none)."""
    colour = COLOURS.get(verdict.split(":")[0], "#ffffff")
    return f'<span style="background:{colour};padding:0 4px">{verdict}</span>'


def _claim_cells(rows: list[Claim]) -> list[list[str]]:
    """The columns of :data:`CLAIM_COLUMNS`, one list per column."""
    return [
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


def claims_figure(result) -> go.Figure:
    """Every claim as a table, coloured by verdict."""
    rows = result.claims
    colours = [COLOURS.get(c.verdict, "#ffffff") for c in rows]
    cells = _claim_cells(rows)
    table = go.Table(
        columnwidth=[40, 180, 90, 220, 70, 60, 320],
        header={
            "values": CLAIM_COLUMNS,
            "fill_color": "#34495e",
            "font": {"color": "white"},
            "align": "left",
        },
        cells={"values": cells, "fill_color": [colours] * len(cells), "align": "left"},
    )
    checkpoint = result.metadata.checkpoint.name
    fig = go.Figure(table)
    fig.update_layout(
        title=f"Predictions scoreboard: {checkpoint} ({result.sample})",
        height=120 + 38 * len(rows),
    )
    return fig


def claims_markdown(result) -> str:
    """Every claim as a markdown table, the verdict cell coloured as in the figure."""
    columns = _claim_cells(result.claims)
    text = lambda s: " ".join(str(s).split()).replace("|", "\\|") or "—"  # noqa: E731
    rows = []
    for row in zip(*columns):
        cells = [text(cell) for cell in row]
        cells[2] = _coloured(cells[2])
        rows.append(cells)
    return markdown_table(CLAIM_COLUMNS, rows)


#: The analysis page (docs/analyses/<page>.md) showing each experiment's kind of figure.
EVIDENCE_PAGES = {
    "behaviour": "behaviour",
    "behaviour_greedy": "behaviour",
    "generalisation": "generalisation",
    "probes": "probes",
    "retarget": "retarget",
    "reach_random": "retarget",
    "reach_smallest": "retarget",
    "reach_corners": "retarget",
    "cheese_vector": "cheese_vector",
    "top_right_vector": "top_right_vector",
}


def _cell(claims: list[Claim], link: Callable[[str], str] | None) -> str:
    text = _coloured(verdict_of(claims))
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
    rows = []
    for pid, text in first.predictions.items():
        confidences = sorted(
            {c.confidence for c in first.claims if c.id == pid and c.confidence is not None}
        )
        stated = ", ".join(f"{c:.0%}" for c in confidences) or "—"
        short = text if len(text) <= 140 else text[:137].rstrip() + "…"
        cells = [_cell([c for c in results[n].claims if c.id == pid], link) for n in names]
        rows.append([pid, short, stated, *cells])
    return markdown_table(["ID", "prediction", "stated confidence", *names], rows)


def calibration_table(results: Mapping[str, ScoreboardResult]) -> str:
    """Per checkpoint and stated confidence: how many of the decided claims held."""
    rows = [
        [name, f"{float(confidence):.0%}", f"{entry['held']} / {entry['decided']}"]
        for name, result in results.items()
        for confidence, entry in result.calibration().items()
    ]
    return markdown_table(["checkpoint", "stated confidence", "held / decided"], rows)
