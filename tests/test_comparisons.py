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
    behaviour_details,
    behaviour_table,
    corner_table,
    feature_label,
    probe_layers_table,
    size_table,
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
    # the same run; P(reached cheese) by size was typed as 99% (n = 379) … 51% (961)
    "behaviour_details": (
        behaviour_details,
        # typed: 99% (n = 379), 96% (660), 86% (787), 69% (881), 51% (961)
        "/379 (99.",
        "/660 (96.",
        "/787 (",
        "/881 (69.",
        "/961 (",
        "| steps cheese→top-right 5×5 | -0.425 (-0.717 to -0.175) | 100% |",
        "| columns decision square→left edge | -0.432 (-0.586 to -0.205) | 100% |",
        "| maze size | +0.362 (+0.083 to +0.655) | 100% |",
        "| Euclidean decision square→cheese | -0.106 (-0.342 to +0.079) | 94% |",
        "5,250 levels; the agent reached the cheese in 4363/5250 (83.1%; 82.1–84.1%)",
    ),
    # python -m analyses.top_right_vector --checkpoint model_160022528 --mazes 100
    "top_right_vector": (
        top_right_table,
        "the 71 mazes with a margin",
        "0.121 → 0.167, 0.215, 0.278 (grows)",
        "| 0.120 vs 0.121 |",
        "0.804 → 0.723 with the top-right vector, → 0.128 with the cheese vector",
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
    # python -m analyses.generalisation --checkpoint model_160022528 --mazes 2000
    "generalisation_sizes": (
        size_table,
        "| 3 | 292/292 | 291/292 | — (none) | — | — |",
        "| 7 | 273/274 | 265/274 | 0/19 (0.0%; 0.0–16.8%) | 56/75 | 62/118 |",
        "| 13 | 226/279 | 165/279 | 38/141 (27.0%; 20.3–34.8%) | 30/171 | 71/231 |",
        "| 15 | 227/321 (70.7%; 65.5–75.4%) | 150/321 | 76/165 (46.1%; 38.6–53.7%) | 37/202 |",
        "13 → 15, +19.1 points",
        "52.5% at side 7",
        "7 → 9, -21.",  # typed: "a fall of about 21 points"
    ),
    "generalisation_corners": (
        corner_table,
        "step budget 32.2 steps",
        "| top-right 5×5 (the reference) | 203/205 (99.0%; 96.5–99.7%) |",
        "| top-left corner | 3/199 (1.5%; 0.5–4.3%) | 6/321 (1.9%; 0.9–4.0%) |",
        "| bottom-right corner | 8/213 (3.8%; 1.9–7.2%) | 9/321 (2.8%; 1.5–5.2%) |",
        "| bottom-left, beside the start | 287/321 (89.4%; 85.6–92.3%) |",
    ),
}


@pytest.mark.parametrize("page", sorted(TYPED))
def test_a_generated_table_reproduces_the_typed_one(page) -> None:
    evidence = json.loads((FULL / "result.json").read_text())["numbers"]["evidence"]
    make, *typed = TYPED[page]
    table = make(evidence[TABLES[page][0]])
    assert [t for t in typed if t not in table] == []
    rows = {"behaviour": 12, "top_right_vector": 6, "probe_layers": 10}.get(page)
    assert rows is None or table.count("\n") == rows + 2


def test_every_feature_has_a_label_and_a_missing_run_is_said(tmp_path) -> None:
    evidence = json.loads((FULL / "result.json").read_text())["numbers"]["evidence"]
    labels = {feature_label(k) for k in evidence["behaviour"]["single_feature_accuracy"]}
    assert len(labels) == 13 and "steps cheese→top-right 5×5" in labels
    write_comparisons(tmp_path, tmp_path / "scoreboard-nothing-full")
    for name in TABLES:
        assert "No committed full run" in (tmp_path / f"{name}.md").read_text()
