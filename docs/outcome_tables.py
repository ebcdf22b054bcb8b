"""Tables of rollout outcomes from the committed full scoreboard's evidence: the behaviour
page's details (10,000 levels: P(reached cheese) by size, the identifiable coefficients) and
the generalisation page's (2,000 levels: the outcomes by maze size, with the sentence that
reads them, and the corners of the largest mazes). One episode per maze and condition:
Wilson intervals; coefficients: a bootstrap of the whole fit over mazes.
"""

from __future__ import annotations

from analyses.core.markdown import markdown_table

#: How a feature key's parts read: ``euclid_cheese_to_top_right`` is
#: "Euclidean cheese→top-right cell".
WORDS = {
    "euclid": "Euclidean",
    "steps": "steps",
    "decision": "decision square",
    "cheese": "cheese",
    "top_right": "top-right cell",
    "top_right_region": "top-right 5×5",
}
#: The features whose name is no distance.
NAMED = {
    "maze_size": "maze size",
    "cheese_up_right_from_decision": "cheese up and right of the decision square",
    "decision_to_left_wall": "columns decision square→left edge",
}


def feature_label(key: str) -> str:
    """``steps_decision_to_cheese`` -> "steps decision square→cheese"."""
    if key in NAMED:
        return NAMED[key]
    kind, rest = key.split("_", 1)
    start, end = rest.split("_to_", 1)
    return f"{WORDS[kind]} {WORDS[start]}→{WORDS[end]}"


def _kn(r: dict) -> str:
    return "—" if not r["n"] else f"{r['k']}/{r['n']}"


def k_of_n(r: dict) -> str:
    """ "76/165 (46.1%; 38.6–53.7%)"; "— (none)" where no maze counts."""
    if not r["n"]:
        return "— (none)"
    low, high = r["ci95"]
    return f"{r['k']}/{r['n']} ({r['rate']:.1%}; {100 * low:.1f}–{100 * high:.1f}%)"


def _largest_change(series: dict[int, float]) -> tuple[int, int, float]:
    """The neighbouring sizes with the largest change (in absolute value) of ``series``."""
    sizes = sorted(series)
    steps = [(a, b, series[b] - series[a]) for a, b in zip(sizes, sizes[1:])]
    return max(steps, key=lambda s: abs(s[2]))


def size_table(g: dict) -> str:
    """Reached the cheese, took a shortest path, entered the region first (free-choice
    mazes; every informative maze), forced mazes, per maze size; then what they say."""
    by = {int(s): v for s, v in g["by_size"].items()}
    largest = max(by)
    rows = [
        [
            str(side),
            k_of_n(v["success"]) if side == largest else _kn(v["success"]),
            _kn(v["shortest_path_to_cheese"]),
            k_of_n(v["top_right_first"]),
            _kn(v["forced"]),
            _kn(v["top_right_first_informative"]),
        ]
        for side, v in sorted(by.items())
    ]
    head = [
        "side",
        "reached the cheese",
        "a shortest path to it",
        "the region first, free-choice mazes",
        "forced (of the mazes with a decision square, the cheese outside)",
        "the region first, every informative maze (forced included)",
    ]
    free = {s: v["top_right_first"] for s, v in by.items() if v["top_right_first"]["n"]}
    every = {
        s: v["top_right_first_informative"]["rate"]
        for s, v in by.items()
        if v["top_right_first_informative"]["n"]
    }
    first, last = min(free), max(free)
    a, b, change = _largest_change({s: r["rate"] for s, r in free.items()})
    c, d, fall = _largest_change(every)
    forced = {s: by[s]["forced"] for s in (first, last)}
    reading = (
        f"On the free-choice mazes, entering the top-right region first goes from "
        f"{free[first]['k']} of {free[first]['n']} at side {first} to "
        f"{free[last]['rate']:.1%} at {last}; the largest change between neighbouring sizes "
        f"is {a} → {b}, {100 * change:+.1f} points. Counted over every informative maze (the "
        f"last column), the rate is {every[first]:.1%} at side {first} and "
        f"{every[last]:.1%} at {last}, with its largest change {c} → {d}, "
        f"{100 * fall:+.1f} points. Forced mazes: {forced[first]['k']} of "
        f"{forced[first]['n']} at side {first}, {forced[last]['k']} of {forced[last]['n']} "
        f"at side {last}."
    )
    return markdown_table(head, rows) + "\n" + reading + "\n"


def corner_table(g: dict) -> str:
    """Reaching the cheese in each corner of the largest mazes, within the step budget and
    within procgen's limit."""
    names = {
        "top_right_region": "top-right 5×5 (the reference)",
        "top_left": "top-left corner",
        "bottom_right": "bottom-right corner",
        "bottom_left": "bottom-left, beside the start",
    }
    rows = [
        [names.get(key, key), k_of_n(c["within_budget"]), k_of_n(c["within_limit"])]
        for key, c in g["corners"].items()
    ]
    return (
        f"Corners of the {g['corner_mazes']} mazes of side {g['largest_size']} (step budget "
        f"{g['step_budget']:.1f} steps: the mean of the reference episodes that reached a "
        "cheese in the top-right 5×5):\n\n"
        + markdown_table(
            [
                "cheese",
                "within the budget (episodes whose shortest path fits it)",
                "within 500 steps (every episode)",
            ],
            rows,
        )
    )


def behaviour_details(b: dict) -> str:
    """P(reached cheese) by maze size on the regression set; the coefficients the maze
    bootstrap can identify (VIF ≤ 10), with how often L1 kept each; the population of every
    decision-square level."""
    sizes = markdown_table(
        ["side", "reached the cheese"],
        [[side, k_of_n(r)] for side, r in b["p_reached_cheese_by_maze_size"].items()],
    )
    kept = {k: v for k, v in b["bootstrap"].items() if v["identifiable"]}
    coefficients = markdown_table(
        ["feature", "coefficient (95% CI)", "kept by L1", "VIF"],
        [
            [
                feature_label(k),
                f"{v['estimate']:+.3f} ({v['low']:+.3f} to {v['high']:+.3f})",
                f"{v['selected']:.0%}",
                f"{v['vif']:.1f}",
            ]
            for k, v in sorted(kept.items(), key=lambda kv: -abs(kv[1]["estimate"]))
        ],
    )
    every = b["p_reached_cheese_all_decision_square"]
    return (
        f"P(reached cheese) on the regression set, by maze size:\n\n{sizes}\n"
        f"The {len(kept)} identifiable features' standardised coefficients (13-feature "
        f"model, {b['bootstrap_resamples']} maze-bootstrap refits of the whole fit; "
        f"{len(b['high_vif_features'])} features have VIF > 10 and get no interval):\n\n"
        f"{coefficients}\nEvery level with a decision square, the cheese anywhere: "
        f"{b['levels_with_decision_square']:,} levels; the agent reached the cheese in "
        f"{k_of_n(every)}.\n"
    )
