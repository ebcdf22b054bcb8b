"""Parse and serialise procgen *maze* state bytes (``env.callmethod("get_state")``).

The byte layout is procgen's own C++ serialisation (``Game::serialize``, then
``BasicAbstractGame::serialize``, then ``MazeGame::serialize``, then an END_OF_BUFFER
sentinel). Every ``int``/``float`` is 4 bytes little-endian; a ``string`` is an ``int``
length followed by its bytes. The parser walks that field list in order -- it never
uses hard-coded offsets, because the RNG-state strings change length during an episode.

A :class:`MazeState` keeps the fields this package edits as parsed values (grid,
maze_dim, world_dim, the mouse's x, y and is_reflected, step_data and cur_time) and
everything else as opaque byte chunks, so :meth:`MazeState.to_bytes` reproduces the
input byte for byte and costs one ``bytes.join``.

Grid convention: ``MazeState.grid`` is ``grid[y, x]`` = ``grid[row, col]`` exactly as
procgen stores it (``data[y * w + x]``); row 0 is the *bottom* row of the rendered image.

:meth:`MazeState.parse` also range-checks every field procgen uses as a table index, a size
or in an assertion (see ``_check_ranges``): procgen does not validate ``set_state`` input, and
an out-of-range value aborts the whole Python process (``std::out_of_range``, ``fassert``, a
segfault) when the state is rendered or stepped. :func:`state_fields` only checks structure,
so it can still show the fields of such a state.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, NamedTuple

import numpy as np

__all__ = ["MazeStateError", "MazeState", "FieldInfo", "state_fields", "END_OF_BUFFER"]

#: Sentinel written by procgen's ``get_state`` after the game's fields (0xCAFECAFE as int32).
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
_MAX_GRID_SIDE = 1_000

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
        lambda v: 0 <= v <= _MAX_GRID_SIDE,
        f"0..{_MAX_GRID_SIDE}",
        "view size in cells when the view follows the mouse; drawing time is quadratic "
        "in it: 1e4 takes 11 s, 1e6 hangs",
    ),
]


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
_INT = struct.Struct("<i")


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
        (n,) = self.unpack(_INT, what)
        if not 0 <= n <= limit:
            raise MazeStateError(f"corrupt maze state: {what} = {n} at byte offset {start}")
        return n


def _walk(data: bytes, out: list[FieldInfo] | None) -> dict[str, tuple[int, Any]]:
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
            if not (0 < w <= _MAX_GRID_SIDE and 0 < h <= _MAX_GRID_SIDE):
                raise MazeStateError(
                    f"corrupt maze state: grid size {w}x{h} at byte offset {start}"
                )
            size_off = r.pos
            (size,) = r.unpack(_INT, "grid data size")
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


def _out_of_range(name: str, f: dict[str, tuple[int, Any]], allowed: str, why: str) -> None:
    off, value = f[name]
    raise MazeStateError(
        f"{name} = {value} at byte offset {off} is out of range: allowed {allowed} ({why})"
    )


def _check_ranges(f: dict[str, tuple[int, Any]]) -> None:
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


def state_fields(data: bytes) -> list[FieldInfo]:
    """Every field of a maze state in byte order (for inspection and tests).

    Checks the structure only, not value ranges (see :meth:`MazeState.parse`).
    """
    out: list[FieldInfo] = []
    _walk(data, out)
    return out


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
        f = _walk(data, None)
        _check_ranges(f)
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
                _INT.pack(self.cur_time),
                c[2],
                _XY.pack(self.mouse_x, self.mouse_y),
                c[3],
                _INT.pack(self.mouse_is_reflected),
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
