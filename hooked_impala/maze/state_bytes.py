"""procgen's *maze* state bytes (``env.callmethod("get_state")``): the field list and a
reader that walks it.

The byte layout is procgen's own C++ serialisation (``Game::serialize``, then
``BasicAbstractGame::serialize``, then ``MazeGame::serialize``, then an END_OF_BUFFER
sentinel). Every ``int``/``float`` is 4 bytes little-endian; a ``string`` is an ``int``
length followed by its bytes. The reader walks that field list in order -- it never
uses hard-coded offsets, because the RNG-state strings change length during an episode.
:func:`state_fields` lists every field with its offset; it checks the structure only, so it
can still show the fields of a state whose values procgen would crash on
(:mod:`hooked_impala.maze.state_ranges` checks those).
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import numpy as np

__all__ = ["END_OF_BUFFER", "FieldInfo", "MazeStateError", "state_fields", "walk"]

END_OF_BUFFER = struct.unpack("<i", struct.pack("<I", 0xCAFECAFE))[0]
SERIALIZE_VERSION = 0
GAME_NAME = "maze"
PLAYER_TYPE = 0  # procgen's entity type of the agent
# Field list, in serialisation order. Kinds: "i" int32, "f" float32, "s" string,
# "E" entity list (count + 31 fields each), "G" grid (w, h, size, then w*h ints).
_GAME_FIELDS = [
    ("serialize_version", "i"),
    ("game_name", "s"),
    *[
        (f"options.{n}", "i")
        for n in (
            "paint_vel_info",
            "use_generated_assets",
            "use_monochrome_assets",
            "restrict_themes",
            "use_backgrounds",
            "center_agent",
            "debug_mode",
            "distribution_mode",
            "use_sequential_levels",
            "use_easy_jump",
            "plain_assets",
            "physics_mode",
        )
    ],
    ("grid_step", "i"),
    ("level_seed_low", "i"),
    ("level_seed_high", "i"),
    ("game_type", "i"),
    ("game_n", "i"),
    ("level_seed_rand_gen.is_seeded", "i"),
    ("level_seed_rand_gen.state", "s"),
    ("rand_gen.is_seeded", "i"),
    ("rand_gen.state", "s"),
    ("step_data.reward", "f"),
    ("step_data.done", "i"),
    ("step_data.level_complete", "i"),
    ("action", "i"),
    ("timeout", "i"),
    ("current_level_seed", "i"),
    ("prev_level_seed", "i"),
    ("episodes_remaining", "i"),
    ("episode_done", "i"),
    ("last_reward_timer", "i"),
    ("last_reward", "f"),
    ("default_action", "i"),
    ("fixed_asset_seed", "i"),
    ("cur_time", "i"),
    ("is_waiting_for_step", "i"),
    # BasicAbstractGame
    ("grid_size", "i"),
    ("entities", "E"),
    ("use_procgen_background", "i"),
    ("background_index", "i"),
    ("bg_tile_ratio", "f"),
    ("bg_pct_x", "f"),
    ("char_dim", "f"),
    ("last_move_action", "i"),
    ("move_action", "i"),
    ("special_action", "i"),
    ("mixrate", "f"),
    ("maxspeed", "f"),
    ("max_jump", "f"),
    ("action_vx", "f"),
    ("action_vy", "f"),
    ("action_vrot", "f"),
    ("center_x", "f"),
    ("center_y", "f"),
    ("random_agent_start", "i"),
    ("has_useful_vel_info", "i"),
    ("step_rand_int", "i"),
    ("asset_rand_gen.is_seeded", "i"),
    ("asset_rand_gen.state", "s"),
    ("main_width", "i"),
    ("main_height", "i"),
    ("out_of_bounds_object", "i"),
    ("unit", "f"),
    ("view_dim", "f"),
    ("x_off", "f"),
    ("y_off", "f"),
    ("visibility", "f"),
    ("min_visibility", "f"),
    ("grid", "G"),
    # MazeGame, then the sentinel written by get_state
    ("maze_dim", "i"),
    ("world_dim", "i"),
    ("end_of_buffer", "i"),
]

_ENTITY_FIELDS = [
    ("x", "f"),
    ("y", "f"),
    ("vx", "f"),
    ("vy", "f"),
    ("rx", "f"),
    ("ry", "f"),
    ("type", "i"),
    ("image_type", "i"),
    ("image_theme", "i"),
    ("render_z", "i"),
    ("will_erase", "i"),
    ("collides_with_entities", "i"),
    ("collision_margin", "f"),
    ("rotation", "f"),
    ("vrot", "f"),
    ("is_reflected", "i"),
    ("fire_time", "i"),
    ("spawn_time", "i"),
    ("life_time", "i"),
    ("expire_time", "i"),
    ("use_abs_coords", "i"),
    ("friction", "f"),
    ("smart_step", "i"),
    ("avoids_collisions", "i"),
    ("auto_erase", "i"),
    ("alpha", "f"),
    ("health", "f"),
    ("theta", "f"),
    ("grow_rate", "f"),
    ("alpha_decay", "f"),
    ("climber_spawn_x", "f"),
]
assert len(_ENTITY_FIELDS) == 31

# Sanity limits so that corrupt counts fail cleanly instead of allocating gigabytes.
_MAX_ENTITIES = 10_000
MAX_GRID_SIDE = 1_000


class MazeStateError(ValueError):
    """The bytes are not a well-formed procgen maze state (message names field and offset)."""


class FieldInfo(NamedTuple):
    """One scalar field met while walking a state: its dotted name, byte offset, value."""

    name: str
    offset: int
    kind: str  # "i", "f", "s" (value is bytes) or "grid" (value is the (h, w) int32 array)
    value: Any


def _compile(fields: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    """Merge runs of fixed-size fields into one ``struct.Struct`` (parsing speed)."""
    steps: list[tuple[str, Any]] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        if run:
            fmt = "<" + "".join(kind for _, kind in run)
            steps.append(("run", (struct.Struct(fmt), [(n, k) for n, k in run])))
            run.clear()

    for name, kind in fields:
        if kind in "if":
            run.append((name, kind))
        else:
            flush()
            steps.append((kind, name))
    flush()
    return steps


_GAME_STEPS = _compile(_GAME_FIELDS)
_ENTITY_STRUCT = struct.Struct("<" + "".join(k for _, k in _ENTITY_FIELDS))
INT = struct.Struct("<i")


class _Reader:
    """Sequential reader that raises MazeStateError naming field and offset."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        left = len(self.data) - self.pos
        if n > left:
            raise MazeStateError(
                f"truncated maze state: {what} at byte offset {self.pos} needs {n} bytes, "
                f"only {left} left (state is {len(self.data)} bytes)"
            )

    def unpack(self, st: struct.Struct, what: str) -> tuple:
        self.need(st.size, what)
        out = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return out

    def count(self, what: str, limit: int) -> int:
        start = self.pos
        (n,) = self.unpack(INT, what)
        if not 0 <= n <= limit:
            raise MazeStateError(f"corrupt maze state: {what} = {n} at byte offset {start}")
        return n


