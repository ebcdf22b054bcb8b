"""The values procgen survives in a maze state: ``check_ranges`` refuses every field procgen
uses as a table index, a size or in an assertion when it is out of range. procgen does not
validate ``set_state`` input, and such a value aborts the whole Python process
(``std::out_of_range``, ``fassert``, a segfault) when the state is rendered or stepped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hooked_impala.maze.state_bytes import MAX_GRID_SIDE, PLAYER_TYPE, MazeStateError

__all__ = ["check_ranges"]

# Value ranges of the fields procgen 0.10.7 indexes tables with, sizes loops by or asserts
# on. Established by setting one field of a real state and running set_state, observe, steps
# and a level reset in a subprocess: outside these ranges procgen aborts the process (or
# hangs). Where procgen survives a wider range than the maze game ever writes (cell codes,
# sprites, world sizes), only the maze's own values are allowed: anything else is not a maze.

# Grid codes (also drawn for out-of-world cells when the view follows the mouse): codes
# > 100 fail an fassert in procgen's asset lookup, very negative ones are out_of_range.
_CELL_CODES = {2: "cheese", 51: "wall", 100: "open"}
_CELL_CODES_TEXT = ", ".join(f"{c} ({n})" for c, n in _CELL_CODES.items())
# Entity sprites: asset index = image_type + 100 * image_theme into a 1000-slot table. The
# maze's sprites (mouse 0, cheese 2, wall 51) have a single theme: theme 1..9 segfaults or
# throws map::at, >= 10 fails fassert(theme < MAX_IMAGE_THEMES), < 0 is out_of_range.
_SPRITES = {0: "mouse", 2: "cheese", 51: "wall"}
_SPRITES_TEXT = ", ".join(f"{c} ({n})" for c, n in _SPRITES.items())
# procgen's maze background images: background_index 9 throws std::out_of_range.
_NUM_BACKGROUNDS = 9
# Scalar fields: (name, test, allowed values, why).
_SCALAR_RANGES = [
    (
        "options.use_generated_assets",
        lambda v: v == 0,
        "0",
        "set_state asserts it is off",
    ),
    (
        "level_seed_rand_gen.is_seeded",
        lambda v: v != 0,
        "nonzero",
        "procgen asserts it at the next level reset",
    ),
    ("rand_gen.is_seeded", lambda v: v != 0, "nonzero", "procgen asserts it on the next step"),
    ("is_waiting_for_step", lambda v: v == 0, "0", "procgen asserts it on the next step"),
    (
        "use_procgen_background",
        lambda v: v == 0,
        "0",
        "the maze has no procedural background; other values corrupt procgen's heap",
    ),
    (
        "background_index",
        lambda v: 0 <= v < _NUM_BACKGROUNDS,
        f"0..{_NUM_BACKGROUNDS - 1}",
        f"index into procgen's {_NUM_BACKGROUNDS} maze backgrounds",
    ),
    (
        "out_of_bounds_object",
        lambda v: v in _CELL_CODES,
        _CELL_CODES_TEXT,
        "drawn as the grid code of cells outside the world when the view follows the mouse",
    ),
    (
        "visibility",
        lambda v: 0 <= v <= MAX_GRID_SIDE,
        f"0..{MAX_GRID_SIDE}",
        "view size in cells when the view follows the mouse; drawing time is quadratic "
        "in it: 1e4 takes 11 s, 1e6 hangs",
    ),
]


def _out_of_range(name: str, f: dict[str, tuple[int, Any]], allowed: str, why: str) -> None:
    off, value = f[name]
    raise MazeStateError(
        f"{name} = {value} at byte offset {off} is out of range: allowed {allowed} ({why})"
    )


def check_ranges(f: dict[str, tuple[int, Any]]) -> None:
    """Raise MazeStateError for the first field procgen would crash (or hang) on."""
    n = f["entities.count"][1]
    players = [e for e in range(n) if f[f"entities[{e}].type"][1] == PLAYER_TYPE]
    # procgen asserts it finds an agent; this package edits exactly one mouse.
    if len(players) != 1:
        raise MazeStateError(
            f"entities[*].type: maze state must have exactly one mouse (entity of type "
            f"{PLAYER_TYPE}), found {len(players)} among entities.count = {n} entities "
            f"(entity list at byte offset {f['entities.count'][0]})"
        )
    for name, ok, allowed, why in _SCALAR_RANGES:
        if not ok(f[name][1]):
            _out_of_range(name, f, allowed, why)
    low = f["level_seed_low"][1]
    if f["level_seed_high"][1] == low:  # the next seed is drawn modulo high - low: SIGFPE
        _out_of_range(
            "level_seed_high",
            f,
            f"any value but level_seed_low = {low}",
            "an empty level-seed range divides by zero at the next level reset",
        )
    for e in range(n):
        if f[f"entities[{e}].image_type"][1] not in _SPRITES:
            _out_of_range(
                f"entities[{e}].image_type", f, _SPRITES_TEXT, "index into procgen's sprites"
            )
        if f[f"entities[{e}].image_theme"][1] != 0:
            _out_of_range(f"entities[{e}].image_theme", f, "0", "the maze's sprites have one theme")
    # procgen draws main_width x main_height cells of the grid; the package's grid is
    # world_dim x world_dim. A huge main_width makes procgen hang.
    w = f["grid.w"][1]
    for name in ("grid.h", "main_width", "main_height", "world_dim"):
        off, value = f[name]
        if value != w:
            raise MazeStateError(
                f"{name} = {value} at byte offset {off} is out of range: allowed only "
                f"grid.w = {w} (the world is square and all its sizes must agree)"
            )
    off, cells = f["grid.cells"]
    bad = (cells != 51) & (cells != 100) & (cells != 2)  # three compares: faster than isin
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        value = int(cells[row, col])
        raise MazeStateError(
            f"grid.cells[{row}, {col}] (row, col) = {value} at byte offset "
            f"{off + 4 * (row * w + col)} is out of range: allowed {_CELL_CODES_TEXT} "
            "(index into procgen's sprites)"
        )
