"""Rollout records: one row per maze, for thousands of mazes, in a folder of parquet files.

``collect_records(model, seeds, out)`` plays one episode per level seed with the batched
engine (:func:`hooked_impala.policy.rollout.play`) and writes what happened to ``out``, a
folder researchers load with ``pandas.read_parquet(out)`` (or :func:`load_records`):

==========================  ===============================================================
column                      meaning
==========================  ===============================================================
seed, mode, maze_size       the level (procgen seed, "easy"/"hard", inner maze side)
start_row, start_col        where the mouse started (world cells, row 0 at the bottom)
cheese_row, cheese_col      the cheese's cell
decision_row, decision_col  the decision square (where the paths to the cheese and to the
                            top-right cell split), <NA> when the maze has none
cheese_in_region            the cheese lies in the top-right region (5×5 by default)
outcome                     "cheese": reached the cheese without entering the region first;
                            "top_right": entered the region first (only counted when that
                            says something, ``top_right_informative``); "neither"
reached_cheese              reached the cheese within the step limit
top_right_first             entered the region before (or without) reaching the cheese
top_right_informative       region smaller than the maze, cheese outside it, mouse not
                            starting inside it
steps, top_right_step       steps taken; first step in the region (<NA> if never)
path_rows, path_cols        the mouse's cells, ``steps + 1`` of them
==========================  ===============================================================

Rows are written as episodes finish, ``flush_every`` at a time, each batch as one parquet
file written atomically, so an interrupted run (Ctrl-C included) keeps what it finished and
resumes where it stopped; a finished run is read back without playing anything. The run's
settings are kept in ``_run.json`` beside the rows, and a resume with other settings is
refused rather than mixed in.

The seeds are played in chunks of ``chunk_size`` (a sweep, :mod:`hooked_impala.sweep`): in
this process by default, or as Ray tasks (``backend=Backend(ray=True)``), whose rows
the driver writes as chunks finish. A chunk is one batched run of the engine, and its
boundaries depend only on the seeds asked for and ``chunk_size``, not on where, when or in
what order chunks run: in-process, one worker, N workers or a cluster play every maze with
the same uniforms and the same batch companions, so the records are the same. (The engine's
per-maze uniforms make an episode independent of its batch up to float rounding: a forward
pass over fewer than 4 observations, or one on more torch threads, can round differently,
which flips a sampled action only when its uniform lies within ~1e-6 of a boundary of the
distribution. That is the only way the split can show: a chunk resumed half-done, another
``chunk_size``, or the driver's threads against the workers' single one.) How the work was
split is not part of ``_run.json``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hooked_impala import checks
from hooked_impala.files import write_atomically, write_atomically_with
from hooked_impala.hooks import HookSpec
from hooked_impala.maze import (
    DEFAULT_MODE,
    TOP_RIGHT_5,
    DistributionMode,
    Maze,
    MazeRenderer,
    Region,
    decision_square,
    mazes_from_seeds,
)
from hooked_impala.model import HookedImpala
from hooked_impala.policy.rollout import PROCGEN_STEP_LIMIT, Episode, check_steps, play
from hooked_impala.sweep import Backend, chunked, run_sweep

__all__ = ["RecordsError", "collect_records", "episode_record", "load_records"]

RUN_FILE = "_run.json"  # the leading _ keeps pandas.read_parquet(folder) off it
CHUNK_SIZE = 256  # mazes per chunk: one engine run each; big enough that its tail is cheap
_INTS = ["decision_row", "decision_col", "top_right_step"]  # nullable


class RecordsError(ValueError):
    """A records folder that cannot be resumed or read: names the folder and the mismatch."""


def episode_record(episode: Episode, region: Region = TOP_RIGHT_5) -> dict[str, Any]:
    """One row of the records table for an episode (see the module docstring)."""
    maze = episode.maze
    square = decision_square(maze)
    cheese = maze.cheese
    in_region = cheese is not None and cheese in set(region.cells(maze))
    first = episode.top_right_informative and episode.reached_top_right_first
    outcome = "top_right" if first else "cheese" if episode.reached_cheese else "neither"
    rows, cols = zip(*episode.cells)
    return {
        "seed": maze.seed,
        "mode": maze.distribution_mode,
        "maze_size": maze.maze_size,
        "start_row": maze.mouse[0],
        "start_col": maze.mouse[1],
        "cheese_row": -1 if cheese is None else cheese[0],
        "cheese_col": -1 if cheese is None else cheese[1],
        "decision_row": None if square is None else square[0],
        "decision_col": None if square is None else square[1],
        "cheese_in_region": in_region,
        "outcome": outcome,
        "reached_cheese": episode.reached_cheese,
        "top_right_first": episode.reached_top_right_first,
        "top_right_informative": episode.top_right_informative,
        "steps": episode.steps,
        "top_right_step": episode.top_right_step,
        "path_rows": np.array(rows, dtype=np.int16),
        "path_cols": np.array(cols, dtype=np.int16),
    }


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in _INTS:
        frame[column] = frame[column].astype("Int64")
    return frame


def load_records(out: str | Path) -> pd.DataFrame:
    """Every row written to a records folder, sorted by seed (an empty table if none yet)."""
    out = Path(out)
    parts = sorted(out.glob("part-*.parquet"))
    if not parts:
        return pd.DataFrame()
    frames = []
    for part in parts:
        try:
            frames.append(pd.read_parquet(part))
        except Exception as e:  # pyarrow's many kinds; its messages do not say what to do
            raise RecordsError(
                f"{part}: cannot be read as a records part file ({type(e).__name__}: {e}); "
                "delete it and run again to play its mazes again"
            ) from None
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values("seed", kind="stable").reset_index(drop=True)


def _settings_match(out: Path, settings: dict[str, Any]) -> None:
    path = out / RUN_FILE
    if not path.exists():
        if any(out.glob("part-*.parquet")):
            raise RecordsError(f"{out} holds records but no {RUN_FILE}: not a records folder")
        write_atomically(path, json.dumps(settings, indent=2) + "\n")
        return
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RecordsError(f"{path} is not readable JSON ({e})") from None
    changed = {k: (stored.get(k), v) for k, v in settings.items() if stored.get(k) != v}
    if changed:
        what = ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in changed.items())
        raise RecordsError(
            f"{out} was written with other settings ({what}); use another folder or delete it"
        )


def _lazy_mazes(
    seeds: Sequence[int],
    mode: DistributionMode,
    edit: Callable[[Maze], Maze] | None,
    block: int = 512,
) -> Iterator[Maze]:
    """The levels of ``seeds``, generated ``block`` at a time (10,000 states would be 230 MB)."""
    with MazeRenderer() as renderer:
        for start in range(0, len(seeds), block):
            for maze in mazes_from_seeds(seeds[start : start + block], mode, renderer):
                yield maze if edit is None else edit(maze)


def _record_chunk(
    model: HookedImpala,
    seeds: Sequence[int],
    *,
    mode: DistributionMode,
    edit: Callable[[Maze], Maze] | None,
    max_steps: int,
    greedy: bool,
    seed: int,
    fwd_hooks: Sequence[HookSpec],
    region: Region,
    slots: int,
) -> Iterator[dict[str, Any]]:
    """The records of one chunk of seeds, as its episodes finish: one run of the engine."""
    for _, episode in play(
        model,
        _lazy_mazes(seeds, mode, edit),
        max_steps=max_steps,
        greedy=greedy,
        seed=seed,
        fwd_hooks=fwd_hooks,
        region=region,
        slots=min(slots, len(seeds)),
    ):
        yield episode_record(episode, region)


def collect_records(
    model: HookedImpala,
    seeds: Iterable[int],
    out: str | Path,
    *,
    mode: DistributionMode = DEFAULT_MODE,
    max_steps: int = PROCGEN_STEP_LIMIT,
    greedy: bool = False,
    seed: int = 0,
    fwd_hooks: Sequence[HookSpec] = (),
    edit: Callable[[Maze], Maze] | None = None,
    variant: str = "as generated",
    region: Region = TOP_RIGHT_5,
    flush_every: int = 256,
    slots: int = 256,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
    backend: Backend = Backend(),
) -> pd.DataFrame:
    """Play one episode on each level seed and write its record to ``out``; return all rows
    of the requested seeds (sorted by seed). Seeds already in ``out`` are not played again.

    Args:
        model: the policy.
        seeds: procgen level seeds (distinct).
        out: the records folder (created; see the module docstring).
        mode: "easy" or "hard".
        max_steps: the step limit of an episode (at most procgen's 500).
        greedy: most probable actions instead of sampled ones.
        seed: the run seed; with a maze's seed it fixes that maze's sampled actions.
        fwd_hooks: an intervention active during every forward pass. Name it in
            ``variant``: hooks cannot be compared, and a resume checks the settings.
        edit: applied to each generated maze before playing (e.g. move the cheese); name it
            in ``variant`` too.
        variant: what ``fwd_hooks`` and ``edit`` do, recorded in ``_run.json``.
        region: the top-right region of the outcome.
        flush_every: rows per parquet file (what an interruption in this process can lose
            at most; on Ray, the chunks still running are lost too).
        slots: envs played side by side (at most ``chunk_size``).
        chunk_size: seeds per chunk, the unit of work of the sweep (see the module
            docstring; not recorded: any split gives the same rows).
        backend: where the chunks are played: in this process (the default), or as Ray
            tasks (:class:`~hooked_impala.sweep.Backend`: a local instance started for the
            run, the cluster of ``RAY_ADDRESS``, or an address; needs ``pip install
            "hooked-impala[ray]"``).
    """
    wanted = [checks.integer("seed", s, minimum=0, maximum=checks.MAX_SEED) for s in seeds]
    if not wanted:
        raise ValueError("seeds is empty: give at least one level seed")
    if len(set(wanted)) != len(wanted):
        raise ValueError("seeds must be distinct: a records table has one row per level seed")
    checks.integer("flush_every", flush_every, minimum=1)
    checks.integer("chunk_size", chunk_size, minimum=1)
    checks.integer("slots", slots, minimum=1)
    check_steps("max_steps", max_steps)
    out = checks.output_folder("out", out)
    out.mkdir(parents=True, exist_ok=True)
    record = model.checkpoint
    settings = {
        "checkpoint": None if record is None else record.name,
        "sha256": None if record is None else record.sha256,
        "mode": mode,
        "max_steps": int(max_steps),
        "greedy": bool(greedy),
        "seed": int(seed),
        "variant": variant,
        "region": str(region),
    }
    _settings_match(out, settings)
    done = load_records(out)
    have = set(done["seed"].tolist()) if len(done) else set()
    todo = [s for s in wanted if s not in have]
    buffer: list[dict[str, Any]] = []
    # Numbered after the last part there (not their count: a deleted part leaves a gap).
    written = 1 + max((int(p.stem[5:]) for p in out.glob("part-*.parquet")), default=-1)

    def flush() -> None:
        nonlocal written
        if not buffer:
            return
        frame = _frame(buffer)
        write_atomically_with(out / f"part-{written:05d}.parquet", frame.to_parquet)
        written += 1
        buffer.clear()

    bar = tqdm(
        total=len(wanted),
        initial=len(wanted) - len(todo),
        desc="records",
        unit="maze",
        disable=not progress,
    )
    # Chunks cut from the seeds asked for, not from those left: a resumed run keeps the
    # boundaries (and so the batches) of the chunks it still has to play.
    chunks = [[s for s in chunk if s not in have] for chunk in chunked(wanted, chunk_size)]
    play_chunk = functools.partial(
        _record_chunk,
        mode=mode,
        edit=edit,
        max_steps=max_steps,
        greedy=greedy,
        seed=seed,
        fwd_hooks=fwd_hooks,
        region=region,
        slots=slots,
    )
    rows = run_sweep(model, [c for c in chunks if c], play_chunk, backend=backend)
    try:
        for row in rows:
            buffer.append(row)
            bar.update(1)
            if len(buffer) >= flush_every:
                flush()
    finally:  # also on Ctrl-C: what finished is kept, and a rerun resumes after it
        rows.close()  # stops the Ray tasks still running
        flush()
        bar.close()
    frame = load_records(out)
    return frame[frame["seed"].isin(wanted)].reset_index(drop=True)
