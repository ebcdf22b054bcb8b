"""The per-latent page of a dictionary: for each latent, how often it fires, its
correlations with the maze features at its position, and its top-activating observations as
maze frames with the latent's map over them (red: where it fires, darker for less).

Frames are small PNGs embedded as data URIs (``analyses.core.images``), so the page is one
self-contained file.
"""

from __future__ import annotations

import html

import numpy as np
from jaxtyping import Float, UInt8

from analyses.core.images import img_tag
from analyses.dictionary.features import FEATURES

#: How much of a frame the latent's map covers where it fires most (0: none, 1: all red).
OVERLAY = 0.6


def overlaid(
    frame: UInt8[np.ndarray, "64 64 3"], latent_map: Float[np.ndarray, "l l"], scale: int = 2
) -> UInt8[np.ndarray, "hh ww 3"]:
    """``frame`` enlarged ``scale`` times with ``latent_map`` (one value per grid square,
    ``[i, j]`` from the top) blended in red, proportionally to its peak."""
    size = latent_map.shape[0]
    cover = np.kron(latent_map / max(float(latent_map.max()), 1e-12), np.ones((64 // size,) * 2))
    alpha = OVERLAY * np.clip(cover, 0, 1)[..., None]
    red = np.array([255.0, 0.0, 0.0])
    mixed = (1 - alpha) * frame.astype(np.float64) + alpha * red
    big = np.kron(mixed, np.ones((scale, scale, 1)))
    return big.round().astype(np.uint8)


def latent_page(
    hook: str,
    firing: Float[np.ndarray, " m"],
    correlations: Float[np.ndarray, "m f"],
    top: list[list[tuple[int, float, np.ndarray, np.ndarray]]],
    cheese_rank: dict[int, float],
) -> str:
    """One HTML page for a dictionary at ``hook``: a section per latent ``#latent-<i>``.

    ``top[i]``: latent ``i``'s top observations as (maze seed, peak code, frame ``(64, 64,
    3)``, the latent's map ``(l, l)``); ``cheese_rank``: latent -> its mean cheese score on
    the selection observations (``features.cheese_rank``)."""
    order = np.argsort(-firing, kind="stable")
    sections = []
    for i in order:
        alive = firing[i] > 0
        corr = correlations[i]
        # Complementary features (wall/open) correlate equally and oppositely: rounded, their
        # tie goes to the first feature in every run, not to whichever float noise favours.
        best = np.argsort(-np.round(np.abs(corr), 6), kind="stable")[:3]
        labels = ", ".join(f"{FEATURES[f]} {corr[f]:+.2f}" for f in best)
        frames = " ".join(
            img_tag(overlaid(frame, m), f"maze {seed}, peak code {peak:.3g}")
            + f"<figcaption>maze {seed} · peak {peak:.3g}</figcaption>"
            for seed, peak, frame, m in top[i]
        )
        locate = cheese_rank.get(int(i))
        sections.append(
            f'<section id="latent-{i}"><h2>latent {i}</h2>'
            f"<p>fires on {firing[i]:.2%} of the test vectors"
            + ("" if alive else " (dead on the test mazes)")
            + f"; strongest feature correlations: {html.escape(labels)}"
            + ("" if locate is None else f"; cheese score {locate:.3f} (selection)")
            + f'</p><div class="frames">{frames}</div>'
            + _table(corr)
            + "</section>"
        )
    style = (
        "body{font-family:sans-serif;margin:2em}section{border-top:1px solid #ccc}"
        ".frames img{margin:4px;image-rendering:pixelated}table{border-collapse:collapse}"
        "td,th{padding:2px 8px;border:1px solid #ddd;font-size:small}"
    )
    head = (
        f"<h1>Latents of the dictionary at {html.escape(hook)}</h1><p>{len(firing)} latents, "
        "most frequent first. Correlations: Pearson over every grid square of every test "
        "observation; frames: the test observations where the latent's code peaks highest, "
        "its map in red.</p>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Latents at {html.escape(hook)}"
        f"</title><style>{style}</style></head><body>{head}{''.join(sections)}</body></html>"
    )


def _table(corr: np.ndarray) -> str:
    header = "".join(f"<th>{f}</th>" for f in FEATURES)
    cells = "".join(f"<td>{v:+.2f}</td>" for v in corr)
    return f"<table><tr>{header}</tr><tr>{cells}</tr></table>"