def walk(data: bytes, out: list[FieldInfo] | None) -> dict[str, tuple[int, Any]]:
    """Walk the whole field list; return ``{name: (offset, value)}`` of every field.

    Entity fields are named ``entities[k].<field>``; the grid's cells are ``grid.cells``
    (value: the (h, w) int32 array). Raises MazeStateError on any malformation.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"maze state must be bytes, got {type(data).__name__}")
    data = bytes(data)
    r = _Reader(data)
    found: dict[str, tuple[int, Any]] = {}

    def put(name: str, offset: int, kind: str, value: Any) -> None:
        found[name] = (offset, value)
        if out is not None:
            out.append(FieldInfo(name, offset, kind, value))

    for kind, arg in _GAME_STEPS:
        if kind == "run":
            st, names = arg
            start = r.pos
            values = r.unpack(st, f"field {names[0][0]!r}")
            for i, ((name, k), v) in enumerate(zip(names, values)):
                put(name, start + 4 * i, k, v)
            if names[0][0] == "serialize_version" and values[0] != SERIALIZE_VERSION:
                raise MazeStateError(
                    f"unsupported procgen SERIALIZE_VERSION {values[0]} at byte offset 0 "
                    f"(expected {SERIALIZE_VERSION})"
                )
            if names[-1][0] == "end_of_buffer" and values[-1] != END_OF_BUFFER:
                off = start + 4 * (len(values) - 1)
                raise MazeStateError(
                    f"bad END_OF_BUFFER sentinel at byte offset {off}: "
                    f"0x{values[-1] & 0xFFFFFFFF:08X}, expected 0xCAFECAFE"
                )
        elif kind == "s":
            start = r.pos
            n = r.count(f"length of string {arg!r}", len(data))
            r.need(n, f"string {arg!r}")
            s = data[r.pos : r.pos + n]
            r.pos += n
            put(arg, start, "s", s)
            if arg == "game_name" and s != GAME_NAME.encode():
                raise MazeStateError(
                    f"not a maze state: game_name is {s.decode('latin-1')!r} "
                    f"(string at byte offset {start}), expected {GAME_NAME!r}"
                )
        elif kind == "E":
            n = r.count("entity count", _MAX_ENTITIES)
            put("entities.count", r.pos - 4, "i", n)
            for e in range(n):
                start = r.pos
                values = r.unpack(_ENTITY_STRUCT, f"entity {e}")
                for i, ((name, k), v) in enumerate(zip(_ENTITY_FIELDS, values)):
                    put(f"entities[{e}].{name}", start + 4 * i, k, v)
        elif kind == "G":
            start = r.pos
            w, h = r.unpack(struct.Struct("<ii"), "grid width/height")
            if not (0 < w <= MAX_GRID_SIDE and 0 < h <= MAX_GRID_SIDE):
                raise MazeStateError(
                    f"corrupt maze state: grid size {w}x{h} at byte offset {start}"
                )
            size_off = r.pos
            (size,) = r.unpack(INT, "grid data size")
            if size != w * h:
                raise MazeStateError(
                    f"corrupt maze state: grid data size {size} at byte offset {size_off} "
                    f"!= width*height = {w}*{h}"
                )
            put("grid.w", start, "i", w)
            put("grid.h", start + 4, "i", h)
            put("grid.size", size_off, "i", size)
            r.need(4 * size, "grid cells")
            cells = np.frombuffer(data, dtype="<i4", count=size, offset=r.pos).reshape(h, w)
            put("grid.cells", r.pos, "grid", cells)
            r.pos += 4 * size
    if r.pos != len(data):
        raise MazeStateError(
            f"{len(data) - r.pos} trailing bytes after the END_OF_BUFFER sentinel "
            f"(state should end at byte offset {r.pos}, has {len(data)} bytes)"
        )
    return found


def state_fields(data: bytes) -> list[FieldInfo]:
    """Every field of a maze state in byte order (for inspection and tests).

    Checks the structure only, not value ranges (see :meth:`MazeState.parse`).
    """
    out: list[FieldInfo] = []
    walk(data, out)
    return out
