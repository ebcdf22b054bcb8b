"""The maze's 15 procgen actions grouped into its five movements.

procgen's maze uses the shared 15-action keyboard layout; only four directions move the
mouse: LEFT = 0, 1, 2; DOWN = 3; UP = 5; RIGHT = 6, 7, 8. Everything else does nothing
(NOOP). Analyses sum the action probabilities within each group
(``hooked_impala.model.movement_probs``).

The action space is a fact of the environment that both the maze layer and the model
read, so this module imports nothing (no torch): the maze layer may use it.
"""

from __future__ import annotations

from enum import IntEnum

NUM_ACTIONS = 15


class Movement(IntEnum):
    """The five movements, in the column order of ``movement_probs``."""

    LEFT = 0
    DOWN = 1
    UP = 2
    RIGHT = 3
    NOOP = 4

    @property
    def delta(self) -> tuple[int, int]:
        """``(d_row, d_col)`` in the maze layer's convention (row 0 at the bottom, UP = +row)."""
        return _DELTAS[self]

    @classmethod
    def between(cls, a: tuple[int, int], b: tuple[int, int]) -> Movement:
        """The movement that steps from cell ``a`` to its neighbour ``b``; ValueError naming
        both cells when they are not neighbours."""
        delta = (int(b[0]) - int(a[0]), int(b[1]) - int(a[1]))
        movement = _MOVEMENT_OF_DELTA.get(delta)
        if movement is None:
            raise ValueError(f"cells {tuple(a)} and {tuple(b)} are not neighbours")
        return movement


_DELTAS = {
    Movement.LEFT: (0, -1),
    Movement.DOWN: (-1, 0),
    Movement.UP: (1, 0),
    Movement.RIGHT: (0, 1),
    Movement.NOOP: (0, 0),
}
_MOVEMENT_OF_DELTA = {delta: m for m, delta in _DELTAS.items() if m is not Movement.NOOP}

ACTIONS_OF_MOVEMENT: dict[Movement, tuple[int, ...]] = {
    Movement.LEFT: (0, 1, 2),
    Movement.DOWN: (3,),
    Movement.UP: (5,),
    Movement.RIGHT: (6, 7, 8),
    Movement.NOOP: (4, 9, 10, 11, 12, 13, 14),
}


def movement_of_action(action: int) -> Movement:
    """The movement a procgen action index performs."""
    for movement, actions in ACTIONS_OF_MOVEMENT.items():
        if action in actions:
            return movement
    raise ValueError(f"action {action!r} is not one of the {NUM_ACTIONS} procgen actions 0..14")
