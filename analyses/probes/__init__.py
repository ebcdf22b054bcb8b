"""Probes: where in the network is the cheese's (and the mouse's) location known?

Mini, Udell, Turner et al. report that convolutional probes recover the cheese's location
nearly perfectly from blocks 1–2, that whether a cell is open is recoverable perfectly in
block 1 and near chance in block 3, and a "found the cheese" probe at 78–85% against a 68%
baseline. Pre-registered predictions: linear probes at the first residual add of block 2
recover the cheese position with more than 70% accuracy (A5); some layer recovers the exact
cheese location with more than 90% accuracy for every maze size (B8).

**Data.** Every level of a seed range (:class:`~analyses.core.inputs.Levels`), each with the
mouse on ``positions_per_maze`` open cells of its inner maze (not the cheese's), drawn with
a seeded rng per maze, facing left or right at random; each observation has its cheese
removed (``Maze.without_cheese``) with probability ``without_cheese``. The placements are
rendered by procgen in batches of edited mazes: for a few placements per maze that is
cheaper than ``observe_mouse_on_cells``, which draws a background frame plus one frame per
``(row mod 3, col mod 3)`` group (0.75 s against 1.5 s for 300 mazes × 4). Labels, all in
world cells ``(row, col)``, row 0 at the bottom:

===============  =======  ===========================================================
label            probe    value
===============  =======  ===========================================================
cheese_cell      linear   the cheese's world cell, class ``row·W + col`` (W = world
                          side), on observations that show the cheese: the *exact* cell
mouse_cell       linear   the mouse's world cell, same classes, every observation
cheese_present   linear   whether the cheese is in the picture
cell_open        linear   for each cell of the world's central 5×5 block, open or wall
                          (one binary output per cell; accuracy over (observation, cell))
cheese_square    conv     the layer's grid square under the cheese cell's centre
mouse_square     conv     the same for the mouse
===============  =======  ===========================================================

**Split.** The levels are split *by maze* (a seeded permutation of the seeds): 70% train,
10% validation (the ridge penalty), 20% test (``test_fraction``); every observation of a
maze is in its maze's set, so the test mazes are unseen. Accuracy is on the test mazes,
with a 95% Wilson interval, against *chance* (1/K, K = the number of distinct values of the
label in the training set; 1/2 for ``cell_open``) and the *majority* baseline (always answer
the training set's most frequent value; per cell for ``cell_open``).

**Linear probes, streamed.** A 10k-observation cache of block 1 at s = 4 (65,536 values per
observation) would not fit in memory, so nothing is cached: activations are computed a batch
at a time through the hook API and reduced on the spot.

* Each layer with more than ``features`` values is mapped to ``features`` dimensions by a
  fixed sparse random projection (scikit-learn's ``SparseRandomProjection``, density
  1/√D: about √D·``features`` non-zeros, 3 MB at block 1 of s = 4). Random projections
  keep linear structure (Johnson–Lindenstrauss); pooling the map instead would blur exactly
  the spatial detail a location probe needs (in a side check on 400 s = 1 levels, a ridge
  probe of the mouse's cell at block 1 scored 96% on the full layer, 94% on a 1,024-d
  projection and 65% on the layer average-pooled to 8×8).
* The probe is scikit-learn's ``RidgeClassifier`` (least squares on one-hot targets with an
  intercept; argmax, or threshold ½ for binary labels), fitted from its sufficient
  statistics (n, Σx, Σy, XᵀX, XᵀY), which are summed batch by batch: the fit is exact —
  ``tests/test_probes.py`` checks it against ``RidgeClassifier`` itself — and its memory
  does not grow with the number of levels. Least squares rather than logistic regression:
  one D×D factorisation serves every label and penalty, and in that side check (1,600
  observations) it was as accurate as ``LogisticRegression`` or better, in seconds instead
  of minutes.
* The penalty α is chosen per layer and label on the validation mazes from
  ``ALPHAS`` × (mean eigenvalue of the centred XᵀX).

**Convolutional probes.** A 1×1 convolution (C → 1) scores every grid square of a spatial
layer; a softmax over the squares that hold some world cell's centre
(:func:`~hooked_impala.maze.layer_positions`) gives the predicted square. It has C weights
(a bias is a constant over squares: it cannot change a softmax), is trained with Adam
online, deterministically (from zero weights, in batch order), ``conv_steps`` steps spread
over the training batches as they stream past, and ties go to the square most frequent in
training (so a probe of a constant layer scores the majority baseline). Accuracy is the
*square* accuracy: in easy mode a layer of side ≥ 15 (blocks 1 and 2) has one cell centre
per square, so square = exact cell; block 3's 8×8 grid (and hard mode's 25×25 world on
block 2's 16×16) puts two or more cells' centres in some squares, and there the square is
coarser than the cell. Also reported: answers within one square (Chebyshev).

**Refits (A5).** At ``DEFAULT_LAYER`` the cheese's cell, row and column probes are fitted
again ``refits`` times (:class:`~analyses.probes.fitting.Refits`), each on a bootstrap
resample of the training mazes and through its own projection, at the main probe's penalty;
their answers on the test mazes widen A5's intervals by what another training set and
projection would change (:func:`analyses.probes.readings.a5`). Each refit holds a D×D and
a D×(W² + 2W) sum and a projection: about 10 MB at D = 1024, 0.4 GB for 40.

**Memory bound.** Per layer: two D×D and D×(2W² + 26) float64 sums (D = ``features``;
about 20 MB at D = 1024 in easy mode; after the fit, the eigenvectors take their place),
the projection, C probe weights; plus the observations of one block of 128 levels (12 KB
per observation; with the dataset made on Ray, up to twice ``workers`` blocks that finished
ahead of their turn) and one batch of activations of every probed hook. Only
per-test-observation hit counts (bytes) grow with the number of levels.

**Where the data is made.** Rendering the placements is a sweep (``--ray``,
``--ray-address``, ``--workers``; :func:`analyses.measure.probe_data.probe_dataset`): blocks of
levels made in this process or as Ray tasks, passed on in order. The forward passes and the
fits stay in this process, so the result does not depend on it.

    python -m analyses.probes --checkpoint model_160022528 --mazes 2000
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import operator
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from analyses.core.inputs import DEFAULT_LAYER, Levels
from analyses.core.result import RunMetadata
from analyses.core.spec import SWEEP, Option, analysis, hooks_option
from analyses.measure.probe_data import (
    VALIDATION_FRACTION,
    ProbeBatch,
    fraction,
    probe_dataset,
    split_levels,
)
from analyses.probes.fitting import LabelCounts, LayerProbes, Refits
from analyses.probes.labels import ALPHAS, DEFAULT_HOOKS, LABELS, LINEAR_LABELS
from analyses.probes.result import ProbesResult
from hooked_impala import checks, cli
from hooked_impala.maze import WORLD_SIZES
from hooked_impala.model import HookedImpala
from hooked_impala.sweep import Backend


def _fraction_type(name: str, closed_low: bool, upper: float = 1.0):
    def parse(text: str) -> float:
        try:
            return fraction(name, float(text), closed_low=closed_low, upper=upper)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = "a fraction"
    return parse


@analysis(
    question="Where in the network is the cheese's (and the mouse's) location known?",
    select=list,  # not used: probes take every level of a seed range (``levels``)
    options=(
        hooks_option("hooks to probe (replaces the default list)"),
        Option("positions_per_maze", "mouse placements per maze", kind=cli.integer(1, 256)),
        Option(
            "without_cheese",
            "share of observations with the cheese removed",
            kind=_fraction_type("without_cheese", closed_low=True),
        ),
        Option(
            "features",
            "dimension of the linear probes' random projection",
            kind=cli.integer(2, 4096),
        ),
        Option("conv_steps", "Adam steps per conv probe", kind=cli.positive_int),
        Option(
            "test_fraction",
            "share of mazes held out for testing",
            kind=_fraction_type("test_fraction", closed_low=False, upper=1 - VALIDATION_FRACTION),
        ),
        Option("batch_size", "observations per forward pass", kind=cli.positive_int),
        Option(
            "refits",
            "A5's cheese probes refitted on resampled training mazes (0: none)",
            kind=cli.integer(0, 1000),
        ),
        SWEEP,
    ),
    quick={"features": 256},
    min_mazes=3,
    levels=2000,
    quick_levels=60,
)
def run(
    model: HookedImpala,
    inputs: Levels,
    *,
    hooks: Sequence[str] = DEFAULT_HOOKS,
    positions_per_maze: int = 4,
    without_cheese: float = 0.25,
    features: int = 1024,
    conv_steps: int = 300,
    test_fraction: float = 0.2,
    batch_size: int = 64,
    refits: int = 40,
    seed: int = 0,
    progress: bool = False,
    sweep: Backend = Backend(),
) -> ProbesResult:
    """Fit linear and convolutional probes on the training mazes of ``inputs`` at each hook,
    choose the ridge penalty on the validation mazes, and score them on the test mazes.

    Args:
        inputs: every level of a seed range (at least 3 levels).
        hooks: hook names (or aliases) to probe; conv probes only on square spatial ones.
        positions_per_maze: mouse placements per maze (fewer if it has fewer free cells).
        without_cheese: probability that an observation has its cheese removed (0: no
            ``cheese_present`` label).
        features: dimension the linear probes see (random projection above it).
        conv_steps: Adam steps of each conv probe, spread over the training batches.
        test_fraction: share of the mazes held out for testing.
        batch_size: observations per forward pass.
        refits: how many times A5's cheese probes are refitted on resampled training mazes
            (with their own projections) to widen A5's intervals; 0 leaves them as the
            test-maze bootstrap gives them.
        sweep: where the dataset (the rendered placements and their labels,
            ``probe_data.probe_dataset``) is made: in this process (default), or as Ray
            tasks, a block of levels each. The forward passes and the fits run here, in the
            blocks' order, so the result is the same either way.
    """
    if not isinstance(inputs, Levels):
        raise ValueError(
            "probes study every level of a seed range: pass analyses.core.inputs.Levels(mode, "
            f"range(...)), got {type(inputs).__name__}"
        )
    if isinstance(hooks, str) or not hooks:
        raise ValueError(f"hooks must be a non-empty list of hook names, got {hooks!r}")
    hooks = list(dict.fromkeys(model.resolve_hook_name(h) for h in hooks))
    positions_per_maze = checks.integer("positions_per_maze", positions_per_maze, minimum=1)
    without_cheese = fraction("without_cheese", without_cheese, closed_low=True)
    features = checks.integer("features", features, minimum=2, maximum=4096)
    conv_steps = checks.integer("conv_steps", conv_steps, minimum=1)
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    refits = checks.integer("refits", refits, minimum=0, maximum=1000)
    if refits == 1:
        raise ValueError("refits is 0 (none) or at least 2: one refit has no spread")
    seed = checks.integer("seed", seed, minimum=0, maximum=checks.MAX_SEED)
    backend = sweep
    splits = split_levels(inputs.seeds, test_fraction, seed)

    world = WORLD_SIZES[inputs.mode]
    shapes = model.hook_shapes(1)
    layers = [
        LayerProbes(hook, shapes[hook][1:], features, world, seed + h)
        for h, hook in enumerate(hooks)
    ]
    # conv_steps spread over the training batches (the count assumes full placements).
    train_batches = math.ceil(len(splits["train"]) * positions_per_maze / batch_size)
    steps_per_batch = math.ceil(conv_steps / train_batches)
    counts = LabelCounts(world)
    refit = None
    if refits and DEFAULT_LAYER in hooks:
        refit = Refits(shapes[DEFAULT_LAYER][1:], features, world, splits["train"], refits, seed)
    refit_rows: list[np.ndarray] = []
    val_hits = np.zeros((len(hooks), len(LINEAR_LABELS), len(ALPHAS)))
    test_rows: list[dict[str, np.ndarray]] = []

    # The blocks of every split in order (train, validation, test), each read to its end
    # before the next split's: made here or on Ray (a sweep), the probes see the same.
    dataset = probe_dataset(
        splits,
        inputs.mode,
        positions_per_maze=positions_per_maze,
        without_cheese=without_cheese,
        seed=seed,
        backend=backend,
    )

    # Every split has a level (split_levels), so each is one group, in probe_dataset's order.
    by_split = itertools.groupby(dataset, key=operator.itemgetter(0))

    def activations(split: str) -> Iterator[tuple[ProbeBatch, dict[str, torch.Tensor]]]:
        name, blocks = next(by_split)
        assert name == split, (name, split)
        for _, block, levels in blocks:
            for start in range(0, len(block), batch_size):
                batch = block.rows(start, start + batch_size)
                # Blocks made on Ray arrive read-only (torch warns): a copy only then.
                obs = torch.from_numpy(np.require(batch.obs, requirements="W")).to(model.device)
                with torch.no_grad():
                    _, cache = model.run_with_cache(obs, names_filter=hooks)
                yield batch, {h: cache[h].cpu() for h in hooks}
            bar.update(levels)

    with (
        contextlib.closing(dataset),  # also on Ctrl-C: stops the Ray tasks still running
        tqdm(total=len(inputs), desc="probes", unit="maze", disable=not progress) as bar,
    ):
        for batch, acts in activations("train"):
            counts.add(batch)
            for layer in layers:
                layer.train(acts[layer.hook], batch, steps_per_batch)
            if refit:
                refit.train(acts[DEFAULT_LAYER], batch)
        for layer in layers:
            layer.linear.fit()
        if refit:
            refit.fit()
        for batch, acts in activations("validation"):
            for h, layer in enumerate(layers):
                val_hits[h] += layer.validate(acts[layer.hook], batch)
        for h, layer in enumerate(layers):
            # The best validation accuracy; ties go to the larger penalty.
            best = len(ALPHAS) - 1 - np.argmax(val_hits[h, :, ::-1], axis=1)
            layer.linear.alphas = {lb: ALPHAS[int(b)] for lb, b in zip(LINEAR_LABELS, best)}
        if refit:  # the refits answer at the penalty the main cheese probe chose
            refit_alpha = layers[hooks.index(DEFAULT_LAYER)].linear.alphas["cheese_cell"]
        for batch, acts in activations("test"):
            per_layer = [layer.test(acts[layer.hook], batch) for layer in layers]
            if refit:
                refit_rows.append(refit.predict(acts[DEFAULT_LAYER], batch, refit_alpha))
            test_rows.append(
                {
                    "seed": batch.maze_seed,
                    "size": batch.maze_size,
                    "cheese": batch.cheese,
                    "mouse": batch.mouse,
                    "present": batch.present,
                    "open": batch.open,
                    **{key: np.stack([r[key] for r in per_layer], axis=1) for key in per_layer[0]},
                }
            )

    test = {key: np.concatenate([r[key] for r in test_rows]) for key in test_rows[0]}
    present = test["present"].astype(np.int16)
    every = np.ones_like(present)
    k_open = test["open"].shape[1]
    # Answers asked per observation and label: the cheese's only where it is shown.
    trials = np.stack([present, every, every, k_open * every, present, every], axis=1)
    sides = [layer.side for layer in layers]
    chance, majority_hits = counts.baselines(test, sides)
    asked = trials.sum(0)
    majority = np.where(np.isnan(chance), np.nan, majority_hits.sum(0).T / np.maximum(asked, 1))

    labels = [lb for lb in LABELS if not (lb == "cheese_present" and without_cheese == 0.0)]
    keep = [LABELS.index(lb) for lb in labels]
    n_train = counts.n_train()
    return ProbesResult(
        metadata=RunMetadata.of(
            "probes",
            model,
            seed=seed,
            hooks=tuple(hooks),
            mazes=inputs.seeds,
            parameters={"mode": inputs.mode},
        ),
        hooks=hooks,
        labels=labels,
        mode=inputs.mode,
        world_size=world,
        levels=len(inputs),
        features=features,
        conv_steps=conv_steps,
        positions_per_maze=positions_per_maze,
        split_seeds=splits,
        n_train=np.array([n_train[lb] for lb in labels]),
        n_test=(trials[:, keep] > 0).sum(0),
        hits=test["hits"][:, :, keep],
        trials=trials[:, keep],
        majority_hits=majority_hits[:, keep, :],
        chance=chance[:, keep],
        majority=majority[:, keep],
        within_one=test["within"],
        alphas=np.array([[layer.linear.alphas[lb] for lb in LINEAR_LABELS] for layer in layers]),
        layer_sides=np.array(sides),
        test_seed=test["seed"],
        test_size=test["size"],
        test_cheese=test["cheese"],
        cheese_cell_prediction=test["cheese_pred"],
        cheese_row_prediction=test["cheese_row_pred"],
        cheese_column_prediction=test["cheese_column_pred"],
        refit_predictions=np.concatenate(refit_rows, axis=1) if refit_rows else None,
    )
