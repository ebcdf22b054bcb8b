"""What the explorer computes for a maze and an intervention, without any web framework:
the original and intervened vector fields (cached per maze and intervention: an edit
recomputes one field, a slider move only the intervened one), the fraction of activations
modified, the channel maps (or, with a dictionary, its latents' maps), the patching map, an
episode, and the export.

The page's server may run callbacks in several threads; procgen's renderer and the model's
hooks are not thread-safe, so every call here holds one lock.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch

from analyses.maze_view import (
    STATE_FILE,
    InterventionSettings,
    MazeViewResult,
    Ranking,
    RolloutKind,
    channel_maps,
    episode_figure,
    play_one,
    top_channels,
    view,
)
from explorer.edits import Session
from explorer.patching_view import Method, PatchingMap, patching_map
from hooked_impala.dictionary.train import TrainedSAE
from hooked_impala.interventions import ModifiedCount, count_modified
from hooked_impala.maze import Cell, DistributionMode, Maze, MazeRenderer
from hooked_impala.model import HookedImpala
from hooked_impala.patching import Corruption
from hooked_impala.policy import VectorField, vector_field
from hooked_impala.pretrained import available_checkpoints, load_pretrained
from hooked_impala.pretrained.registry import ENV_HOME, find_checkpoint_info

#: Fields and hook sets kept per explorer (a 25×25 field is about 15 kB).
CACHE_SIZE = 64
#: What the maps show: the hook's channels, or the latents of the dictionary given.
UNITS = ("channels", "latents")


class _Cache:
    """A small least-recently-used cache."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, object] = OrderedDict()

    def lookup(self, key: Hashable) -> object | None:
        return self._items.get(key)

    def get(self, key: Hashable, make: Callable[[], object]) -> object:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


@dataclass(frozen=True)
class FieldView:
    """The fields of one maze under one intervention, and how long they took."""

    maze: Maze
    original: VectorField
    intervened: VectorField
    modified: ModifiedCount | None
    observation: np.ndarray
    seconds: float

    def shown(self, which: str) -> VectorField:
        """ "original", "intervened" or "difference" (intervened − original)."""
        if which == "original":
            return self.original
        if which == "intervened":
            return self.intervened
        if which == "difference":
            return self.intervened.diff(self.original, "intervened − original")
        raise ValueError(f"view must be original, intervened or difference, got {which!r}")


