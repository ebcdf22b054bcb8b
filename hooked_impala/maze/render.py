"""Observations of (edited) mazes, rendered by procgen itself, and level generation.

A :class:`MazeRenderer` owns one procgen ``maze`` env whose slots are used as
scratch space: rendering a batch is ``set_state`` on the first ``n`` slots followed by
one ``observe()`` (``set_state`` re-renders the slot at once, so no step is taken).
The pixels are exactly procgen's.

One env serves *both* distribution modes: a state carries its own options, world size
and grid, and procgen renders (and steps) it the same whatever mode the env was made
with. ``tests/test_maze_render.py`` checks this against native observations.

The env is created lazily, grown (by doubling, up to ``max_batch`` slots) when a larger
batch arrives, and reused, so a caller rendering many batches pays creation once
(about 2 s for the first procgen env of a process, then about 1 ms per slot).
There is no module-level cache: ``observe(mazes)`` without a renderer makes a
temporary one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from beartype import beartype
from jaxtyping import UInt8, jaxtyped

from .state import MazeState, state_fields

__all__ = [
    "MazeRenderer",
    "observe",
    "DISTRIBUTION_MODES",
    "DEFAULT_MODE",
    "DistributionMode",
    "OBS_SHAPE",
]

#: The procgen maze distributions this package supports: "easy" (15×15 world, the s=1
#: agents' training distribution) and "hard" (25×25, where the paper studies its network).
DistributionMode = Literal["easy", "hard"]
#: The one default everywhere a mode is optional (the bundled and shared agents are easy).
DEFAULT_MODE: DistributionMode = "easy"
#: procgen's ``distribution_mode`` codes for those modes.
DISTRIBUTION_MODES: dict[str, int] = {"easy": 0, "hard": 1}
OBS_SHAPE = (64, 64, 3)
_MAX_SEED = 2**31 - 2  # level_seed_high = seed + 1 must still fit an int32


def mode_code(distribution_mode: DistributionMode) -> int:
    """procgen's integer code for ``"easy"`` / ``"hard"``; ValueError otherwise."""
    try:
        return DISTRIBUTION_MODES[distribution_mode]
    except (KeyError, TypeError):
        raise ValueError(
            f"distribution_mode must be one of {sorted(DISTRIBUTION_MODES)}, "
            f"got {distribution_mode!r}"
        ) from None


