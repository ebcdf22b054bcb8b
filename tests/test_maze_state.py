"""Maze state bytes: byte-identical round trips on real procgen states, and clean errors."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from hooked_impala.maze.procgen_env import ProcgenGym3Env
from hooked_impala.maze.state import END_OF_BUFFER, MazeState, MazeStateError, state_fields

WORLD = {"easy": 15, "hard": 25}
MODE_CODE = {"easy": 0, "hard": 1}


def _collect(mode: str, num: int = 32, steps: int = 17) -> tuple[list[bytes], list[int]]:
    """num * steps states from random play (random seeds, mid-episode, after resets),
    with procgen's own level_seed info for each."""
    env = ProcgenGym3Env(
        num=num, env_name="maze", distribution_mode=mode, rand_seed=7, num_threads=0
    )
    rng = np.random.default_rng(MODE_CODE[mode])
    states, seeds = [], []
    for _ in range(steps):
        states += env.callmethod("get_state")
        seeds += [int(info["level_seed"]) for info in env.get_info()]
        env.act(rng.integers(0, 15, size=num).astype(np.int32))
    return states, seeds


@pytest.fixture(scope="module", params=["easy", "hard"])
def played(request):
    return request.param, *_collect(request.param)


@pytest.fixture(scope="module")
def one_state() -> bytes:
    env = ProcgenGym3Env(
        num=1, env_name="maze", distribution_mode="hard", start_level=3, num_levels=1
    )
    env.act(np.array([5], dtype=np.int32))  # one step, so the RNG strings are mid-stream
    return env.callmethod("get_state")[0]


def test_round_trip_is_byte_identical(played) -> None:
    mode, states, _ = played
    assert len(states) >= 500
    for i, s in enumerate(states):
        assert MazeState.parse(s).to_bytes() == s, f"state {i} ({mode}) did not round-trip"


def test_sample_really_varies(played) -> None:
    """The round trip above covers many levels, mid-episode states and moving offsets."""
    mode, states, seeds = played
    fields = [{f.name: f for f in state_fields(s)} for s in states]
    assert len(set(seeds)) >= 32  # every env slot starts on its own random level
    assert sum(f["cur_time"].value > 0 for f in fields) >= len(states) // 2
    # The RNG-state strings change length, so everything after them moves.
    assert len({len(f["rand_gen.state"].value) for f in fields}) > 1
    assert len({f["grid.cells"].offset for f in fields}) > 1
    assert len({f["maze_dim"].value for f in fields}) >= 4


def test_parsed_values_match_procgen(played) -> None:
    mode, states, seeds = played
    for s, seed in zip(states, seeds):
        st = MazeState.parse(s)
        assert st.level_seed == seed  # procgen's own info channel
        assert st.game_name == "maze" and st.distribution_mode == MODE_CODE[mode]
        assert st.world_dim == WORLD[mode] and st.grid.shape == (WORLD[mode],) * 2
        assert st.maze_dim % 2 == 1 and 3 <= st.maze_dim <= st.world_dim
        assert set(np.unique(st.grid)) <= {2, 51, 100}
        row, col = st.mouse_y - 0.5, st.mouse_x - 0.5
        assert row.is_integer() and col.is_integer()
        assert st.grid[int(row), int(col)] != 51


def test_fields_are_contiguous_and_end_with_sentinel(one_state) -> None:
    fields = state_fields(one_state)
    size = {"i": 4, "f": 4}
    pos = 0
    for f in fields:
        assert f.offset == pos, f"{f.name} at {f.offset}, expected {pos}"
        if f.kind == "s":
            pos = f.offset + 4 + len(f.value)
        elif f.kind == "grid":
            pos = f.offset + 4 * f.value.size
        else:
            pos = f.offset + size[f.kind]
    assert pos == len(one_state)
    assert fields[-1].name == "end_of_buffer" and fields[-1].value == END_OF_BUFFER
    assert sum(f.name.startswith("entities[0].") for f in fields) == 31


