"""Vector fields: the policy's movement distribution with the mouse on every open cell.

``vector_field(model, maze)`` places the mouse on each open cell (all but the cheese's),
renders those observations exactly (``mouse_placements.observe_mouse_on_cells``), runs the model in
one batched forward pass (optionally under forward hooks: an intervention), and returns a
``VectorField``. The forward pass is incremental by default where that is faster
(:mod:`hooked_impala.incremental`: only what the mouse changes is recomputed; the same
numbers up to float rounding). Its arrow at a cell is the net movement probability
``(P(RIGHT) − P(LEFT), P(UP) − P(DOWN))`` in the maze's (column, row) axes, row 0 at the
bottom. ``field_a.diff(field_b)`` compares two fields, e.g. with and without a hook.

``vector_fields(model, mazes)`` makes the fields of many mazes (seeds) as a sweep
(:mod:`hooked_impala.sweep`): chunks of mazes in this process, or as Ray tasks with
``backend=Backend(ray=True)``; the fields come back in the mazes' order either way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float, UInt8

from hooked_impala import checks
from hooked_impala.actions import Movement
from hooked_impala.hooks import HookSpec
from hooked_impala.incremental import Method, forward
from hooked_impala.maze import Cell, Maze, MazeRenderer
from hooked_impala.maze.mouse_placements import maze_background, observe_mouse_on_cells
from hooked_impala.maze.render import OBS_SHAPE
from hooked_impala.model import HookedImpala
from hooked_impala.sweep import Backend, chunked, run_sweep

#: Mazes per chunk of ``vector_fields`` (one forward pass of about 100 observations each).
VECTOR_FIELD_CHUNK = 16


@dataclass(frozen=True)
class VectorField:
    """Movement probabilities per cell of one maze.

    Attributes:
        maze: the maze (its mouse position is irrelevant: every listed cell was tried).
        cells: ``n`` world cells ``(row, col)``, row 0 at the bottom.
        probs: ``(n, 5)`` P(LEFT, DOWN, UP, RIGHT, NOOP) per cell (``Movement`` order);
            for a difference of two fields, the difference of those probabilities.
        label: a name for figures (e.g. "original", "cheese vector −1", "difference").
        is_difference: True for ``a.diff(b)``: probabilities are differences, drawn in red.
    """

    maze: Maze
    cells: tuple[Cell, ...]
    probs: Float[np.ndarray, "n 5"]
    label: str = "vector field"
    is_difference: bool = False

    def __post_init__(self) -> None:
        if self.probs.shape != (len(self.cells), len(Movement)):
            raise ValueError(
                f"probs has shape {self.probs.shape}, expected ({len(self.cells)}, {len(Movement)})"
            )

    @property
    def arrows(self) -> Float[np.ndarray, "n 2"]:
        """``(n, 2)`` net movement ``(d_col, d_row)``: (P(RIGHT) − P(LEFT), P(UP) − P(DOWN))."""
        p = self.probs
        return np.stack(
            [p[:, Movement.RIGHT] - p[:, Movement.LEFT], p[:, Movement.UP] - p[:, Movement.DOWN]],
            axis=1,
        )

    def at(self, cell: Cell) -> Float[np.ndarray, 5]:
        """The five probabilities at ``cell``; KeyError naming the cell if it is not here."""
        try:
            return self.probs[self.cells.index(tuple(cell))]
        except ValueError:
            raise KeyError(
                f"cell {tuple(cell)} is not in this vector field (not open, or the cheese)"
            ) from None

    def diff(self, other: VectorField, label: str | None = None) -> VectorField:
        """``self − other`` cell by cell; both must cover the same cells of the same maze grid."""
        if self.cells != other.cells or not np.array_equal(
            self.maze.world_grid, other.maze.world_grid
        ):
            raise ValueError("vector fields of different mazes or cells cannot be compared")
        return VectorField(
            self.maze,
            self.cells,
            self.probs - other.probs,
            label or f"{self.label} − {other.label}",
            is_difference=True,
        )

    def figure(
        self,
        title: str | None = None,
        scale: float = 0.9,
        renderer: MazeRenderer | None = None,
        image: UInt8[np.ndarray, "64 64 3"] | None = None,
    ) -> go.Figure:
        """A plotly figure: one arrow per cell over procgen's own rendering of the maze.

        The image is the maze with the mouse removed (``maze_background``), or ``image``
        (an observation of this maze, e.g. with its mouse); the axes are
        world cells (col, row), row 0 at the bottom, so each arrow starts at its cell's
        centre in the rendered image. ``renderer`` is reused if given (a temporary one
        otherwise). Arrows are blue, or red for a difference of two fields.
        """
        size = self.maze.world_size
        # Each world cell is 64 / world_size pixels (not an integer: 15 or 25 cells).
        # Flipped so that array row 0 is world row 0; with an upward y axis plotly puts
        # it at the bottom, and pixel i's centre at x0 + i * d.
        d = size / OBS_SHAPE[0]
        x0 = y0 = d / 2 - 0.5
        fig = go.Figure(
            go.Image(
                z=np.flipud(maze_background(self.maze, renderer) if image is None else image),
                x0=x0,
                dx=d,
                y0=y0,
                dy=d,
                hoverinfo="skip",
                name="procgen rendering",
            )
        )
        arrows = self.arrows * scale
        xs, ys, hover = [], [], []
        for (row, col), (dx, dy), p in zip(self.cells, arrows, self.probs):
            xs += [col, col + dx, None]
            ys += [row, row + dy, None]
            hover.append(
                f"cell (row {row}, col {col})<br>"
                + "<br>".join(f"{m.name}: {p[m]:+.3f}" for m in Movement)
            )
        # Saturated colours read on both the dark (easy) and the pale (hard) floor.
        color = "#e8183c" if self.is_difference else "#1f6fff"
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": color, "width": 2.5},
                hoverinfo="skip",
                name="net movement",
            )
        )
        # Arrowheads: plotly's "arrow" points up at angle 0 and turns clockwise; the
        # axes share a scale, so atan2(dx, dy) is the on-screen direction. A dot marks
        # an arrow too short to have a direction.
        length = np.hypot(arrows[:, 0], arrows[:, 1])
        fig.add_trace(
            go.Scatter(
                x=[c + dx for (_, c), (dx, _) in zip(self.cells, arrows)],
                y=[r + dy for (r, _), (_, dy) in zip(self.cells, arrows)],
                mode="markers",
                marker={
                    "symbol": np.where(length > 0.05, "arrow", "circle").tolist(),
                    "angle": np.degrees(np.arctan2(arrows[:, 0], arrows[:, 1])).tolist(),
                    "size": np.where(length > 0.05, 9, 4).tolist(),
                    "color": color,
                    "line": {"color": "white", "width": 0.5},
                },
                text=hover,
                hoverinfo="text",
                name="arrow tips",
            )
        )
        axis = {
            "range": [-0.5, size - 0.5],
            "showgrid": False,
            "zeroline": False,
            "constrain": "domain",  # a narrow page shrinks the square, not the range
        }
        fig.update_layout(
            title=title or self.label,
            height=640,  # no width: the figure fills its container
            showlegend=False,
            xaxis={**axis, "title": "col"},
            # An explicit range also stops plotly reversing the y axis for an image.
            yaxis={**axis, "title": "row (0 = bottom)", "scaleanchor": "x"},
            margin={"l": 50, "r": 10, "t": 60, "b": 45},
            plot_bgcolor="white",
        )
        return fig


def vector_field_cells(maze: Maze) -> list[Cell]:
    """The cells a vector field covers: every open cell except the cheese's."""
    return [cell for cell in maze.open_cells if cell != maze.cheese]