class Explorer:
    """A model, a renderer and caches; ``checkpoint`` is how the command line named the
    model (for the reproducing command)."""

    def __init__(
        self, model: HookedImpala, checkpoint: str, dictionary: TrainedSAE | None = None
    ) -> None:
        self.model = model
        self.checkpoint = checkpoint
        self.renderer = MazeRenderer()
        self._lock = threading.Lock()
        self._mazes = _Cache()
        self._fields = _Cache()
        self._hooks = _Cache()
        self._models = {checkpoint: model}
        #: What the page offers: this one, and the registry's that load without a download.
        self.checkpoints = list(dict.fromkeys([checkpoint, *available_checkpoints()]))
        shapes = {n: s for n, s in model.hook_shapes(1).items() if len(s) == 4}
        self.spatial_hooks = list(shapes)
        self.channels = {name: shape[1] for name, shape in shapes.items()}
        self.dictionary = dictionary
        if dictionary is not None:
            hook = model.resolve_hook_name(dictionary.hook)
            if hook not in shapes:
                raise ValueError(f"the dictionary's hook {hook!r} is not a spatial hook point")
            if shapes[hook][1] != dictionary.sae.config.channels:
                raise ValueError(
                    f"the dictionary takes {dictionary.sae.config.channels} channels but "
                    f"{hook!r} has {shapes[hook][1]} in this model"
                )

    def close(self) -> None:
        self.renderer.close()

    def use(self, checkpoint: str) -> None:
        """Make ``checkpoint`` (a registry name or a path) the model of every computation
        from now on; each is loaded once and kept. ValueError saying why one cannot load."""
        with self._lock:
            if checkpoint == self.checkpoint:
                return
            if checkpoint not in self._models:
                try:
                    loaded = load_pretrained(checkpoint, device=self.model.device, progress=False)
                except (OSError, ValueError) as err:  # not there, not a checkpoint, no download
                    raise ValueError(f"cannot load checkpoint {checkpoint!r}: {err}") from None
                self._models[checkpoint] = loaded
            self.model, self.checkpoint = self._models[checkpoint], checkpoint
            shapes = self.model.hook_shapes(1)
            self.channels = {name: shapes[name][1] for name in self.spatial_hooks}
            self._fields, self._hooks = _Cache(), _Cache()  # both hold this model's numbers

    def mode_note(self, mode: DistributionMode) -> str:
        """A warning when ``mode``'s levels are not those the checkpoint was trained on."""
        info = find_checkpoint_info(self.checkpoint)
        if info is None or info.trained_mode == mode:
            return ""
        return (
            f"note: {mode} levels are outside {info.name}'s training distribution (it was "
            f"trained on {info.trained_mode} levels)"
        )

    def _level(self, seed: int, mode: DistributionMode) -> Maze:
        return self._mazes.get((seed, mode), lambda: Maze.from_seed(seed, mode, self.renderer))

    def maze(self, session: Session) -> Maze:
        """The session's maze. Replays its edits on the level, starting from the maze before
        the last edit when that is cached (the usual case: one new edit, or an undo)."""
        with self._lock:
            key = (session.seed, session.mode, session.edits)

            def replay() -> Maze:
                parent = session.undone()
                before = self._mazes.lookup((parent.seed, parent.mode, parent.edits))
                if session.edits and before is not None:
                    return session.replay(self._level, len(parent.edits), before)
                return session.replay(self._level)

            return self._mazes.get(key, replay)

    def _hooks_for(self, maze: Maze, settings: InterventionSettings):
        return self._hooks.get(
            (maze.to_state(), settings),
            lambda: settings.hooks(self.model, maze, self.renderer),
        )

    def fields(self, maze: Maze, settings: InterventionSettings) -> FieldView:
        """Original and intervened fields; ValueError if the intervention does not apply."""
        with self._lock:
            started = time.perf_counter()
            state = maze.to_state()
            original = self._fields.get(
                (state, None),
                lambda: vector_field(self.model, maze, renderer=self.renderer, label="original"),
            )
            hooks = self._hooks_for(maze, settings)
            intervened, modified = original, None
            if hooks:
                intervened = self._fields.get(
                    (state, settings),
                    lambda: vector_field(
                        self.model, maze, hooks, self.renderer, label=settings.describe()
                    ),
                )
            observation = self.renderer.observe([maze])[0]
            if hooks:
                obs = torch.from_numpy(observation[None]).to(self.model.device)
                modified = count_modified(self.model, obs, hooks)
            return FieldView(
                maze,
                original,
                intervened,
                modified,
                observation,
                time.perf_counter() - started,
            )

    def maps(
        self,
        maze: Maze,
        settings: InterventionSettings,
        hook: str,
        ranking: Ranking,
        top: int,
        units: str = UNITS[0],
        chosen: tuple[int, ...] = (),
    ) -> tuple[list[int], np.ndarray]:
        """The ``top`` channels at ``hook`` by ``ranking`` (or the ``chosen`` ones) and their
        ``(2, k, H, W)`` maps, original and intervened; with ``units="latents"``, the
        dictionary's latents instead (its codes at every position of its own hook)."""
        with self._lock:
            obs = torch.from_numpy(self.renderer.observe([maze]))
            maps = channel_maps(self.model, obs, hook, self._hooks_for(maze, settings))
            if units == "latents":
                maps = self._latent_maps(hook, maps)
            elif units != "channels":
                raise ValueError(f"the maps show one of {', '.join(UNITS)}, got {units!r}")
            count = maps.shape[1]
            if bad := [u for u in chosen if u >= count]:
                raise ValueError(
                    f"{units} {bad} do not exist here: there are {count} (0–{count - 1})"
                )
            shown = list(chosen) or top_channels(maps, ranking, maze, top)
            if not shown:
                raise ValueError(
                    f"no {units[:-1]} at {hook} changes under this intervention (it acts "
                    "after this hook, or there is none): rank by something else"
                )
            return shown, maps[:, shown].numpy()

    def patching(
        self, maze: Maze, hook: str, corruption: Corruption, method: Method
    ) -> PatchingMap:
        """``patching_view.patching_map`` of ``maze`` (cached with the fields)."""
        with self._lock:
            return self._fields.get(
                ("patching", maze.to_state(), hook, corruption, method),
                lambda: patching_map(self.model, maze, hook, corruption, method, self.renderer),
            )

    def _latent_maps(self, hook: str, maps: torch.Tensor) -> torch.Tensor:
        if self.dictionary is None:
            raise ValueError("no dictionary loaded: start the explorer with --dictionary PATH")
        own = self.model.resolve_hook_name(self.dictionary.hook)
        if self.model.resolve_hook_name(hook) != own:
            raise ValueError(f"the dictionary's latents are at {own!r}; choose that hook")
        if self.channels[own] != self.dictionary.sae.config.channels:
            raise ValueError(f"the dictionary was made for another model than {self.checkpoint}")
        with torch.no_grad():
            return self.dictionary.sae.latent_maps(maps)

    def episode(
        self,
        maze: Maze,
        settings: InterventionSettings,
        kind: RolloutKind,
        seed: int,
        max_steps: int,
    ) -> tuple[list[Cell], bool]:
        """One episode under the intervention: the mouse's cells and whether it got the
        cheese."""
        with self._lock:
            hooks = self._hooks_for(maze, settings)
            played = play_one(self.model, maze, hooks, kind, seed, max_steps)
            return [list(c) for c in played.cells], played.reached_cheese

    def episode_figure(self, maze: Maze, cells: list[Cell], step: int) -> go.Figure:
        with self._lock:
            empty = VectorField(maze, (), np.zeros((0, 5)), "episode")
            return episode_figure(empty, [tuple(c) for c in cells], step)

    def export(
        self,
        maze: Maze,
        settings: InterventionSettings,
        parent: Path,
        *,
        maps_hook: str,
        ranking: Ranking,
        top: int,
        rollout_kind: RolloutKind,
        max_steps: int,
        seed: int,
    ) -> tuple[MazeViewResult, list[Path], str]:
        """The view as the analysis's result files in a new folder under ``parent``
        (:func:`new_view_folder`: no export replaces another) and the command that makes the
        same files again."""
        with self._lock:
            result = view(
                self.model,
                maze,
                settings,
                maps_hook=maps_hook,
                ranking=ranking,
                top=top,
                rollout_kind=rollout_kind,
                max_steps=max_steps,
                seed=seed,
                renderer=self.renderer,
            )
        out = new_view_folder(parent)
        try:
            written = result.save(out)
        except BaseException:
            with contextlib.suppress(OSError):
                out.rmdir()  # the reserved folder, still empty: the save replaces it whole
            raise
        command = ["python", "-m", "analyses.maze_view", "--checkpoint", self.checkpoint]
        command += ["--device", str(self.model.device), "--state", str(out / STATE_FILE)]
        command += settings.flags()
        command += ["--maps-hook", maps_hook, "--ranking", ranking, "--top", str(top)]
        command += ["--rollout", rollout_kind, "--max-steps", str(max_steps), "--seed", str(seed)]
        command += ["--out", str(out)]
        # The checkpoint is found where this explorer found it: the same cache folder.
        home = os.environ.get(ENV_HOME)
        prefix = f"{ENV_HOME}={shlex.quote(home)} " if home else ""
        return result, written, prefix + shlex.join(command)


def new_view_folder(parent: Path) -> Path:
    """A new, empty folder ``parent/view-<date>-<time>``, or with ``-2``, ``-3``, ... after
    it when that is taken (two exports within a second), created here (so two exports at
    once cannot pick the same name either)."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("view-%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        folder = parent / (stamp if n == 1 else f"{stamp}-{n}")
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            return folder
