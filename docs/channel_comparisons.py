"""The channel pages' comparisons with the paper (cheese channels, resampling, retargeting),
generated from the committed runs under ``docs/results/`` instead of typed into the pages.

    write_channel_comparisons(out, results)  # out/<name>-committed/{table.md,provenance.txt}

A page shows one with ``{{ table("<name>-committed/table") }}``, followed by its run's line.

Each block states its n; rates and means of several observations per maze carry the
interval from a bootstrap over mazes that the result itself saves.
"""

from __future__ import annotations

import json
from pathlib import Path

from comparisons import estimate, provenance_line
from outcome_tables import k_of_n

from analyses.core.markdown import markdown_table
from hooked_impala.files import write_atomically

#: The paper's resampling numbers (s = 4, hard mode, 11 of 128 channels, 30 seeds): mean
#: total variation of the action distribution, same / different cheese cell.
PUBLISHED_RESAMPLE = {
    "set": "0.88% / 1.26% (11 cheese channels)",
    "random": "0.60% / 0.54% (11 random channels)",
    "single": "0.18% / 0.31% (channel 55)",
}


def _percent(mean: dict) -> str:
    """A saved ``spread`` (mean, ci95 over mazes) as "15.2% (13.2–17.3%)"; an interval
    below zero as "0.2% (−0.1 to 0.6%)"."""
    low, high = (100 * v for v in mean["ci95"])
    span = f"{low:.1f}–{high:.1f}" if low >= 0 else f"{low:.1f} to {high:.1f}".replace("-", "−")
    return f"{100 * mean['mean']:.1f}% ({span}%)"


def cheese_channels_table(n: dict) -> str:
    """The top channels by the ranking's score, with the chance levels."""
    chance = n["chance"]
    rows = [
        [
            str(rank),
            str(c["channel"]),
            f"{c['correlation']:.2f}",
            f"{c['difference_correlation']:.2f}",
            f"{c['argmax_distance']:.2f}",
            estimate(c["max_near_cheese"]),
        ]
        for rank, c in enumerate(n["top_channels"][:4], start=1)
    ]
    rows.append(
        [
            "chance",
            "a random cell of the maze",
            "0",
            "0",
            f"{chance['argmax_distance']:.2f} (flat map "
            f"{chance['argmax_distance_of_a_flat_map']:.2f})",
            f"{chance['max_near_cheese']:.1%}",
        ]
    )
    head = [
        "rank",
        "channel",
        "correlation",
        "difference correlation",
        "mean distance of the maximum (squares)",
        f"maximum within one square of the cheese ({n['mazes']} mazes)",
    ]
    return (
        f"{n['observations']:,} cheese placements in {n['mazes']} mazes, ranked by "
        f"{n['score']}; {n['channels_closer_than_chance']} of {n['layer_shape'][0]} channels "
        "peak closer to the cheese than chance.\n\n" + markdown_table(head, rows)
    )


def resample_table(n: dict) -> str:
    """Total variation of the action distribution after resampling, same and different
    cheese cell, and their paired difference, per subset."""
    groups = n["groups"]
    rows = []
    for kind, entry in groups.items():
        rows.append(
            [
                entry["label"],
                PUBLISHED_RESAMPLE.get(kind, "—"),
                _percent(entry["same"]),
                _percent(entry["different"]),
                _percent(entry["different_minus_same"]),
            ]
        )
    for i, (channel, entry) in enumerate(n["single_channels"].items()):
        rows.append(
            [
                f"channel {channel} alone",
                PUBLISHED_RESAMPLE["single"] if i == 0 else "",
                _percent(entry["same"]),
                _percent(entry["different"]),
                _percent(entry["different_minus_same"]),
            ]
        )
    head = [
        "resampled",
        "published (s = 4)",
        "same cheese cell",
        "different cheese cell",
        "different − same (paired)",
    ]
    above = {k: e["different_minus_same"]["ci95"][0] > 0 for k, e in groups.items()}
    holds = above["set"] and not above.get("random", False)
    verdict = (
        "In this run the paper's pattern holds: the cheese channels' paired difference is "
        "above zero and the random channels' interval reaches zero."
        if holds
        else "In this run the paper's pattern does not hold: "
        + (
            "the cheese channels' paired difference is not above zero."
            if not above["set"]
            else "the random channels' paired difference is above zero too."
        )
    )
    return (
        f"{n['positions']} mouse positions in {n['mazes']} mazes; channels: "
        f"{n['channels_from']}; intervals over mazes.\n\n"
        + markdown_table(head, rows)
        + f"\n{verdict}\n"
    )


def _value(e: dict | None) -> str:
    """A saved ``Estimate`` of a value in [0, 1] that is no rate, as "0.643 (0.612–0.671)"."""
    if e is None:
        return "n/a"
    low, high = e["ci95"]
    return f"{e['value']:.3f} ({low:.3f}–{high:.3f})"


