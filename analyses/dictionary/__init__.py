"""Sparse dictionary features of the maze network: train, splice, label, steer.

Sparse autoencoders (TopK, :mod:`hooked_impala.dictionary`) over the channel vector at each
position of each hook, trained on observations sampled along the policy's own trajectories
in a range of levels. The levels are split by maze (the statistical unit) into training,
selection and test mazes; every number below is measured on the test mazes, and anything
chosen (the best latent, the best channel) is chosen on the selection mazes:

* quality: FVU, L0, dead and dense latents of the test vectors, and the training curve;
* spliced fidelity: KL(original ‖ edited) of the action distribution at the decision
  square, and cheese / top-right reached in rollouts, with the reconstruction spliced in,
  against zero- and mean-ablation of the same hook;
* labels: each latent's correlation with the maze features at its position, its
  top-activating observations (a page per dictionary: ``latents-<hook>.html``), and the
  latent that best locates the cheese against the best single channel;
* steering (first hook): that latent's decoder direction added at a target square against
  clamping the best channel (and the three best) there, by the retargeting measure.

    python -m analyses.dictionary --checkpoint model_160022528 --mazes 1000
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.core.inputs import Levels
from analyses.core.result import CheckpointRef, RunMetadata
from analyses.core.spec import SWEEP, Option, analysis, hooks_option
from analyses.dictionary import fidelity, labels, pages, steer
from analyses.dictionary.result import DictionaryResult, short
from analyses.measure.cheese_channels import RETARGET_CHANNELS
from hooked_impala import checks, cli
from hooked_impala.dictionary import (
    DEFAULT_HOOKS,
    DEFAULT_PER_MAZE,
    ActivationSet,
    SAEConfig,
    TrainConfig,
    add_latent,
    gather_activations,
    spatial_hooks,
    split_mazes,
    train_sae,
)
from hooked_impala.dictionary.sae import DEFAULT_K
from hooked_impala.interventions import clamp_channels
from hooked_impala.maze import MazeRenderer, mazes_from_seeds
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT
from hooked_impala.stats import bootstrap_over_mazes, paired_difference
from hooked_impala.sweep import Backend

#: Training / selection / test shares of the mazes.
SPLIT = (0.7, 0.15, 0.15)
#: Steering strength: this multiple of the map's typical peak (the mean over selection
#: observations of its largest value), the rule the retarget analysis uses for its clamps
#: (there ``AUTO_MAGNITUDE_MULTIPLE``), applied alike to the latent's code and the channels.
STEER_MULTIPLE = 4.0
#: The retarget analysis's default number of cheese channels clamped together.
TOP_CHANNELS = RETARGET_CHANNELS
DEFAULT_TARGETS = 4
#: Where ``cache="auto"`` keeps the activations and the dictionaries.
AUTO_CACHE = Path("out/dictionary-cache")


def cache_flag(text: str) -> str | Path:
    """argparse type of ``--cache``: "auto", or a folder results can be written into."""
    return "auto" if text == "auto" else cli.output_folder(text)


def _cache_folder(cache: str | Path, key: dict) -> Path:
    if cache != "auto":
        return checks.output_folder("cache", cache)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    name = Path(str(key["checkpoint"])).stem.strip("()").replace(" ", "_") or "model"
    return AUTO_CACHE / f"{name}-{key['mazes']}mazes-{digest}"


def _activations(model, seeds, folder: Path, settings: dict, backend: Backend) -> ActivationSet:
    """The gathered activations, from ``folder`` when gathered there with these settings."""
    path = folder / "activations.npz"
    if path.is_file():
        data = ActivationSet.load(path)
        if data.settings.get("key") == settings:
            return data
    data = gather_activations(
        model, seeds, hooks=settings["hooks"], per_maze=settings["per_maze"],
        mode=settings["mode"], seed=settings["seed"], backend=backend,
    )  # fmt: skip
    data.settings["key"] = settings
    data.save(path)
    return data


@analysis(
    question=(
        "Do sparse dictionary features track the cheese better than single channels, how much "
        "of the policy do they carry, and does steering with one retarget the mouse?"
    ),
    select=list,  # not used: the analysis takes every level of a seed range
    options=(
        hooks_option("spatial hooks to train dictionaries at (the first is steered)"),
        Option("size", "latents per dictionary (None: 8 per channel)", kind=cli.positive_int),
        Option("k", "active latents per vector (TopK)", kind=cli.positive_int),
        Option("steps", "training steps per dictionary", kind=cli.positive_int),
        Option(
            "per_maze", "observations sampled along each maze's trajectory", kind=cli.positive_int
        ),
        Option("targets_per_maze", "steering targets per test maze", kind=cli.positive_int),
        Option(
            "max_steps",
            "step limit of the fidelity rollouts",
            kind=cli.integer(1, PROCGEN_STEP_LIMIT),
        ),
        Option(
            "cache",
            "folder for the activations and the dictionaries (resumed by a rerun); 'auto': "
            "under out/dictionary-cache, named by the settings",
            kind=cache_flag,
        ),
        SWEEP,
    ),  # fmt: skip
    quick={"steps": 200, "per_maze": 2, "targets_per_maze": 2, "max_steps": 60},
    levels=1000,
    quick_levels=30,
)
def run(
    model: HookedImpala,
    inputs: Levels,
    *,
    hooks: Sequence[str] = DEFAULT_HOOKS,
    size: int | None = None,
    k: int = DEFAULT_K,
    steps: int = TrainConfig.steps,
    per_maze: int = DEFAULT_PER_MAZE,
    targets_per_maze: int = DEFAULT_TARGETS,
    max_steps: int = PROCGEN_STEP_LIMIT,
    cache: str | Path = "auto",
    sweep: Backend = Backend(),
    seed: int = 0,
    progress: bool = False,
) -> DictionaryResult:
    """Train, measure, label and steer with a dictionary at each of ``hooks`` (see the
    module docstring); ``size`` None: 8 latents per channel."""
    if not isinstance(inputs, Levels):
        raise ValueError("the dictionary analysis takes Levels (a range of level seeds)")
    hooks = spatial_hooks(model, hooks)
    k = checks.integer("k", k, minimum=1)
    steps = checks.integer("steps", steps, minimum=1)
    targets_per_maze = checks.integer("targets_per_maze", targets_per_maze, minimum=1)
    seeds = list(inputs.seeds)
    train_seeds, selection, test = split_mazes(seeds, SPLIT, seed)
    ref = CheckpointRef.of(model)
    settings = {
        "checkpoint": ref.name, "sha256": ref.sha256, "mode": inputs.mode, "hooks": list(hooks),
        "per_maze": per_maze, "seed": seed, "mazes": len(seeds), "first_seed": seeds[0],
    }  # fmt: skip
    folder = _cache_folder(cache, settings)
    data = _activations(model, seeds, folder, settings, sweep)
    by_seed = {m.seed: m for m in mazes_from_seeds(selection + test, inputs.mode)}
    test_mazes = [by_seed[s] for s in test]
    per_hook, found, page_html = {}, {}, {}
    for hook in hooks:
        channels = data.activations[hook].shape[1]
        config = SAEConfig.default(channels, size, k)
        train = TrainConfig(steps=steps, seed=seed)
        trained = train_sae(
            data.vectors(hook, data.rows_of(train_seeds)), config, hook=hook, train=train,
            data={**settings, "training_mazes": len(train_seeds)},
            checkpoint=folder / f"{short(hook)}.sae.pt",
            evaluate_on=data.vectors(hook, data.rows_of(test)), progress=progress,
        )  # fmt: skip
        sae = trained.sae
        mean = data.activations[hook][data.rows_of(train_seeds)].mean(0)
        edits = fidelity.edits(hook, sae, mean)
        lab = labels.label(sae, data, hook, selection, test, by_seed, seed=seed)
        found[hook] = (sae, lab)
        best = lab.best_channel
        per_hook[hook] = {
            "sae": config.as_dict(),
            "train": {"steps": train.steps, "batch": train.batch, "lr": train.lr},
            "training_vectors": int(data.rows_of(train_seeds).size * np.prod(mean.shape[1:])),
            "quality": trained.quality.as_dict(),
            "curve": trained.curve,
            "decision_kl": {
                name: value["mean"]
                for name, value in fidelity.decision_kl(model, test_mazes, edits).items()
            },
            "behaviour": fidelity.behaviour(
                model, test_mazes, edits, seed=seed, max_steps=max_steps
            ),
            "cheese_tracking": {
                **lab.test,
                "best_latent": lab.best_latent,
                "best_channel": best % channels,
                "best_channel_sign": 1 if best < channels else -1,
                "best_channel_name": f"{'+' if best < channels else '-'}{best % channels}",
                "best_latent_selection": float(lab.latent_selection[lab.best_latent]),
                "best_channel_selection": float(lab.channel_selection[best]),
            },
        }
        top = labels.frames(sae, data, hook, lab.top, by_seed)
        firing = np.array(trained.quality.firing)
        ranking = {i: float(v) for i, v in enumerate(lab.latent_selection)}
        page = pages.latent_page(hook, firing, lab.correlations, top, ranking)
        page_html[f"latents-{short(hook)}.html"] = page
    steering, per_target = _steering(
        model, hooks[0], found[hooks[0]], test_mazes, targets_per_maze, seed
    )
    return DictionaryResult(
        metadata=RunMetadata(
            analysis="dictionary",
            checkpoint=ref,
            hooks=tuple(hooks),
            seed=seed,
            maze_seeds=tuple(seeds),
            parameters={
                "size": size,
                "k": k,
                "steps": steps,
                "per_maze": per_maze,
                "targets_per_maze": targets_per_maze,
                "max_steps": max_steps,
                "split": SPLIT,
                "steer_multiple": STEER_MULTIPLE,
            },
        ),  # fmt: skip
        split={"train": train_seeds, "selection": selection, "test": test, "seed": seed},
        data={k: v for k, v in data.settings.items() if k != "key"},
        per_hook=per_hook,
        steering=steering,
        pages_html=page_html,
        per_target=per_target,
    )


def _steering(model, hook, found, test_mazes, targets_per_maze, seed):
    """The steering comparison at ``hook`` over the test mazes (see the module)."""
    sae, lab = found
    channels = sae.config.channels
    size = model.hook_shapes(1)[hook][-1]
    best = lab.best_channel
    sign = 1.0 if best < channels else -1.0
    top = np.argsort(-lab.channel_selection[:channels], kind="stable")[:TOP_CHANNELS]
    strengths = {
        "latent": STEER_MULTIPLE * lab.latent_peak,
        "channel": sign * STEER_MULTIPLE * float(lab.channel_peaks[best]),
        "top_channels": STEER_MULTIPLE * float(lab.channel_peaks[top].max()),
    }
    edits = {
        "latent": lambda at: add_latent(hook, sae, lab.best_latent, strengths["latent"], at=at),
        "channel": lambda at: clamp_channels(hook, [best % channels], strengths["channel"], at=at),
        "top_channels": lambda at: clamp_channels(
            hook, [int(c) for c in top], strengths["top_channels"], at=at
        ),
    }
    values: dict[str, list[np.ndarray]] = {}
    mazes = []
    with MazeRenderer() as renderer:
        for maze in test_mazes:
            targets = steer.choose_targets(maze, targets_per_maze, seed)
            if not targets:
                continue
            found_maze = steer.path_probabilities(model, maze, targets, edits, size, renderer)
            for name, v in found_maze.items():
                values.setdefault(name, []).append(v)
            mazes.append(np.full(len(targets), maze.seed))
    if not mazes:
        return None, {}
    per_target = {f"steer_{n}": np.concatenate(v) for n, v in values.items()}
    ids = np.concatenate(mazes)
    per_target["steer_maze"] = ids

    def estimate(v):
        found_value = bootstrap_over_mazes(v, ids, seed=seed)
        return None if found_value is None else found_value.as_dict()

    def diff(a, b):
        found_value = paired_difference(per_target[f"steer_{b}"], per_target[f"steer_{a}"], ids)
        return None if found_value is None else found_value.as_dict()

    return {
        "hook": hook,
        "latent": lab.best_latent,
        "channel": best % channels,
        "channel_sign": int(sign),
        "top_channels": [int(c) for c in top],
        "strengths": strengths,
        "targets": len(ids),
        "mazes": len(mazes),
        "mean": {n: estimate(per_target[f"steer_{n}"]) for n in values},
        "latent_minus_channel": diff("latent", "channel"),
        "latent_minus_channels": diff("latent", "top_channels"),
    }, per_target
