"""The procgen maze environment, without any model: state bytes, the Maze value
object, observations rendered by procgen, and maze geometry.

Coordinates everywhere are world cells ``(row, col)`` with row 0 at the bottom of the
image; see :mod:`hooked_impala.maze.maze`.
"""

from .maze import WORLD_SIZES, Cell, Maze, MazeEditError, Tile, mazes_from_seeds
from .render import DISTRIBUTION_MODES, MazeRenderer, observe
from .state import MazeState, MazeStateError, state_fields

__all__ = [
    "Cell", "DISTRIBUTION_MODES", "Maze", "MazeEditError", "MazeRenderer", "MazeState",
    "MazeStateError", "Tile", "WORLD_SIZES", "mazes_from_seeds", "observe", "state_fields",
]
