"""The procgen maze environment, without any model: state bytes, the Maze value
object, observations rendered by procgen, and maze geometry.

Coordinates everywhere are world cells ``(row, col)`` with row 0 at the bottom of the
image; see :mod:`hooked_impala.maze.maze`.
"""

from .geometry import (
    MazeFeatures,
    decision_square,
    distance_map,
    fork_cell,
    maze_features,
    path_to_cheese,
    path_to_top_right,
    shortest_path,
    top_right_region,
)
from .maze import WORLD_SIZES, Cell, Maze, MazeEditError, Tile, mazes_from_seeds
from .render import DISTRIBUTION_MODES, MazeRenderer, observe
from .state import MazeState, MazeStateError, state_fields

__all__ = [
    "Cell", "DISTRIBUTION_MODES", "Maze", "MazeEditError", "MazeFeatures", "MazeRenderer",
    "MazeState", "MazeStateError", "Tile", "WORLD_SIZES", "decision_square", "distance_map",
    "fork_cell", "maze_features", "mazes_from_seeds", "observe", "path_to_cheese",
    "path_to_top_right", "shortest_path", "state_fields", "top_right_region",
]
