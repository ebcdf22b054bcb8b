"""Out-of-range state fields are refused at parse time, naming the field, its value and the
allowed range, instead of aborting the process inside procgen when the state is rendered.

Each crafted state is a real procgen state with one field changed. Which values procgen
aborts on (std::out_of_range, fassert, segfault, SIGFPE, or a hang) was established by
rendering and stepping such states in subprocesses; see ``_check_ranges`` in
``hooked_impala/maze/state.py``.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hooked_impala.maze.procgen_env import ProcgenGym3Env
from hooked_impala.maze.state import MazeState, MazeStateError, state_fields

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def state() -> bytes:
    """A real easy-mode state after one step (level seeds 5..6, background drawn)."""
    env = ProcgenGym3Env(
        num=1, env_name="maze", distribution_mode="easy", start_level=5, num_levels=1
    )
    env.act(np.array([5], dtype=np.int32))
    return env.callmethod("get_state")[0]


def _field(data: bytes, name: str):
    return next(f for f in state_fields(data) if f.name == name)


def _with(data: bytes, name: str, value: float) -> bytes:
    """``data`` with one int or float field set (at the offset the package's walker finds)."""
    f = _field(data, name)
    out = bytearray(data)
    struct.pack_into("<" + f.kind, out, f.offset, value)
    return bytes(out)


def _with_cell(data: bytes, cell: tuple[int, int], code: int) -> bytes:
    """``data`` with one grid cell set, via the package's own serialiser."""
    st = MazeState.parse(data)
    grid = st.grid.copy()
    grid[cell] = code
    return st.replace(grid=grid).to_bytes()


def _with_string(data: bytes, name: str, value: bytes) -> bytes:
    f = _field(data, name)
    end = f.offset + 4 + len(f.value)
    return data[: f.offset] + struct.pack("<i", len(value)) + value + data[end:]


def _with_entities(data: bytes, entities: list[bytes]) -> bytes:
    count = _field(data, "entities.count")
    first = _field(data, "entities[0].x").offset
    return (
        data[: count.offset]
        + struct.pack("<i", len(entities))
        + b"".join(entities)
        + data[first + 31 * 4 :]
    )


CODES = r"allowed 2 \(cheese\), 51 \(wall\), 100 \(open\)"
# (field, value, what the message must say). The note says how procgen 0.10.7 failed on the
# state in a subprocess; "when drawn": with the view following the mouse (center_agent 1,
# as in memory mode); "survives": refused because the package needs it, not procgen.
OUT_OF_RANGE = [
    ("background_index", 9, "allowed 0..8"),  # std::out_of_range (9 backgrounds)
    ("background_index", -1, "allowed 0..8"),  # std::out_of_range
    ("entities[0].image_type", 101, r"allowed 0 \(mouse\), 2 \(cheese\), 51 \(wall\)"),  # fassert
    ("entities[0].image_type", -(2**31), "allowed 0 "),  # std::out_of_range
    ("entities[0].image_theme", 1, "allowed 0 "),  # segfault
    ("entities[0].image_theme", -1, "allowed 0 "),  # std::out_of_range
    ("entities[0].image_theme", 10, "allowed 0 "),  # fassert theme < MAX_IMAGE_THEMES
    ("out_of_bounds_object", 1000, CODES),  # fassert when drawn
    ("use_procgen_background", 1, "allowed 0 "),  # heap corruption: free() aborts
    ("options.use_generated_assets", 1, "allowed 0 "),  # fassert in set_state
    ("is_waiting_for_step", 1, "allowed 0 "),  # fassert on the next step
    ("rand_gen.is_seeded", 0, "allowed nonzero"),  # fassert on the next step
    ("level_seed_rand_gen.is_seeded", 0, "allowed nonzero"),  # fassert at the next reset
    ("level_seed_high", 5, "allowed any value but level_seed_low = 5"),  # SIGFPE at reset
    ("visibility", 1e6, "allowed 0..1000"),  # when drawn: hangs
    ("main_width", 2**31 - 1, "allowed only grid.w = 15"),  # hangs
    ("main_height", 16, "allowed only grid.w = 15"),  # survives; not a 15x15 world
    ("world_dim", 25, "allowed only grid.w = 15"),  # survives; not a 15x15 world
]


@pytest.mark.parametrize(
    ("name", "value", "allowed"), OUT_OF_RANGE, ids=[f"{n}={v}" for n, v, _ in OUT_OF_RANGE]
)
def test_out_of_range_field_is_refused(state, name, value, allowed) -> None:
    bad = _with(state, name, value)
    stored = _field(bad, name)  # the value as procgen would read it (floats are float32)
    with pytest.raises(MazeStateError) as err:
        MazeState.parse(bad)
    assert str(err.value).startswith(f"{name} = {stored.value} at byte offset {stored.offset}")
    assert err.match(allowed)


BAD_CELLS = [((3, 4), 101), ((0, 0), 1000), ((7, 7), -(2**31)), ((7, 7), 77)]


@pytest.mark.parametrize(("cell", "code"), BAD_CELLS, ids=[f"{c}={v}" for c, v in BAD_CELLS])
def test_out_of_range_grid_cell_is_refused(state, cell, code) -> None:
    """Codes > 100 fail an fassert and -2**31 is std::out_of_range in procgen's sprite lookup;
    77 renders, but is not a maze code."""
    bad = _with_cell(state, cell, code)
    offset = _field(state, "grid.cells").offset + 4 * (cell[0] * 15 + cell[1])
    with pytest.raises(MazeStateError) as err:
        MazeState.parse(bad)
    assert str(err.value).startswith(
        f"grid.cells[{cell[0]}, {cell[1]}] (row, col) = {code} at byte offset {offset}"
    )
    assert err.match(CODES)


def test_a_state_without_a_mouse_is_refused(state) -> None:
    """procgen fasserts that it finds an agent (an entity of type 0)."""
    first = _field(state, "entities[0].x").offset
    mouse = state[first : first + 31 * 4]
    for bad, count in ((_with_entities(state, []), 0), (_with(state, "entities[0].type", 1), 1)):
        with pytest.raises(MazeStateError) as err:
            MazeState.parse(bad)
        assert str(err.value).startswith("entities[*].type: ")
        assert f"found 0 among entities.count = {count} entities" in str(err.value)
    assert MazeState.parse(_with_entities(state, [mouse])).to_bytes() == state


def test_truncated_trailing_and_foreign_bytes(state) -> None:
    cells = _field(state, "grid.cells").offset
    with pytest.raises(MazeStateError, match=rf"truncated.*grid cells at byte offset {cells}"):
        MazeState.parse(state[: cells + 10])
    with pytest.raises(MazeStateError, match=r"truncated.*entity 0 at byte offset"):
        MazeState.parse(state[: _field(state, "entities[0].x").offset + 7])
    with pytest.raises(MazeStateError, match="2 trailing bytes after the END_OF_BUFFER"):
        MazeState.parse(state + b"\0\0")
    with pytest.raises(MazeStateError, match="game_name is 'heist' .*expected 'maze'"):
        MazeState.parse(_with_string(state, "game_name", b"heist"))


def test_edges_of_the_ranges_still_parse(state) -> None:
    """Values at the edges of the ranges (all survive procgen) are accepted."""
    ok = [
        ("background_index", 0),
        ("background_index", 8),
        ("out_of_bounds_object", 2),
        ("out_of_bounds_object", 100),
        ("visibility", 0.0),
        ("visibility", 1000.0),
        ("rand_gen.is_seeded", 2),
        ("entities[0].image_type", 51),
    ]
    for name, value in ok:
        MazeState.parse(_with(state, name, value))
    low_above_high = _with(_with(state, "level_seed_low", 10), "level_seed_high", 5)
    MazeState.parse(low_above_high)  # renders, steps and resets in procgen
    MazeState.parse(_with_cell(state, (7, 7), 2))  # two cheeses: Maze's concern, not procgen's


@pytest.mark.parametrize(
    "options",
    [
        {"distribution_mode": "memory"},  # view follows the mouse: center_agent 1, visibility 8
        {"use_backgrounds": False, "restrict_themes": True, "use_monochrome_assets": True},
    ],
)
def test_states_of_other_procgen_options_parse(options) -> None:
    env = ProcgenGym3Env(num=4, env_name="maze", rand_seed=3, num_threads=0, **options)
    rng = np.random.default_rng(0)
    for _ in range(5):
        for s in env.callmethod("get_state"):
            assert MazeState.parse(s).to_bytes() == s
        env.act(rng.integers(0, 15, size=4).astype(np.int32))


_CHILD = """
import sys
from hooked_impala.maze import MazeRenderer, MazeStateError
data = open(sys.argv[1], "rb").read()
with MazeRenderer() as renderer:
    if sys.argv[2] == "unchecked":
        renderer.observe_states_unchecked([data])
        print("procgen survived")
    else:
        try:
            renderer.observe_states([data])
        except MazeStateError as e:
            print("MazeStateError:", e)
"""


def test_renderer_refuses_instead_of_aborting(state, tmp_path) -> None:
    """In a subprocess, so a regression that lets procgen abort cannot kill the test run.
    The control run shows procgen really aborts on this state without the check."""
    path = tmp_path / "bad_state.bin"
    path.write_bytes(_with(state, "background_index", 9))

    def run(mode: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), mode],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )

    checked = run("checked")
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "MazeStateError: background_index = 9 at byte offset" in checked.stdout
    unchecked = run("unchecked")
    assert unchecked.returncode != 0 and "procgen survived" not in unchecked.stdout
    assert "out_of_range" in unchecked.stderr
