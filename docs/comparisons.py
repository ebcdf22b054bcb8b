"""Tables comparing this agent with the paper, generated from a committed full run instead of
typed into the pages (they drifted when typed). The published numbers travel inside the
result's evidence (``published``), next to the measured ones.

    write_comparisons(out, folder)  # out/<page>.md per page, out/provenance.txt

Also the line that names a committed result (``provenance``), for the methods page and the
generated blocks.
"""

from __future__ import annotations

import json
from pathlib import Path

from outcome_tables import behaviour_details, corner_table, feature_label, size_table

from analyses.core.markdown import markdown_table
from hooked_impala.files import write_atomically


def rate(r: dict) -> str:
    """``{rate, k, n, ci95}`` as "75.8% (2,782/3,668; 74.4–77.2%)"."""
    low, high = r["ci95"]
    return f"{r['rate']:.1%} ({r['k']:,}/{r['n']:,}; {100 * low:.1f}–{100 * high:.1f}%)"


def behaviour_table(b: dict) -> str:
    """The behaviour comparison (the scoreboard's ``behaviour`` evidence, full size)."""
    published, choice = b["published"], b["choice"]
    base = b["baseline_accuracy"]
    single = b["single_feature_accuracy"]
    best = max(single, key=lambda k: single[k]["mean"])
    four = b["published_features_accuracy"]
    rows = [
        (
            "regression set: a decision square, the cheese outside the top-right 5×5",
            f"{published['mazes_with_decision_square']:,} of {published['levels']:,} levels",
            f"{b['n_mazes_with_decision_square']:,} of {b['levels']:,} levels",
        ),
        (
            "P(reached cheese) on the regression set",
            f"{published['p_reached_cheese']:.1%}",
            rate(b["p_reached_cheese"]),
        ),
        (
            f"reached the cheese before entering the top-right region: all {choice['mazes']:,}",
            "—",
            f"{rate(choice['cheese_first_all'])}, a mix of choice and geometry (next rows)",
        ),
        (
            "… forced mazes: the only path to the cheese crosses the region",
            "—",
            f"{choice['forced_mazes']:,} of {choice['mazes']:,} ({choice['forced_share']:.1%}); "
            f"the cheese first in {choice['cheese_first_forced']['k']:,} of them",
        ),
        (
            f"… the {choice['free_choice_mazes']:,} free-choice mazes (the choice itself)",
            "—",
            f"**{rate(choice['cheese_first_free_choice'])}**",
        ),
        (
            "held-out accuracy, all features, against its majority baseline",
            f"{published['accuracy']:.1%} (11 features); no baseline reported",
            f"{b['heldout_accuracy']:.3f} ± {b['heldout_accuracy_sd']:.3f} "
            f"({len(single)} features) against {base:.3f}: "
            f"{100 * (b['heldout_accuracy'] - base):+.1f} points",
        ),
        (
            "held-out accuracy, the published 4 features, against the same baseline",
            f"{published['accuracy_4_features']:.1%}",
            f"{four['mean']:.3f} ± {four['sd']:.3f} against {base:.3f}: "
            f"{100 * (four['mean'] - base):+.1f} points",
        ),
        (
            "one feature alone",
            f"steps: {published['accuracy_steps_alone']:.1%}",
            f"steps decision square→cheese {single['steps_decision_to_cheese']['mean']:.3f}; "
            f"best: {feature_label(best)} {single[best]['mean']:.3f}",
        ),
    ]
    for key, value in published["coefficients"].items():
        c = b["published_features_coefficients"][key]
        sign = {1: "positive", -1: "negative"}.get(c["majority_sign"], "zero")
        agree = round(c["sign_stability"] * b["splits"])
        rows.append(
            (
                f"4-feature coefficient (mean ± sd over the {b['splits']} splits): "
                f"{feature_label(key)}",
                f"{value:+.3f}",
                f"{c['mean']:+.3f} ± {c['sd']:.3f} ({sign} in {agree}/{b['splits']} splits)",
            )
        )
    return markdown_table(
        ["", "published (s = 4, hard mode)", "this agent (s = 1, easy mode)"], rows
    )


