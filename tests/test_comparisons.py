"""The docs' comparison tables, generated from the committed full scoreboard: they reproduce
the numbers an independent run of the behaviour analysis on the same levels gave (typed on the
behaviour page before the table was generated)."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "docs"))
from comparisons import (  # noqa: E402
    TABLES,
    behaviour_table,
    feature_label,
    probe_layers_table,
    top_right_table,
    write_comparisons,
)

FULL = REPO / "docs" / "results" / "scoreboard-model_160022528-full"


#: What the pages typed before their tables were generated, by the run that made them.
TYPED = {
    # python -m analyses.behaviour --checkpoint model_160022528 --mazes 10000
    "behaviour": (
        behaviour_table,
        "| 5,239 of 10,000 levels | 3,668 of 10,000 levels |",
        "| 71.4% | 75.8% (2,782/3,668; 74.4–77.2%) |",
        "48.6% (1,784/3,668; 47.0–50.3%)",
        "1,154 of 3,668 (31.5%); the cheese first in 0 of them",
        "**71.0% (1,784/2,514; 69.2–72.7%)**",
        "0.864 ± 0.011 (13 features) against 0.759: +10.5 points",
        "0.856 ± 0.010 against 0.759: +9.7 points",
        "steps decision square→cheese 0.780; best: Euclidean cheese→top-right 5×5 0.841",
        "Euclidean cheese→top-right cell | -2.786 | -2.218 ± 0.032 (negative in 20/20 splits)",
        "top-right 5×5 | +1.326 | +0.472 ± 0.032 (positive in 20/20 splits)",
    ),
    # python -m analyses.top_right_vector --checkpoint model_160022528 --mazes 100
    "top_right_vector": (
        top_right_table,
        "the 71 mazes with a margin",
        "0.121 → 0.167, 0.215, 0.278 (grows)",
        "| 0.120 vs 0.121 |",
        "| 0.194 (its own vector: 0.278) |",
        "both together 0.916, vs 0.716 (cheese vector −1 alone) and 0.215 (top-right +1 alone)",
        "joint effect +0.795, sum of the single effects +0.689",
        "52.1% (37/71; 40.7–63.3%) original, 50.7% (36/71; 39.3–62.0%) with +1",
    ),
    # python -m analyses.probes --checkpoint model_160022528 --mazes 2000 (pooled over
    # observations; the generated table gives the same accuracy over mazes, with intervals)
    "probe_layers": (
        probe_layers_table,
        "| block1.res1.resadd_out | 90.1 (",
        "| 96.4 (",
        "| 75.5 (",
        "| block2.res1.resadd_out | 77.4 (",
        "| 70.8 (",
        "| 77.1 (",
        "| relu3_out | 21.5 (",
        "| fc_out | 14.7 (",
        "| chance | 0.5 | 0.4 | 50.0 | 50.0 | 0.5–1.6 | 0.4–1.6 |",
        "| majority | 2.6 | 3.1 | 74.0 | 55.3 | 2.6–11.1 | 3.1–8.4 |",
    ),
}


@pytest.mark.parametrize("page", sorted(TYPED))
def test_a_generated_table_reproduces_the_typed_one(page) -> None:
    evidence = json.loads((FULL / "result.json").read_text())["numbers"]["evidence"]
    make, *typed = TYPED[page]
    table = make(evidence[TABLES[page][0]])
    assert [t for t in typed if t not in table] == []
    rows = {"behaviour": 12, "top_right_vector": 5, "probe_layers": 10}[page]
    assert table.count("\n") == rows + 2


def test_every_feature_has_a_label_and_a_missing_run_is_said(tmp_path) -> None:
    evidence = json.loads((FULL / "result.json").read_text())["numbers"]["evidence"]
    labels = {feature_label(k) for k in evidence["behaviour"]["single_feature_accuracy"]}
    assert len(labels) == 13 and "steps cheese→top-right 5×5" in labels
    write_comparisons(tmp_path, tmp_path / "scoreboard-nothing-full", "")
    for name in TABLES:
        assert "No committed full run" in (tmp_path / f"{name}.md").read_text()
