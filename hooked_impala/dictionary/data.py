"""Activations to train dictionaries on: observations sampled along the policy's own
trajectories over many mazes, the chosen hooks cached, each observation keeping its maze.

``gather_activations(model, seeds)`` plays one episode per level seed (the batched engine,
:func:`hooked_impala.policy.play`), samples up to ``per_maze`` of the cells the mouse stood on
(seeded by the run seed and the maze's seed), renders the maze with the mouse there (exact
procgen frames, :func:`hooked_impala.maze.mouse_placements.observe_mouse_on_cells`) and caches the
hooks. The seeds are played in chunks as a sweep (:mod:`hooked_impala.sweep`): in this
process or on Ray, with the same rows either way.

The maze is the statistical unit: observations of one maze are not independent, so
:func:`split_mazes` splits by maze (training / selection / test) and every observation
carries its maze's seed.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float, Int

from hooked_impala import checks
from hooked_impala.dictionary.sae import to_vectors
from hooked_impala.files import write_atomically_with
from hooked_impala.maze import DEFAULT_MODE, DistributionMode, MazeRenderer, mazes_from_seeds
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, play
from hooked_impala.sweep import Backend, chunked, run_sweep

#: The cheese-vector layer (Mini et al.'s), and the outputs of the first and last blocks.
DEFAULT_HOOKS = (
    "embedder.block2.res1.resadd_out",
    "embedder.block1.res2.resadd_out",
    "embedder.block3.res2.resadd_out",
)
#: Observations sampled from each maze's trajectory.
DEFAULT_PER_MAZE = 4
#: Mazes per chunk of the sweep (one engine run and one batched forward pass each).
CHUNK_SIZE = 64


def spatial_hooks(model: HookedImpala, hooks: Iterable[str]) -> tuple[str, ...]:
    """``hooks`` resolved to hook names (an unknown name gets the model's error, naming the
    closest), each checked to be spatial ``(N, C, H, W)``."""
    shapes = model.hook_shapes(1)
    names = []
    for hook in hooks:
        name = model.resolve_hook_name(hook)
        if len(shapes[name]) != 4:
            raise ValueError(
                f"hook {hook!r} is not spatial: its activation is {shapes[name]}, a dictionary "
                "over channel vectors needs (N, C, H, W)"
            )
        names.append(name)
    if not names:
        raise ValueError("name at least one hook")
    return tuple(dict.fromkeys(names))


@dataclass
class ActivationSet:
    """Cached activations of sampled observations.

    Attributes:
        activations: per hook, ``(N, C, H, W)`` float32.
        maze_seeds: ``(N,)`` the level seed of each observation's maze.
        mouse: ``(N, 2)`` the mouse's world cell ``(row, col)`` in each observation.
        steps: ``(N,)`` the step of the episode at which the mouse stood there.
        mode: the mazes' distribution mode.
        settings: how the set was gathered (checkpoint, run seed, per_maze, ...).
    """

    activations: dict[str, Float[np.ndarray, "n c h w"]]
    maze_seeds: Int[np.ndarray, " n"]
    mouse: Int[np.ndarray, "n 2"]
    steps: Int[np.ndarray, " n"]
    mode: DistributionMode
    settings: dict[str, Any]

    def __len__(self) -> int:
        return len(self.maze_seeds)

    @property
    def mazes(self) -> list[int]:
        """The distinct maze seeds, sorted."""
        return sorted({int(s) for s in self.maze_seeds})

    def rows_of(self, mazes: Iterable[int]) -> np.ndarray:
        """Indices of the observations from ``mazes``."""
        return np.flatnonzero(np.isin(self.maze_seeds, np.fromiter(mazes, dtype=np.int64)))

    def vectors(self, hook: str, rows: np.ndarray | None = None) -> Float[torch.Tensor, "v c"]:
        """The channel vector at every position of the observations ``rows`` (default all),
        ``(rows · H · W, C)`` in :func:`~hooked_impala.dictionary.to_vectors`'s order."""
        if hook not in self.activations:
            have = list(self.activations)
            raise ValueError(f"hook {hook!r} was not gathered; this set has {have}")
        act = self.activations[hook] if rows is None else self.activations[hook][rows]
        return to_vectors(torch.from_numpy(np.ascontiguousarray(act, dtype=np.float32)))

    def save(self, path: str | Path) -> Path:
        """One ``.npz`` file, written atomically."""
        arrays = {f"act::{k}": v for k, v in self.activations.items()}
        arrays |= {"maze_seeds": self.maze_seeds, "mouse": self.mouse, "steps": self.steps}
        meta = {"mode": self.mode, "settings": self.settings}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return write_atomically_with(path, lambda f: f.write(buffer.getvalue()))

    @classmethod
    def load(cls, path: str | Path) -> ActivationSet:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            acts = {k[5:]: data[k] for k in data.files if k.startswith("act::")}
            return cls(
                acts, data["maze_seeds"], data["mouse"], data["steps"], meta["mode"],
                meta["settings"],
            )  # fmt: skip