def top_right_table(t: dict) -> str:
    """The top-right vector comparison (the scoreboard's ``top_right_vector`` evidence): its
    own vector at each coefficient, the next maze's, the composition, the rollouts."""
    own = {float(c): p for c, p in t["self"]["mean_p_top_right_move"].items()}
    moved = t["transfer"]["mean_p_top_right_move"]
    parts, joint = t["composition"], t["composition"]["additivity_p_top_right"]
    grows = own[0.0] < own[0.5] < own[1.0] < own[2.0]
    rollouts = t["rollouts"]
    rows = [
        (
            "mean P(top-right-ward move) at the decision squares, coefficient 0 → 0.5, 1, 2",
            "the effect grows with the coefficient",
            f"{own[0.0]:.3f} → {own[0.5]:.3f}, {own[1.0]:.3f}, {own[2.0]:.3f}"
            + (" (grows)" if grows else " (does not grow steadily)"),
        ),
        ("subtracting it (coefficient −1)", "does little", f"{own[-1.0]:.3f} vs {own[0.0]:.3f}"),
        (
            "mean P(cheese-ward move) at the decision squares: top-right vector +1, against "
            "the cheese vector −1",
            "—",
            f"{parts['neither']['mean_p_cheese_move']:.3f} → "
            f"{parts['top-right vector x(+1)']['mean_p_cheese_move']:.3f} with the top-right "
            f"vector, → {parts['cheese vector x(-1)']['mean_p_cheese_move']:.3f} with the "
            "cheese vector",
        ),
        (
            "the next maze's vector at +2 (transfer)",
            "—",
            f"{float(moved['2.0']):.3f} (its own vector: {own[2.0]:.3f})",
        ),
        (
            "with the cheese vector (−1)",
            "the two add",
            f"both together {parts['both']['mean_p_top_right_move']:.3f}, vs "
            f"{parts['cheese vector x(-1)']['mean_p_top_right_move']:.3f} (cheese vector −1 "
            f"alone) and {parts['top-right vector x(+1)']['mean_p_top_right_move']:.3f} "
            f"(top-right +1 alone); joint effect {joint['mean_joint_effect']:+.3f}, sum of the "
            f"single effects {joint['mean_sum_of_single_effects']:+.3f}",
        ),
        (
            "rollouts: the top-right region entered before the cheese",
            "—",
            f"{rate(rollouts['original']['top_right_first'])} original, "
            f"{rate(rollouts['top-right vector x(+1)']['top_right_first'])} with +1",
        ),
    ]
    return markdown_table(
        ["", "published (s = 4)", f"this agent (s = 1; the {t['mazes']} mazes with a margin)"], rows
    )


#: The probes' labels as the tables' columns, in order.
PROBE_LABELS = (
    "cheese_cell",
    "mouse_cell",
    "cheese_present",
    "cell_open",
    "cheese_square",
    "mouse_square",
)


def estimate(e: dict | None, unit: str = "%") -> str:
    """A saved maze-bootstrap ``Estimate`` as "77.4% (73.2–81.3%)" ("77.4 (73.2–81.3)" with
    ``unit=""``); "n/a" when missing; a value every maze shares says so instead of an
    interval of zero width."""
    if e is None:
        return "n/a"
    low, high = e["ci95"]
    if low == high:
        return f"{100 * e['value']:.1f}{unit} (all {e['n']} mazes alike)"
    return f"{100 * e['value']:.1f}{unit} ({100 * low:.1f}–{100 * high:.1f}{unit})"


def _short(layer: str) -> str:
    return layer.removeprefix("embedder.")


def _span(values: list[float], unit: str = "%") -> str:
    low, high = 100 * min(values), 100 * max(values)
    return f"{low:.1f}{unit}" if high - low < 0.05 else f"{low:.1f}–{high:.1f}{unit}"


def probe_layers_table(p: dict) -> str:
    """Held-out accuracy (%) per layer × label (the scoreboard's ``probes`` evidence), each
    with its interval over test mazes; conv columns add the share within one square."""
    rows = {(r["layer"], r["label"]): r for r in p["table"]}
    layers = list(dict.fromkeys(r["layer"] for r in p["table"]))
    lines = []
    for layer in layers:
        cells = []
        for label in PROBE_LABELS:
            row = rows.get((layer, label))
            cell = "—" if row is None else estimate(row["over_mazes"], unit="")
            if row is not None and "within_one_square_over_mazes" in row:
                cell += f"; ±1: {100 * row['within_one_square_over_mazes']['value']:.1f}"
            cells.append(cell)
        lines.append([_short(layer), *cells])
    for what in ("chance", "majority"):
        spans = [
            _span([r[what] for r in p["table"] if r["label"] == label], unit="")
            if any(r["label"] == label for r in p["table"])
            else "—"
            for label in PROBE_LABELS
        ]
        lines.append([what, *spans])
    return markdown_table(["layer", *(f"`{label}`" for label in PROBE_LABELS)], lines)


