"""The result of the retargeting analysis: numbers, arrays and the summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from analyses.core.result import AnalysisResult
from analyses.measure.retarget_paths import MazeRetarget
from analyses.retarget.figures import figures
from hooked_impala.stats import bootstrap_over_mazes, rate_text, spearman


def _summary_stats(clamped, moved, original, ratio) -> dict:
    finite = ratio[np.isfinite(ratio)]
    return {
        "targets": int(len(clamped)),
        "mean_clamped": float(clamped.mean()) if len(clamped) else None,
        "mean_moved_cheese": float(moved.mean()) if len(moved) else None,
        "mean_original": float(original.mean()) if len(original) else None,
        "median_success_ratio": float(np.median(finite)) if len(finite) else None,
        "mean_success_ratio": float(finite.mean()) if len(finite) else None,
    }


@dataclass(kw_only=True)
class RetargetResult(AnalysisResult):
    """Retargeting by clamping channels at a target's position.

    Attributes:
        layer, channels, magnitude: the clamp; ``channel_source`` / ``magnitude_source``
            say how they were chosen.
        per_maze: one ``MazeRetarget`` per maze.
        background: uint8 ``(64, 64, 3)`` rendering of the first maze without the mouse
            (under the heatmap).
        modified: what ``count_modified`` reports for the clamp (``modified_numbers``).
        rollouts: the rollout check (per-condition Rates, targets, budget), or None.
        corners: the corner experiment (predictions B2/B6), or None.
    """

    layer: str
    channels: list[int]
    channel_source: str
    magnitude: float
    magnitude_source: str
    per_maze: list[MazeRetarget]
    background: np.ndarray
    modified: dict
    rollouts: dict | None
    corners: dict | None
    split: dict | None = None

    def flat(self, name: str) -> np.ndarray:
        parts = [np.asarray(getattr(m, name), dtype=np.float64) for m in self.per_maze]
        return np.concatenate(parts) if parts else np.zeros(0)

    def maze_index(self) -> np.ndarray:
        """``(targets,)`` the index into ``per_maze`` of each target's maze."""
        parts = [np.full(len(m.targets), i) for i, m in enumerate(self.per_maze)]
        return np.concatenate(parts or [np.zeros(0)]).astype(np.int64)

    def over_mazes(self) -> dict[str, dict | None]:
        """The mean normalised path probability of each condition, and the ratio of the
        clamped mean to the cheese-moved one, each with its interval from a bootstrap over
        mazes (a maze gives many targets); None below two mazes."""
        clamped, moved, original = (self.flat(k) for k in ("clamped", "moved_cheese", "original"))
        index = self.maze_index()

        def saved(values: np.ndarray, statistic=None) -> dict | None:
            found = bootstrap_over_mazes(values, index, statistic)
            return None if found is None else found.as_dict()

        return {
            "original": saved(original),
            "clamped": saved(clamped),
            "moved_cheese": saved(moved),
            "ratio_of_means": saved(
                np.stack([clamped, moved], 1), lambda rows: rows[:, 0].mean() / rows[:, 1].mean()
            ),
        }

    def _by(self, groups: np.ndarray) -> dict[str, dict]:
        clamped, moved, original = (self.flat(k) for k in ("clamped", "moved_cheese", "original"))
        ratio = self.flat("success_ratio")
        return {
            str(int(g)): _summary_stats(
                clamped[groups == g], moved[groups == g], original[groups == g], ratio[groups == g]
            )
            for g in np.unique(groups)
        }

    def numbers(self) -> dict:
        clamped, moved, original = (self.flat(k) for k in ("clamped", "moved_cheese", "original"))
        ratio = self.flat("success_ratio")
        distance = self.flat("steps_to_top_right_path")
        sizes = np.concatenate(
            [np.full(len(m.targets), m.maze.maze_size) for m in self.per_maze] or [np.zeros(0)]
        )
        skipped: dict[str, int] = {}
        for m in self.per_maze:
            for reason in m.skipped.values():
                skipped[reason] = skipped.get(reason, 0) + 1
        out = {
            "layer": self.layer,
            "channels": self.channels,
            "channel_source": self.channel_source,
            "magnitude": self.magnitude,
            "magnitude_source": self.magnitude_source,
            "mazes": len(self.per_maze),
            "maze_sizes": sorted({m.maze.maze_size for m in self.per_maze}),
            "skipped_open_cells": skipped,
            **_summary_stats(clamped, moved, original, ratio),
            "ratio_of_means": float(clamped.mean() / moved.mean()) if len(moved) else None,
            "over_mazes": self.over_mazes(),
            "spearman_ratio_vs_steps_to_top_right_path": spearman(distance, ratio),
            "spearman_ratio_vs_maze_size": spearman(sizes.astype(float), ratio),
            "by_steps_to_top_right_path": self._by(distance),
            "by_maze_size": self._by(sizes),
            "modified": self.modified,
        }
        if self.rollouts is not None:
            out["rollouts"] = self.rollouts
        if self.corners is not None:
            out["corners"] = self.corners
        if self.split is not None:
            out["split"] = self.split
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        index = self.maze_index()
        targets = [t for m in self.per_maze for t in m.targets]
        out = {
            "maze_index": index.astype(np.int64),
            "maze_seed": np.array([m.maze.seed for m in self.per_maze], dtype=np.int64),
            "target": np.array(targets, dtype=np.int64).reshape(-1, 2),
            "path_steps": self.flat("path_steps").astype(np.int64),
            "steps_to_top_right_path": self.flat("steps_to_top_right_path").astype(np.int64),
            "original": self.flat("original"),
            "clamped": self.flat("clamped"),
            "moved_cheese": self.flat("moved_cheese"),
            "success_ratio": self.flat("success_ratio"),
        }
        if self.rollouts is not None:
            for name in ("clamped", "original", "cheese_moved"):
                out[f"rollout_reached_{name}"] = np.array(self.rollouts["episodes"][name])
        return out

    def figures(self) -> dict[str, go.Figure]:
        return figures(self)

    def summary(self) -> str:
        n = self.numbers()

        mod = n["modified"]
        lines = [
            f"Retargeting at {self.layer}: channels {self.channels} ({self.channel_source}) "
            f"clamped to {self.magnitude:.3g} ({self.magnitude_source}) at the target's square",
            f"  {n['targets']} targets in {n['mazes']} mazes (sizes {n['maze_sizes']}); "
            f"skipped open cells: "
            + (", ".join(f"{k} ({v})" for k, v in n["skipped_open_cells"].items()) or "none"),
            f"  mean normalised path probability: no intervention {_num(n['mean_original'])}, "
            f"clamped {_num(n['mean_clamped'])}, cheese moved {_num(n['mean_moved_cheese'])}",
            f"  success ratio clamped / cheese moved: median {_num(n['median_success_ratio'])}, "
            f"mean {_num(n['mean_success_ratio'])}; ratio of means {_num(n['ratio_of_means'])}",
            "  Spearman(ratio, steps to the top-right path) "
            f"{_num(n['spearman_ratio_vs_steps_to_top_right_path'], '+.2f')}; "
            f"Spearman(ratio, maze size) {_num(n['spearman_ratio_vs_maze_size'], '+.2f')}",
            "  median ratio by steps to the top-right path: "
            + ", ".join(
                f"{d}: {_num(v['median_success_ratio'], '.2f')} (n={v['targets']})"
                for d, v in n["by_steps_to_top_right_path"].items()
            ),
            "  median ratio by maze size: "
            + ", ".join(
                f"{s}: {_num(v['median_success_ratio'], '.2f')} (n={v['targets']})"
                for s, v in n["by_maze_size"].items()
            ),
            f"  activations modified: {_num(mod['changed_per_forward'], '.1f')} of "
            f"{_num(mod['activations_per_forward'], ',')} per forward pass = "
            f"{_num(mod['percent'], '.5f')}% of the network "
            f"({_num(mod['percent_of_hooked'], '.3f')}% of the layer), over "
            f"{mod['observations']} forward passes",
        ]
        if self.rollouts is not None:
            r = self.rollouts
            lines.append(
                f"  rollouts, {r['targets']} targets, budget {r['budget']} steps — reached the "
                f"target: clamped {rate_text(r['clamped'])}; no intervention "
                f"{rate_text(r['original'])}; cheese moved there {rate_text(r['cheese_moved'])}"
            )
        if self.corners is not None:
            lines += _corner_lines(self.corners)
        return "\n".join(lines)


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _corner_lines(c: dict) -> list[str]:
    which = "the world size" if c["is_world_size"] else "the largest size present"
    lines = [
        f"  corners (B2/B6): {c['mazes']} mazes of size {c['maze_size']} ({which}); budget "
        f"{c['budget']} steps = the mean steps ({_num(c['budget_from']['mean_steps'], '.1f')}) "
        f"to a cheese on the top-right cell, reached {rate_text(c['budget_from']['reached'])}",
    ]
    for name, v in c["targets"].items():
        lines.append(
            f"    {name}: clamped {rate_text(v['clamped'])}; no intervention "
            f"{rate_text(v['original'])}; cheese moved there {rate_text(v['cheese_moved'])}; "
            f"shortest path {_num(v['mean_path_steps'], '.1f')} steps on average, within the "
            f"budget in {rate_text(v['path_within_budget'])}"
            + (f"; skipped {v['skipped']}" if v["skipped"] else "")
        )
    lines.append(
        f"    pooled clamped {rate_text(c['pooled_clamped'])}; modified "
        f"{_num(c['modified']['percent'], '.5f')}% of the network's activations per forward pass"
    )
    return lines
