"""Predictions scoreboard: every pre-registered prediction about the maze policy, as an
experiment on this checkpoint, with the measured number, its 95% interval (its unit and
method) and a verdict.

The predictions (IDs A1–A10, B1–B8, C1–C2 and their texts) are read from
``../shared/predictions.md`` when it is there, else from the copy packaged with the
scoreboard. Each ID has a declared experiment (``set_a_behaviour``, ``set_a_network``,
``set_bc``) stating its operationalisation; the experiments share the toolkit's analyses
(looked up in the registry) and the scoreboard's own (``experiments``, ``interpretable``,
the edit searches), each run
once (``evidence``). The rules — the maze is the unit, what is chosen is chosen on selection
mazes and scored on test mazes, "some edit can" is a declared search, thresholds not in the
prediction's words are declared with a sensitivity line — are in ``docs/methods.md``.
Verdicts: holds / fails / inconclusive (with how many more mazes would decide it) / not
testable (with why) / answered (B1, B2 are questions).

    python -m analyses.scoreboard --checkpoint model_160022528 --quick
    python -m analyses.scoreboard --checkpoint model_160022528      # full: 10,000 levels

``--quick`` uses small samples (marked in every output); the full run uses the statistics'
sizes and reuses their rollout records (``--records``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from analyses.core.inputs import Levels, NotApplicable
from analyses.core.records import Records, checked
from analyses.core.result import RunMetadata
from analyses.core.spec import RECORDS, Option, analysis
from analyses.scoreboard import set_a_behaviour, set_a_network, set_bc
from analyses.scoreboard.claims import Claim, explained, untestable
from analyses.scoreboard.evidence import FULL, QUICK, Evidence, Sizes
from analyses.scoreboard.result import ScoreboardResult
from analyses.scoreboard.tables import calibration_table, claims_markdown, comparison_table
from analyses.scoreboard.verdicts import NOT_TESTABLE, read_predictions
from hooked_impala.model import HookedImpala

#: Prediction ID -> its experiment (each function is named after its ID).
EXPERIMENTS: dict[str, Callable[[Evidence], list[Claim]]] = {
    experiment.__name__.upper(): experiment
    for experiment in (
        *(getattr(set_a_behaviour, f"a{i}") for i in range(1, 4)),
        *(getattr(set_a_network, f"a{i}") for i in range(4, 11)),
        *(getattr(set_bc, f"b{i}") for i in range(1, 9)),
        set_bc.c1,
        set_bc.c2,
    )
}

__all__ = [
    "EXPERIMENTS",
    "ScoreboardResult",
    "calibration_table",
    "claims_markdown",
    "comparison_table",
    "run",
]


@analysis(
    question="Which of the 20 pre-registered predictions about this network hold on this "
    "checkpoint?",
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
        try:
            found = experiment(evidence)
        except NotApplicable as err:  # nothing to measure here: say why, go on
            found = untestable(pid, f"not testable on these mazes: {err}")
        claims.extend(explained(c) for c in found)
        if progress:
            print(f"scoreboard: {pid} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return ScoreboardResult(
        metadata=RunMetadata.of(
            "scoreboard",
            model,
            seed=seed,
            parameters={"levels": str(inputs), "sizes": sizes, "records": str(records)},
        ),
        predictions=texts,
        claims=claims,
        quick=sizes.quick,
        evidence={**evidence.results, **evidence.extra},
    )