def _sample_cells(cells: Sequence[tuple[int, int]], reached: bool, k: int, key: list[int]):
    """Up to ``k`` distinct steps of a trajectory (not the last cell when it is the cheese's:
    the episode ended there, so the policy never saw it), in order."""
    last = len(cells) - 1 if reached else len(cells)
    steps = np.arange(max(last, 1))
    rng = np.random.default_rng(key)
    chosen = np.sort(rng.choice(steps, size=min(k, len(steps)), replace=False))
    return chosen, [cells[i] for i in chosen]


def _gather_chunk(
    model: HookedImpala,
    seeds: Sequence[int],
    *,
    hooks: tuple[str, ...],
    mode: DistributionMode,
    per_maze: int,
    seed: int,
    max_steps: int,
) -> list[dict[str, Any]]:
    """The sampled observations of one chunk of seeds, one row per maze."""
    mazes = mazes_from_seeds(list(seeds), mode)
    rows = []
    with MazeRenderer() as renderer:
        for index, episode in sorted(play(model, mazes, max_steps=max_steps, seed=seed)):
            maze = mazes[index]
            steps, cells = _sample_cells(
                episode.cells, episode.reached_cheese, per_maze, [seed, maze.seed]
            )
            obs = observe_mouse_on_cells(maze.to_state(), cells, renderer)
            with torch.no_grad():
                _, cache = model.run_with_cache(
                    torch.from_numpy(obs).to(model.device), names_filter=list(hooks)
                )
            rows.append(
                {
                    "seed": maze.seed,
                    "steps": steps,
                    "cells": np.array(cells, dtype=np.int64).reshape(-1, 2),
                    "acts": {h: cache[h].float().cpu().numpy() for h in hooks},
                }
            )
    return rows


def gather_activations(
    model: HookedImpala,
    seeds: Iterable[int],
    *,
    hooks: Sequence[str] = DEFAULT_HOOKS,
    per_maze: int = DEFAULT_PER_MAZE,
    mode: DistributionMode = DEFAULT_MODE,
    seed: int = 0,
    max_steps: int = PROCGEN_STEP_LIMIT,
    chunk_size: int = CHUNK_SIZE,
    backend: Backend | None = None,
) -> ActivationSet:
    """Activations at ``hooks`` of up to ``per_maze`` observations along the policy's
    trajectory in each maze of ``seeds`` (see the module docstring); sampled actions and the
    sampled steps are seeded by ``seed`` and each maze's seed. ``backend``: where the chunks
    of ``chunk_size`` mazes run (default: in this process; ``Backend(ray=True)``: on Ray)."""
    hooks = spatial_hooks(model, hooks)
    wanted = [checks.integer("seed", s, minimum=0, maximum=checks.MAX_SEED) for s in seeds]
    if not wanted:
        raise ValueError("gathering activations needs at least one maze seed")
    if len(set(wanted)) != len(wanted):
        raise ValueError("maze seeds must be distinct")
    per_maze = checks.integer("per_maze", per_maze, minimum=1)
    seed = checks.integer("seed", seed, minimum=0)
    if not 1 <= max_steps <= PROCGEN_STEP_LIMIT:
        raise ValueError(f"max_steps must be in 1..{PROCGEN_STEP_LIMIT}, got {max_steps}")
    chunk = functools.partial(
        _gather_chunk, hooks=hooks, mode=mode, per_maze=per_maze, seed=seed, max_steps=max_steps
    )
    rows = sorted(
        run_sweep(
            model, chunked(wanted, chunk_size), chunk, backend=backend or Backend(), ordered=True
        ),
        key=lambda r: r["seed"],
    )
    count = [len(r["steps"]) for r in rows]
    record = model.checkpoint
    return ActivationSet(
        activations={h: np.concatenate([r["acts"][h] for r in rows]) for h in hooks},
        maze_seeds=np.repeat([r["seed"] for r in rows], count).astype(np.int64),
        mouse=np.concatenate([r["cells"] for r in rows]),
        steps=np.concatenate([r["steps"] for r in rows]).astype(np.int64),
        mode=mode,
        settings={
            "checkpoint": None if record is None else record.name,
            "sha256": None if record is None else record.sha256,
            "seed": seed,
            "per_maze": per_maze,
            "max_steps": int(max_steps),
            "mazes": len(rows),
            "first_seed": min(wanted),
            "last_seed": max(wanted),
        },
    )


def split_mazes(
    mazes: Sequence[int], fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> list[list[int]]:
    """The mazes shuffled (seeded) and cut into disjoint parts of the given ``fractions``
    (e.g. training / selection / test), each sorted; every part gets at least one maze when
    there are enough."""
    if len(set(mazes)) != len(mazes):
        raise ValueError("maze seeds must be distinct to split them")
    if any(f <= 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be positive and sum to 1, got {list(fractions)}")
    if len(mazes) < len(fractions):
        raise ValueError(f"{len(mazes)} mazes cannot be split into {len(fractions)} parts")
    order = np.random.default_rng(seed).permutation(np.asarray(sorted(mazes), dtype=np.int64))
    bounds = np.round(np.cumsum(fractions) * len(order)).astype(int)
    bounds = np.maximum(bounds, np.arange(1, len(fractions) + 1))
    bounds = np.minimum(bounds, len(order) - np.arange(len(fractions) - 1, -1, -1))
    parts = np.split(order, bounds[:-1])
    return [sorted(int(s) for s in part) for part in parts]