def probes_table(p: dict) -> str:
    """The probes compared with the paper (the scoreboard's ``probes`` evidence)."""
    rows = {(_short(r["layer"]), r["label"]): r for r in p["table"]}

    def acc(layer: str, label: str) -> str:
        return estimate(rows[(layer, label)]["over_mazes"])

    def spread(block: str, label: str, what: str = "over_mazes") -> str:
        found = [r for (layer, lb), r in rows.items() if layer.startswith(block) and lb == label]
        return _span([r[what]["value"] if what == "over_mazes" else r[what] for r in found])

    a5, b8 = p["a5"], p["b8"]
    within = rows[("block2.res1.resadd_out", "cheese_square")]["within_one_square_over_mazes"]
    if b8["worst_maze_size"] is None:
        b8_text = f"no maze size has enough mazes to judge ({b8['too_few']})"
    else:
        b8_text = (
            f"worst judged size {b8['worst_maze_size']}: "
            f"{estimate(b8['worst_size_accuracy'])} over "
            f"{b8['worst_size_accuracy']['n']} mazes; {len(b8['by_maze_size'])} sizes judged"
            + (f", too few mazes at sizes {b8['too_few']}" if b8["too_few"] else "")
        )
    table = [
        (
            "cheese location, conv probes",
            "nearly perfect from blocks 1–2",
            f"block 1: {acc('block1.res1.resadd_out', 'cheese_square')} at `res1`, "
            f"{acc('block1.res2.resadd_out', 'cheese_square')} at `res2`. Block 2: "
            f"{acc('block2.res1.resadd_out', 'cheese_square')} exact but {estimate(within)} "
            f"within one square at `res1`; {acc('block2.res2.resadd_out', 'cheese_square')} "
            "at `res2`",
        ),
        (
            "cell open / wall",
            "perfect in block 1, near chance in block 3",
            f"{spread('block1', 'cell_open')} in block 1, {spread('block3', 'cell_open')} in "
            f"block 3 (majority {spread('block3', 'cell_open', 'majority')}, chance 50%)",
        ),
        (
            '"found the cheese"',
            "78–85% vs a 68% baseline",
            "not the same label. Cheese in the picture, linear: "
            f"{spread('block2', 'cheese_present')} in block 2 vs a "
            f"{spread('block2', 'cheese_present', 'majority')} majority; "
            f"{spread('block1', 'cheese_present')} in block 1 (majority "
            f"{spread('block1', 'cheese_present', 'majority')})",
        ),
        (
            f"A5: linear, `{_short(a5['layer'])}`, > 70%",
            "—",
            f"exact cell {estimate(a5['exact_cell'])}; row and column by their own probes, "
            f"both right {estimate(a5.get('row_and_column'))} (row "
            f"{estimate(a5['row'])}, column {estimate(a5['column'])}); "
            f"{a5['exact_cell']['n']} test mazes",
        ),
        (
            "B8: exact cheese cell > 90% for every maze size",
            "—",
            f"{b8['probe']} at `{_short(b8['layer'])}`, chosen on {b8['selection_mazes']} "
            f"test mazes, scored on the other {b8['test_mazes']}: {b8_text}",
        ),
    ]
    ours = (
        f"this agent (s = 1, {p['mode']}; {p['levels']:,} levels, {p['mazes']['test']} test mazes)"
    )
    return markdown_table(["", "published (s = 4, hard)", ours], table)


def provenance(folder: Path) -> str:
    """One line saying which run a committed result is: quick or full, levels, seed,
    checkpoint (sha256 prefix), commit, the command."""
    saved = json.loads((folder / "result.json").read_text())["metadata"]
    told = folder / "command.txt"
    command = told.read_text().strip() if told.is_file() else ""
    parameters = saved.get("parameters", {})
    sample = "quick" if parameters.get("quick") else "full"
    sha = (saved["checkpoint"].get("sha256") or "")[:12]
    levels = parameters.get("levels") or f"{len(saved.get('maze_seeds') or [])} mazes"
    return (
        f"{sample} run of `{saved['analysis']}` on `{saved['checkpoint']['name']}` (sha256 "
        f"`{sha}…`), {levels}, seed {saved.get('seed')}; {command}"
    )


def provenance_line(folder: Path) -> str:
    """:func:`provenance` as a run line under a generated block (no markdown)."""
    if not (folder / "result.json").is_file():
        return ""
    return provenance(folder).replace("`", "").replace("\n", " ")


def write_comparisons(out: Path, folder: Path) -> None:
    """``out/<table>.md`` for each of ``TABLES`` from the committed full scoreboard in
    ``folder``, and its run line (``out/provenance.txt``); without that run, a sentence
    saying so."""
    if not (folder / "result.json").is_file():
        for name in TABLES:
            write_atomically(out / f"{name}.md", f"No committed full run in `{folder.name}`.\n")
        write_atomically(out / "provenance.txt", f"no committed full run in {folder.name}\n")
        return
    evidence = json.loads((folder / "result.json").read_text())["numbers"]["evidence"]
    for name, (key, make) in TABLES.items():
        write_atomically(out / f"{name}.md", make(evidence[key]))
    write_atomically(out / "provenance.txt", provenance_line(folder) + "\n")


#: Table name -> (the scoreboard evidence it reads, the function that writes it).
TABLES = {
    "behaviour": ("behaviour", behaviour_table),
    "top_right_vector": ("top_right_vector", top_right_table),
    "probes": ("probes", probes_table),
    "probe_layers": ("probes", probe_layers_table),
    "behaviour_details": ("behaviour", behaviour_details),
    "generalisation_sizes": ("generalisation", size_table),
    "generalisation_corners": ("generalisation", corner_table),
}
