"""A parsed procgen *maze* state: :class:`MazeState` keeps the fields this package edits as
parsed values (grid, maze_dim, world_dim, the mouse's x, y and is_reflected, step_data and
cur_time) and everything else as opaque byte chunks, so :meth:`MazeState.to_bytes`
reproduces the input byte for byte and costs one ``bytes.join``.

Grid convention: ``MazeState.grid`` is ``grid[y, x]`` = ``grid[row, col]`` exactly as
procgen stores it (``data[y * w + x]``); row 0 is the *bottom* row of the rendered image.

:meth:`MazeState.parse` walks the bytes (:mod:`hooked_impala.maze.state_bytes`, which names
field and offset of any malformation) and range-checks every field procgen would crash on
(:mod:`hooked_impala.maze.state_ranges`).
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import numpy as np

from hooked_impala.maze.state_bytes import (
    END_OF_BUFFER,
    INT,
    PLAYER_TYPE,
    FieldInfo,
    MazeStateError,
    state_fields,
    walk,
)
from hooked_impala.maze.state_ranges import check_ranges

__all__ = ["MazeStateError", "MazeState", "FieldInfo", "state_fields", "END_OF_BUFFER"]

# Fields kept as parsed values; each group is contiguous in the byte layout and is
# packed back with one struct. Everything between groups is kept as opaque bytes.
_STEP = struct.Struct("<fii")  # step_data.reward, .done, .level_complete
_XY = struct.Struct("<ff")  # mouse x, y
_DIMS = struct.Struct("<ii")  # maze_dim, world_dim

_EDITABLE = frozenset(
    {
        "reward",
        "done",
        "level_complete",
        "cur_time",
        "mouse_x",
        "mouse_y",
        "mouse_is_reflected",
        "grid",
        "maze_dim",
    }
)


@dataclasses.dataclass(frozen=True, eq=False)
class MazeState:
    """A parsed procgen maze state. Immutable; edit with :meth:`replace`.

    Attributes (parsed values; the rest of the state is kept as opaque bytes):
        grid: ``(world_dim, world_dim)`` int32, read-only, ``grid[row, col]``, row 0 = bottom.
        maze_dim, world_dim: inner maze side and world side (cells).
        mouse_x, mouse_y: the mouse entity's centre in world cells (col + 0.5, row + 0.5).
        mouse_is_reflected: 1 when the mouse sprite is mirrored (after a RIGHT move).
        reward, done, level_complete: ``step_data``; cur_time: steps taken this episode.
        game_name, distribution_mode (0 easy, 1 hard, ...), level_seed: read-only info.
    """

    grid: np.ndarray
    maze_dim: int
    world_dim: int
    mouse_x: float
    mouse_y: float
    mouse_is_reflected: int
    reward: float
    done: int
    level_complete: int
    cur_time: int
    game_name: str
    distribution_mode: int
    level_seed: int
    _chunks: tuple[bytes, ...] = dataclasses.field(repr=False)

    @classmethod
    def parse(cls, data: bytes) -> MazeState:
        """Parse ``get_state`` bytes; raises :class:`MazeStateError`, naming the field, its
        value and the allowed range, when they are malformed or hold a value procgen would
        abort the process on."""
        f = walk(data, None)
        check_ranges(f)
        data = bytes(data)
        m = next(
            e for e in range(f["entities.count"][1]) if f[f"entities[{e}].type"][1] == PLAYER_TYPE
        )
        w = world = f["world_dim"][1]
        # Splice points: (offset, length) of each parsed group, in byte order.
        groups = [
            (f["step_data.reward"][0], _STEP.size),
            (f["cur_time"][0], 4),
            (f[f"entities[{m}].x"][0], _XY.size),
            (f[f"entities[{m}].is_reflected"][0], 4),
            (f["grid.cells"][0], 4 * w * w),
            (f["maze_dim"][0], _DIMS.size),
        ]
        chunks, pos = [], 0
        for off, size in groups:
            chunks.append(data[pos:off])
            pos = off + size
        chunks.append(data[pos:])
        grid = f["grid.cells"][1].astype(np.int32)  # native-endian copy, owned
        grid.flags.writeable = False
        return cls(
            grid=grid,
            maze_dim=f["maze_dim"][1],
            world_dim=world,
            mouse_x=f[f"entities[{m}].x"][1],
            mouse_y=f[f"entities[{m}].y"][1],
            mouse_is_reflected=f[f"entities[{m}].is_reflected"][1],
            reward=f["step_data.reward"][1],
            done=f["step_data.done"][1],
            level_complete=f["step_data.level_complete"][1],
            cur_time=f["cur_time"][1],
            game_name=f["game_name"][1].decode(),
            distribution_mode=f["options.distribution_mode"][1],
            level_seed=f["current_level_seed"][1],
            _chunks=tuple(chunks),
        )

    def to_bytes(self) -> bytes:
        """Serialise back to the bytes procgen's ``set_state`` reads."""
        c = self._chunks
        return b"".join(
            (
                c[0],
                _STEP.pack(self.reward, self.done, self.level_complete),
                c[1],
                INT.pack(self.cur_time),
                c[2],
                _XY.pack(self.mouse_x, self.mouse_y),
                c[3],
                INT.pack(self.mouse_is_reflected),
                c[4],
                self.grid.astype("<i4", copy=False).tobytes(),
                c[5],
                _DIMS.pack(self.maze_dim, self.world_dim),
                c[6],
            )
        )

    def replace(self, **changes: Any) -> MazeState:
        """A copy with some parsed fields changed: grid, maze_dim, mouse_x, mouse_y,
        mouse_is_reflected, reward, done, level_complete, cur_time.

        The grid must keep its ``(world_dim, world_dim)`` shape; it is copied to int32.
        No maze-level validation happens here (that is :class:`Maze`'s job).
        """
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise TypeError(
                f"cannot replace {sorted(unknown)}; editable fields: {sorted(_EDITABLE)}"
            )
        if "grid" in changes:
            grid = np.array(changes["grid"], dtype=np.int32)  # always a private copy
            if grid.shape != self.grid.shape:
                raise MazeStateError(
                    f"grid shape {grid.shape} does not match the state's world {self.grid.shape}"
                )
            grid.flags.writeable = False
            changes["grid"] = grid
        # Copy the instance dict rather than dataclasses.replace (5x faster; this sits
        # on the per-maze path of vector fields). Frozen only guards __setattr__.
        new = object.__new__(MazeState)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MazeState):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __reduce__(self) -> tuple:
        # Pickle as bytes, so the loaded grid is read-only again.
        return MazeState.parse, (self.to_bytes(),)