def check_seed(seed: Any) -> int:
    """A level seed as a Python int in procgen's range; ValueError naming it otherwise."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"level seed must be an int, got {seed!r}")
    if not 0 <= int(seed) <= _MAX_SEED:
        raise ValueError(f"level seed {int(seed)} is outside procgen's range [0, {_MAX_SEED}]")
    return int(seed)


class MazeRenderer:
    """Renders maze states with procgen; reusable across many batches.

    Args:
        max_batch: the most env slots to allocate; bigger batches are done in chunks.
    """

    def __init__(self, max_batch: int = 256) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.max_batch = max_batch
        self._env: Any = None
        # A state of the freshly made env, with procgen's default options: generation
        # starts from it, not from whatever a slot last rendered (which may carry other
        # options, e.g. a state from an env made with use_backgrounds=False).
        self._template: bytes | None = None
        self._offsets: dict[str, int] = {}

    @property
    def capacity(self) -> int:
        """Number of env slots currently allocated (0 before first use)."""
        return 0 if self._env is None else self._env.num

    def _env_for(self, n: int) -> Any:
        """The env, grown to at least ``min(n, max_batch)`` slots."""
        want = min(n, self.max_batch)
        if self._env is None or self._env.num < want:
            # Imported here so that importing the package does not load procgen's
            # shared library; procgen is only needed once something is rendered.
            from .procgen_env import ProcgenGym3Env

            size = 1
            while size < want:
                size *= 2
            size = min(max(size, 2 * self.capacity), self.max_batch)
            self.close()
            # num_threads=0: steps run in this thread; nothing is gained from worker
            # threads on the tiny batches used here, and no threads are left behind.
            self._env = ProcgenGym3Env(
                num=size,
                env_name="maze",
                distribution_mode="hard",
                num_levels=0,
                start_level=0,
                rand_seed=0,
                num_threads=0,
            )
            if self._template is None:
                self._template = self._env.callmethod("get_state")[0]
                wanted = (
                    "options.distribution_mode",
                    "level_seed_low",
                    "level_seed_high",
                    "episodes_remaining",
                )
                self._offsets = {
                    f.name: f.offset for f in state_fields(self._template) if f.name in wanted
                }
        return self._env

    def close(self) -> None:
        """Release the procgen env (a later call creates a new one)."""
        if self._env is not None:
            self._env.close()
            self._env = None

    def __enter__(self) -> MazeRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def observe_states_unchecked(self, states: Sequence[bytes]) -> np.ndarray:
        """Observations of state bytes the caller guarantees are well-formed maze states
        with at least one mouse entity (procgen aborts the whole process, a C++ assert,
        on anything else). For states built from a parsed state, e.g. several mice."""
        n = len(states)
        out = np.empty((n, *OBS_SHAPE), dtype=np.uint8)
        if n == 0:
            return out
        env = self._env_for(n)
        for start in range(0, n, env.num):
            chunk = states[start : start + env.num]
            for slot, s in enumerate(chunk):
                env.call_c_func("set_state", slot, s, len(s))
            _, ob, _ = env.observe()
            out[start : start + len(chunk)] = ob["rgb"][: len(chunk)]
        return out

    @jaxtyped(typechecker=beartype)
    def observe(self, mazes: Sequence[Any]) -> UInt8[np.ndarray, "n 64 64 3"]:
        """Observations of ``mazes`` (anything with ``to_state() -> bytes``, e.g. Maze).

        Returns:
            ``(n, 64, 64, 3)`` uint8 RGB, exactly what procgen renders for each state.
        """
        states = []
        for i, m in enumerate(mazes):
            to_state = getattr(m, "to_state", None)
            if to_state is None:
                raise TypeError(f"mazes[{i}] is a {type(m).__name__}, not a Maze")
            states.append(to_state())
        return self.observe_states_unchecked(states)

    @jaxtyped(typechecker=beartype)
    def observe_states(self, states: Sequence[bytes]) -> UInt8[np.ndarray, "n 64 64 3"]:
        """Observations of raw state bytes; each is parsed first (about 40 us) because
        procgen would abort the process on a malformed state."""
        for s in states:
            MazeState.parse(s)
        return self.observe_states_unchecked(list(states))

    def generate_states(
        self, seeds: Iterable[int], distribution_mode: DistributionMode = DEFAULT_MODE
    ) -> list[bytes]:
        """Fresh level states for ``seeds``, generated in batches in the shared env.

        Each level is the one procgen builds for an env with ``start_level=seed,
        num_levels=1``: a slot is given a state whose level-seed range is
        ``[seed, seed + 1)``, then a forced reset (action -1) makes procgen draw that
        seed and generate the level. Grid, mouse, RNG state and pixels equal the
        reference env's; only bookkeeping fields differ (game_n, prev_level_seed,
        episode_done, move_action, step_rand_int, the level-seed RNG).
        After the episode ends, procgen regenerates the same level, as it would in
        the reference env.
        """
        seeds = [check_seed(s) for s in seeds]
        code = mode_code(distribution_mode)
        out: list[bytes] = []
        if not seeds:
            return out
        env = self._env_for(len(seeds))
        template = bytearray(self._template)
        off = self._offsets
        struct.pack_into("<i", template, off["options.distribution_mode"], code)
        struct.pack_into("<i", template, off["episodes_remaining"], 0)
        force_reset = np.full(env.num, -1, dtype=np.int32)
        for start in range(0, len(seeds), env.num):
            chunk = seeds[start : start + env.num]
            for slot, seed in enumerate(chunk):
                struct.pack_into("<i", template, off["level_seed_low"], seed)
                struct.pack_into("<i", template, off["level_seed_high"], seed + 1)
                s = bytes(template)
                env.call_c_func("set_state", slot, s, len(s))
            env.act(force_reset)
            out.extend(env.callmethod("get_state")[: len(chunk)])
        return out


def observe(mazes: Sequence[Any], renderer: MazeRenderer | None = None) -> np.ndarray:
    """``(n, 64, 64, 3)`` uint8 observations of ``mazes``; see :meth:`MazeRenderer.observe`.

    Without a renderer a temporary one is made (and closed): pass one when rendering
    many batches.
    """
    if renderer is not None:
        return renderer.observe(mazes)
    with MazeRenderer() as tmp:
        return tmp.observe(mazes)