def vector_field(
    model: HookedImpala,
    maze: Maze,
    fwd_hooks: Sequence[HookSpec] = (),
    renderer: MazeRenderer | None = None,
    cells: Sequence[Cell] | None = None,
    batch_size: int | None = None,
    label: str = "vector field",
    method: Method = "auto",
) -> VectorField:
    """The model's movement distribution with the mouse on every open cell of ``maze``.

    Args:
        model: any ``HookedImpala``.
        maze: the maze; the mouse keeps its sprite orientation on every cell.
        fwd_hooks: ``[(hook name or filter, fn)]`` active during the forward pass.
        renderer: a procgen renderer to reuse (a temporary one otherwise).
        cells: a subset of cells (default: ``vector_field_cells(maze)``).
        batch_size: observations per forward pass (default: all at once).
        method: ``"full"``: one forward pass over the observations; ``"incremental"``:
            :func:`~hooked_impala.incremental.incremental_forward`, which recomputes each
            layer only where the mouse changed it, and runs hooks that act position by
            position (the toolkit's interventions with values shared by every cell) on
            those windows, any other hook on full activations from its layer on;
            ``"auto"``: incremental where it is faster (enough cells for the model's width:
            ``incremental_pays``). Both give the same probabilities up to float rounding.
    """
    cells = list(vector_field_cells(maze) if cells is None else [tuple(c) for c in cells])
    open_ = set(maze.open_cells)
    bad = [c for c in cells if c not in open_ or c == maze.cheese]
    if bad:
        raise ValueError(f"vector field cells must be open and not the cheese's; got {bad[:5]}")
    own = renderer is None
    renderer = renderer or MazeRenderer()
    try:
        obs = observe_mouse_on_cells(maze.to_state(), cells, renderer)
    finally:
        if own:
            renderer.close()
    batch = torch.from_numpy(obs).to(model.device)
    if batch_size is not None:
        checks.integer("batch_size", batch_size, minimum=1)
    step = batch_size or len(cells) or 1
    chunks = []
    with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
        for start in range(0, len(cells), step):
            chunks.append(forward(model, batch[start : start + step], method).movement_probs)
    probs = torch.cat(chunks).cpu().numpy() if chunks else np.zeros((0, len(Movement)))
    broken = ~np.isfinite(probs).all(axis=1)
    if broken.any():  # arrows of NaN would draw nothing and say nothing
        where = [cells[i] for i in np.flatnonzero(broken)[:5]]
        raise ValueError(
            f"vector field {label!r}: the movement probabilities hold NaN or infinite values "
            f"at {int(broken.sum())} of {len(cells)} cells (cell {where[0]} first: "
            f"{where}); a hook or the weights produce them"
        )
    return VectorField(maze, tuple(cells), probs.astype(np.float64), label)


