"""The procgen maze environment, without any model: state bytes, the Maze value
object, observations rendered by procgen, and maze geometry.

Coordinates everywhere are world cells ``(row, col)`` with row 0 at the bottom of the
image; see :mod:`hooked_impala.maze.maze`.
"""

from .state import MazeState, MazeStateError, state_fields

__all__ = ["MazeState", "MazeStateError", "state_fields"]