def test_replace_serialises_edited_values(one_state) -> None:
    st = MazeState.parse(one_state)
    grid = st.grid.copy()
    grid[0, 0] = 100
    edited = st.replace(grid=grid, mouse_x=3.5, mouse_y=7.5, mouse_is_reflected=1, cur_time=0)
    back = MazeState.parse(edited.to_bytes())
    assert np.array_equal(back.grid, grid)
    assert (back.mouse_x, back.mouse_y, back.mouse_is_reflected, back.cur_time) == (3.5, 7.5, 1, 0)
    assert len(edited.to_bytes()) == len(one_state)
    assert st.to_bytes() == one_state  # the original is untouched
    assert not st.grid.flags.writeable and not back.grid.flags.writeable


def test_replace_rejects_unknown_fields_and_shapes(one_state) -> None:
    st = MazeState.parse(one_state)
    with pytest.raises(TypeError, match="level_seed"):
        st.replace(level_seed=5)
    with pytest.raises(MazeStateError, match=r"\(15, 15\)"):
        st.replace(grid=np.full((15, 15), 51))


@pytest.mark.parametrize("game", ["heist", "coinrun"])
def test_other_games_are_refused_by_name(game) -> None:
    data = ProcgenGym3Env(num=1, env_name=game, start_level=0, num_levels=1).callmethod(
        "get_state"
    )[0]
    with pytest.raises(MazeStateError, match=rf"game_name is '{game}'.*offset 4"):
        MazeState.parse(data)


def _offset(data: bytes, name: str) -> int:
    return next(f.offset for f in state_fields(data) if f.name == name)


@pytest.mark.parametrize(
    "where",
    ["empty", "in_name", "in_rng_string", "in_entity", "in_grid", "before_sentinel", "last_byte"],
)
def test_truncation_names_the_offset(one_state, where) -> None:
    cut = {
        "empty": 0,
        "in_name": 6,
        "in_rng_string": _offset(one_state, "rand_gen.state") + 100,
        "in_entity": _offset(one_state, "entities[0].rotation") + 2,
        "in_grid": _offset(one_state, "grid.cells") + 1001,
        "before_sentinel": len(one_state) - 4,
        "last_byte": len(one_state) - 1,
    }[where]
    with pytest.raises(MazeStateError, match=r"truncated.*byte offset \d+") as err:
        MazeState.parse(one_state[:cut])
    assert f"state is {cut} bytes" in str(err.value)


def test_bad_sentinel(one_state) -> None:
    bad = one_state[:-4] + struct.pack("<I", 0xDEADBEEF)
    with pytest.raises(
        MazeStateError, match=rf"END_OF_BUFFER.*offset {len(one_state) - 4}.*DEADBEEF"
    ):
        MazeState.parse(bad)


def test_trailing_bytes(one_state) -> None:
    with pytest.raises(MazeStateError, match=rf"3 trailing bytes.*offset {len(one_state)}"):
        MazeState.parse(one_state + b"\0\0\0")


def test_bad_version_and_corrupt_lengths(one_state) -> None:
    with pytest.raises(MazeStateError, match="SERIALIZE_VERSION 1 at byte offset 0"):
        MazeState.parse(struct.pack("<i", 1) + one_state[4:])
    off = _offset(one_state, "rand_gen.state")
    huge = one_state[:off] + struct.pack("<i", 10**8) + one_state[off + 4 :]
    with pytest.raises(MazeStateError, match=rf"string 'rand_gen.state'.*offset {off}"):
        MazeState.parse(huge)
    off = _offset(one_state, "grid.size")
    wrong = one_state[:off] + struct.pack("<i", 624) + one_state[off + 4 :]
    with pytest.raises(MazeStateError, match=rf"grid data size 624 at byte offset {off}"):
        MazeState.parse(wrong)
    with pytest.raises(TypeError):
        MazeState.parse("not bytes")  # type: ignore[arg-type]