def _vector_field_chunk(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    fwd_hooks: Sequence[HookSpec],
    batch_size: int | None,
    label: str,
    method: Method,
) -> Iterator[VectorField]:
    """``vector_fields``' chunk function: the field of each maze in order, one renderer."""
    with MazeRenderer() as renderer:
        for maze in mazes:
            yield vector_field(
                model, maze, fwd_hooks, renderer, batch_size=batch_size, label=label, method=method
            )


def vector_fields(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    fwd_hooks: Sequence[HookSpec] = (),
    batch_size: int | None = None,
    label: str = "vector field",
    backend: Backend | None = None,
    chunk_size: int = VECTOR_FIELD_CHUNK,
    method: Method = "auto",
) -> list[VectorField]:
    """``vector_field(model, maze, ...)`` of every maze, in the order of ``mazes``, as a
    sweep of ``chunk_size`` mazes a chunk.

    Args:
        model: any ``HookedImpala``.
        mazes: the mazes (e.g. ``mazes_from_seeds(range(1000), "easy")``).
        fwd_hooks: active during every forward pass. On Ray they are pickled to the
            workers: use functions a worker can import (defined in a module, not in
            ``__main__`` or a notebook) or ``ray.cloudpickle.register_pickle_by_value``.
        batch_size: observations per forward pass (default: a maze's cells at once).
        label: every field's label.
        backend: where the chunks run (default: this process; ``Backend(ray=True)``: a
            local Ray instance or the cluster of ``RAY_ADDRESS``; ``Backend(address=...)``).
            A maze's field does not depend on its chunk or worker, up to float rounding of
            a forward pass on another number of torch threads (workers use one).
        chunk_size: mazes per chunk (per Ray task).
        method: the forward pass of each field (see ``vector_field``).

    Raises:
        SweepError: Ray asked for but not installed, or a chunk that failed on Ray.
    """
    mazes = list(mazes)
    if not all(isinstance(m, Maze) for m in mazes):
        kinds = sorted({type(m).__name__ for m in mazes})
        raise ValueError(f"vector_fields takes a list of Maze values, got {kinds}")
    if batch_size is not None:
        checks.integer("batch_size", batch_size, minimum=1)
    fn = functools.partial(
        _vector_field_chunk,
        fwd_hooks=list(fwd_hooks),
        batch_size=batch_size,
        label=label,
        method=method,
    )
    chunks = chunked(mazes, chunk_size)
    rows = run_sweep(model, chunks, fn, backend=backend or Backend(), ordered=True)
    try:
        return list(rows)
    finally:
        rows.close()
