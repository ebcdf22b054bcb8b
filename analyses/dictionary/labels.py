"""Labelling a dictionary without reading every latent: correlations with the maze features
at each position, the top-activating observations, and which latent — against which single
channel of the same layer (either sign) — best singles out the cheese's square, chosen on
the selection mazes by the mean cheese score (``features.cheese_rank``) and scored on the
test mazes by the same score and by how often its peak lies within ``NEAR_SQUARES`` of the
cheese (``features.located``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from analyses.dictionary.features import (
    Correlations,
    cheese_rank,
    cheese_squares,
    located,
    position_features,
)
from hooked_impala.dictionary import ActivationSet, TopKSAE
from hooked_impala.maze import Maze, MazeRenderer
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.stats import bootstrap_over_mazes, paired_difference

#: Observations per forward chunk when encoding (memory, not results).
CHUNK = 256
#: Top-activating observations shown per latent.
TOP_OBSERVATIONS = 3


@dataclass
class Labels:
    """What the labelling found for one dictionary.

    Attributes:
        correlations: ``(size, F)`` Pearson correlations with the features (test mazes).
        top: per latent, its top test observations (row into the activation set, peak code).
        latent_selection: ``(size,)`` each latent's mean cheese score on the selection
            observations; ``channel_selection``: ``(2C,)`` the same for each channel, +
            then − (channel c's negative is ``C + c``).
        best_latent, best_channel: chosen on the selection mazes.
        test: the two chosen maps' cheese scores and located rates on the test mazes, with
            their paired differences, and the top ten latents by selection score.
        peaks: typical peak (mean over selection observations of the map's maximum) of the
            best latent's code and of each channel (signed), for steering magnitudes.
    """

    correlations: np.ndarray
    top: list[list[tuple[int, float]]]
    latent_selection: np.ndarray
    channel_selection: np.ndarray
    best_latent: int
    best_channel: int
    test: dict
    latent_peak: float
    channel_peaks: np.ndarray


def _maps(sae: TopKSAE, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latent maps ``(n, size, l, l)`` and signed channel maps ``(n, 2C, l, l)``."""
    tensor = torch.from_numpy(np.ascontiguousarray(act, dtype=np.float32))
    with torch.no_grad():
        latents = sae.latent_maps(tensor).numpy()
    return latents, np.concatenate([act, -act], axis=1)


def _mazes_at(data: ActivationSet, rows: np.ndarray, by_seed: dict[int, Maze]) -> list[Maze]:
    return [by_seed[int(data.maze_seeds[r])].with_mouse(_cell(data.mouse[r])) for r in rows]


def _cell(row: np.ndarray) -> tuple[int, int]:
    return int(row[0]), int(row[1])


def label(
    sae: TopKSAE,
    data: ActivationSet,
    hook: str,
    selection: Sequence[int],
    test: Sequence[int],
    by_seed: dict[int, Maze],
    *,
    seed: int = 0,
) -> Labels:
    """Correlations and top observations on the ``test`` mazes; the best cheese-locating
    latent and channel chosen on ``selection``, scored on ``test`` (see the module)."""
    size = data.activations[hook].shape[-1]
    scores, hits, peaks = {}, {}, {}
    for name, mazes in (("selection", selection), ("test", test)):
        rows = data.rows_of(mazes)
        hits_l, hits_c, rank_l, rank_c, peak_l, peak_c = [], [], [], [], [], []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            latents, channels = _maps(sae, data.activations[hook][chunk])
            cheese = cheese_squares(_mazes_at(data, chunk, by_seed), size)
            hits_l.append(located(latents, cheese))
            hits_c.append(located(channels, cheese))
            rank_l.append(cheese_rank(latents, cheese))
            rank_c.append(cheese_rank(channels, cheese))
            peak_l.append(latents.max(axis=(2, 3)))
            peak_c.append(channels.max(axis=(2, 3)))
        scores[name] = (np.concatenate(rank_l), np.concatenate(rank_c), rows)
        hits[name] = (np.concatenate(hits_l), np.concatenate(hits_c))
        peaks[name] = (np.concatenate(peak_l), np.concatenate(peak_c))
    sel_l, sel_c, _ = scores["selection"]
    best_latent = int(np.argmax(sel_l.mean(0)))
    best_channel = int(np.argmax(sel_c.mean(0)))
    test_l, test_c, test_rows = scores["test"]
    mazes = data.maze_seeds[test_rows]
    latent_score = test_l[:, best_latent]
    channel_score = test_c[:, best_channel]
    latent_hits = hits["test"][0][:, best_latent].astype(float)
    channel_hits = hits["test"][1][:, best_channel].astype(float)

    def as_dict(estimate):
        return None if estimate is None else estimate.as_dict()

    result = {
        "observations": len(test_rows),
        "latent": as_dict(bootstrap_over_mazes(latent_score, mazes, seed=seed)),
        "channel": as_dict(bootstrap_over_mazes(channel_score, mazes, seed=seed)),
        "latent_minus_channel": as_dict(
            paired_difference(channel_score, latent_score, mazes, seed=seed)
        ),
        "latent_located": as_dict(bootstrap_over_mazes(latent_hits, mazes, seed=seed)),
        "channel_located": as_dict(bootstrap_over_mazes(channel_hits, mazes, seed=seed)),
        "located_latent_minus_channel": as_dict(
            paired_difference(channel_hits, latent_hits, mazes, seed=seed)
        ),
        "ranking": [
            {
                "latent": int(i),
                "selection": float(sel_l[:, i].mean()),
                "test": float(test_l[:, i].mean()),
            }
            for i in np.argsort(-sel_l.mean(0), kind="stable")[:10]
        ],
    }
    correlations, top = _correlations_and_top(sae, data, hook, test, by_seed)
    return Labels(
        correlations=correlations,
        top=top,
        latent_selection=sel_l.mean(0),
        channel_selection=sel_c.mean(0),
        best_latent=best_latent,
        best_channel=best_channel,
        test=result,
        latent_peak=float(peaks["selection"][0][:, best_latent].mean()),
        channel_peaks=peaks["selection"][1].mean(0),
    )


def _correlations_and_top(
    sae: TopKSAE,
    data: ActivationSet,
    hook: str,
    test: Sequence[int],
    by_seed: dict[int, Maze],
) -> tuple[np.ndarray, list[list[tuple[int, float]]]]:
    size = data.activations[hook].shape[-1]
    rows = data.rows_of(test)
    correlations = Correlations(sae.config.size)
    peaks = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        latents, _ = _maps(sae, data.activations[hook][chunk])
        features = np.stack([position_features(m, size) for m in _mazes_at(data, chunk, by_seed)])
        correlations.add(latents, features)
        peaks.append(latents.max(axis=(2, 3)))
    peak = np.concatenate(peaks) if peaks else np.zeros((0, sae.config.size))
    order = np.argsort(-peak, axis=0, kind="stable")[:TOP_OBSERVATIONS]
    top = [
        [(int(rows[r]), float(peak[r, i])) for r in order[:, i] if peak[r, i] > 0]
        for i in range(sae.config.size)
    ]
    return correlations.values(), top


def frames(
    sae: TopKSAE,
    data: ActivationSet,
    hook: str,
    top: list[list[tuple[int, float]]],
    by_seed: dict[int, Maze],
) -> list[list[tuple[int, float, np.ndarray, np.ndarray]]]:
    """The top observations as (maze seed, peak, rendered frame, the latent's map)."""
    out = []
    with MazeRenderer() as renderer:
        for latent, items in enumerate(top):
            shown = []
            for row, peak in items:
                maze = by_seed[int(data.maze_seeds[row])]
                frame = observe_mouse_on_cells(maze.to_state(), [_cell(data.mouse[row])], renderer)
                latents, _ = _maps(sae, data.activations[hook][row : row + 1])
                shown.append((maze.seed, peak, frame[0], latents[0, latent]))
            out.append(shown)
    return out
