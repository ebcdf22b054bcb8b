"""Markdown tables of a saved dictionary result (its ``result.json`` numbers), for the docs
page: the page shows these tables verbatim, and a test rebuilds them from the committed
result and finds each on the page, so a number on the page cannot drift from the run."""

from __future__ import annotations

from typing import Any

from analyses.core.markdown import markdown_table
from analyses.dictionary.fidelity import CONDITIONS


def _estimate(saved: dict | None, fmt: str = ".3g") -> str:
    if saved is None:
        return "n/a"
    low, high = saved["ci95"]
    return f"{saved['value']:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def quality_table(numbers: dict[str, Any]) -> str:
    head = ["hook", "C", "size", "k", "training vectors", "FVU", "L0", "dead", "dense"]
    rows = []
    for hook, h in numbers["hooks"].items():
        q, sae = h["quality"], h["sae"]
        rows.append(
            [f"`{hook}`", sae["channels"], sae["size"], sae["k"], f"{h['training_vectors']:,}"]
            + [f"{q['fvu']:.4f}", f"{q['l0']:.2f}"]
            + [f"{q['dead_fraction']:.1%}", f"{q['dense_fraction']:.1%}"]
        )
    return markdown_table(head, rows)


def fidelity_table(numbers: dict[str, Any]) -> str:
    head = ["hook", "edit", "KL at the decision square (nats)", "cheese reached"]
    rows = []
    for hook, h in numbers["hooks"].items():
        b = h["behaviour"]
        edits = [("none", "0", b["original"])]
        edits += [(c.replace("_", " "), _estimate(h["decision_kl"][c]), b[c]) for c in CONDITIONS]
        for i, (edit, kl, reached) in enumerate(edits):
            cheese, top_right = (_estimate(reached[k], ".3f") for k in ("cheese", "top_right"))
            rows.append([f"`{hook}`" if i == 0 else "", edit, kl, cheese, top_right])
    return markdown_table([*head, "top right reached"], rows)


def tracking_table(numbers: dict[str, Any]) -> str:
    head = ["hook", "best latent", "its cheese score", "best channel", "its cheese score"]
    head += ["latent − channel", "peak near the cheese: latent", "channel"]
    rows = []
    for hook, h in numbers["hooks"].items():
        t = h["cheese_tracking"]
        rows.append(
            [f"`{hook}`", t["best_latent"], _estimate(t["latent"]), t["best_channel_name"]]
            + [_estimate(t["channel"]), _estimate(t["latent_minus_channel"], "+.3f")]
            + [_estimate(t["latent_located"], ".3f"), _estimate(t["channel_located"], ".3f")]
        )
    return markdown_table(head, rows)


def steering_table(numbers: dict[str, Any]) -> str:
    s = numbers["steering"]
    if s is None:
        return "(no steering targets)"
    names = {
        "original": "no edit",
        "latent": f"latent {s['latent']} + {s['strengths']['latent']:.3g} × its direction",
        "channel": f"channel {s['channel']} clamped to {s['strengths']['channel']:.3g}",
        "top_channels": (
            f"channels {s['top_channels']} clamped to {s['strengths']['top_channels']:.3g}"
        ),
        "cheese_moved": "cheese moved to the target",
    }
    rows = [[names[n], _estimate(v, ".3f")] for n, v in s["mean"].items()]
    rows.append(["latent − channel", _estimate(s["latent_minus_channel"], "+.3f")])
    rows.append(["latent − top channels", _estimate(s["latent_minus_channels"], "+.3f")])
    return markdown_table(["at the target's square", "normalised path probability"], rows)


def tables(numbers: dict[str, Any]) -> list[str]:
    """The four tables the docs page shows, in order."""
    return [
        quality_table(numbers),
        fidelity_table(numbers),
        tracking_table(numbers),
        steering_table(numbers),
    ]