def retarget_table(n: dict) -> str:
    """Path probabilities of the targets (intervals over mazes), the rollouts, and the
    share of activations the clamp edits."""
    means = n["over_mazes"]
    rows = [
        [f"mean normalised path probability: {name}", _value(means[key])]
        for name, key in (
            ("no intervention", "original"),
            ("clamped", "clamped"),
            ("cheese moved there", "moved_cheese"),
        )
    ]
    rows += [
        ["clamped ÷ cheese moved, ratio of the means", _value(means["ratio_of_means"])],
        [
            "success ratio (clamped ÷ cheese moved per target), median",
            f"{n['median_success_ratio']:.2f}",
        ],
        [
            "Spearman: success ratio vs steps to the top-right path; vs maze size",
            f"{n['spearman_ratio_vs_steps_to_top_right_path']:+.2f}; "
            f"{n['spearman_ratio_vs_maze_size']:+.2f}",
        ],
    ]
    r = n.get("rollouts")
    if r:
        for name, key in (
            ("clamped", "clamped"),
            ("no intervention", "original"),
            ("cheese moved there", "cheese_moved"),
        ):
            rows.append(
                [
                    f"rollouts reaching the target in {r['budget']} steps: {name}",
                    f"{estimate(r[key])}; {r[key]['k']}/{r[key]['episodes']} episodes",
                ]
            )
    m = n["modified"]
    rows.append(
        [
            "activations the clamp edits per forward pass",
            f"{m['changed_per_forward']:g} of {m['activations_per_forward']:,}: "
            f"{m['percent']:.5f}% of the network, {m['percent_of_hooked']:.3f}% of the layer",
        ]
    )
    return (
        f"Channels {n['channels']} ({n['channel_source']}, chosen on selection mazes) clamped "
        f"to {n['magnitude']:.2f} at `{n['layer']}`; {n['targets']:,} targets in {n['mazes']} "
        f"mazes of sizes {n['maze_sizes'][0]}–{n['maze_sizes'][-1]}; intervals over mazes.\n\n"
        + markdown_table(["", "this agent (s = 1, easy)"], rows)
    )


def corners_table(n: dict) -> str:
    """Reaching the top-left and bottom-right corners within the step budget (one episode
    per maze and corner: Wilson), and the pooled clamp."""
    c = n["corners"]
    rows = [
        [
            corner.replace("_", "-"),
            str(t["skipped"]),
            f"{t['mean_path_steps']:.1f}; {k_of_n(t['path_within_budget'])}",
            k_of_n(t["clamped"]),
            k_of_n(t["original"]),
            k_of_n(t["cheese_moved"]),
        ]
        for corner, t in c["targets"].items()
    ]
    pooled = c["pooled_clamped"]
    return (
        f"The {c['mazes']} mazes of size {c['maze_size']}; budget {c['budget']} steps (the "
        f"mean steps to a top-right cheese, {c['budget_from']['mean_steps']:.1f}, rounded up; "
        f"reached in {k_of_n(c['budget_from']['reached'])}). Pooled, the clamp reached a corner "
        f"in {pooled['k']} of {pooled['episodes']} episodes: {estimate(pooled)}, editing "
        f"{c['modified']['percent']:.5f}% of the network's activations.\n\n"
        + markdown_table(
            [
                "corner",
                "mazes skipped (path through the cheese)",
                "shortest path: mean steps; within the budget",
                "clamped",
                "no intervention",
                "cheese moved there",
            ],
            rows,
        )
    )


#: Name -> (committed result folder, the function that writes its block).
BLOCKS = {
    "cheese_channels": ("cheese_channels-model_160022528", cheese_channels_table),
    "resample": ("resample-model_160022528", resample_table),
    "retarget": ("retarget-model_160022528", retarget_table),
    "retarget_corners": ("retarget-corners-model_160022528", corners_table),
}


def write_channel_comparisons(out: Path, results: Path) -> None:
    """``out/<name>-committed/table.md`` and its run line (``provenance.txt``) for each of
    ``BLOCKS``; without the committed run, a sentence saying so."""
    for name, (folder, make) in BLOCKS.items():
        where, into = results / folder, out / f"{name}-committed"
        into.mkdir(parents=True, exist_ok=True)
        if not (where / "result.json").is_file():
            write_atomically(into / "table.md", f"No committed run in `{folder}`.\n")
            write_atomically(into / "provenance.txt", f"no committed run in {folder}\n")
            continue
        numbers = json.loads((where / "result.json").read_text())["numbers"]
        write_atomically(into / "table.md", make(numbers))
        write_atomically(into / "provenance.txt", provenance_line(where) + "\n")
