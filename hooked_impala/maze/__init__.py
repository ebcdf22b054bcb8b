"""The procgen maze environment, without any model: state bytes, the Maze value object,
observations rendered by procgen, regions, and maze geometry (shortest paths, decision
squares and points).

Nothing here imports torch or the network (``tests/test_layout.py`` checks every file);
running a policy in these mazes is :mod:`hooked_impala.policy`. Coordinates everywhere are
world cells ``(row, col)`` with row 0 at the bottom of the image; see
:mod:`hooked_impala.maze.maze`.
"""

from .geometry import (
    DecisionPoint,
    MazeFeatures,
    decision_points,
    decision_square,
    distance_map,
    fork_cell,
    maze_features,
    path_to_cheese,
    path_to_top_right,
    shortest_path,
)
from .maze import WORLD_SIZES, Cell, Maze, MazeEditError, Tile, mazes_from_seeds
from .pixels import layer_position, layer_positions
from .regions import ANYWHERE, TOP_RIGHT_5, Region, heldout_mazes, place_cheese
from .render import DEFAULT_MODE, DISTRIBUTION_MODES, DistributionMode, MazeRenderer, observe
from .state import MazeState, MazeStateError, state_fields

__all__ = [
    "ANYWHERE",
    "DEFAULT_MODE",
    "DISTRIBUTION_MODES",
    "TOP_RIGHT_5",
    "WORLD_SIZES",
    "Cell",
    "DecisionPoint",
    "DistributionMode",
    "Maze",
    "MazeEditError",
    "MazeFeatures",
    "MazeRenderer",
    "MazeState",
    "MazeStateError",
    "Region",
    "Tile",
    "decision_points",
    "decision_square",
    "distance_map",
    "fork_cell",
    "layer_position",
    "layer_positions",
    "maze_features",
    "mazes_from_seeds",
    "observe",
    "path_to_cheese",
    "path_to_top_right",
    "place_cheese",
    "heldout_mazes",
    "shortest_path",
    "state_fields",
]
