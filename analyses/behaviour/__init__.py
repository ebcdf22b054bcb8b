"""Behaviour: in which mazes does the agent go for the cheese?

Mini, Udell, Turner et al. played their agent once in each of 10,000 mazes; 5,239 had a
decision square (where the paths to the cheese and to the top-right cell part) and the
cheese outside the top-right 5×5 region, the region the cheese was always in during
training. The agent reached the cheese in 71.4% of those, and an L1-regularised logistic
regression on maze features predicted which ones with 84.9% held-out accuracy.

This analysis does the same for any checkpoint: one episode per level of a seed range
(:func:`hooked_impala.policy.records.collect_records`, kept in a records folder that a
rerun reuses), the mazes with a decision square and the cheese outside the top-right 5×5
region, the outcome "reached the cheese within ``max_steps``", and the regression
(:func:`fit_behaviour`) on the features of :func:`hooked_impala.maze.maze_features`:

=====================================  ==================================================
feature                                meaning (world cells; steps = shortest path)
=====================================  ==================================================
steps_decision_to_cheese               steps from the decision square to the cheese
euclid_decision_to_cheese              straight-line distance, decision square to cheese
steps_decision_to_top_right            steps from the decision square to the inner maze's
                                       top-right cell
euclid_decision_to_top_right           straight-line distance, decision square to that cell
steps_decision_to_top_right_region     steps from the decision square to the nearest open
                                       cell of the top-right 5×5 region
euclid_decision_to_top_right_region    straight-line distance to that region's nearest
                                       open cell
steps_cheese_to_top_right              steps from the cheese to the top-right cell
euclid_cheese_to_top_right             straight-line distance, cheese to top-right cell
steps_cheese_to_top_right_region       steps from the cheese to the top-right 5×5 region
euclid_cheese_to_top_right_region      straight-line distance, cheese to that region
maze_size                              side of the inner maze (cells)
cheese_up_right_from_decision          1 if the cheese is reachable from the decision
                                       square moving only up and right, else 0
decision_to_left_wall                  columns between the decision square and the inner
                                       maze's left edge
=====================================  ==================================================

Features are standardised (fit on the training split only), so coefficients are per
standard deviation; positive = more likely to reach the cheese. Accuracies are over
repeated stratified random splits (``splits``, seeded), against the majority class of each
training split on the same test splits. Many features measure nearly the same thing (steps
and Euclidean versions of one distance): their variance inflation factors are reported, and
where they are high the L1 fit picks among them arbitrarily, so those coefficients' signs
say little (the sign stability over splits shows it). Three are exactly collinear: procgen's
mazes are trees, so the decision square lies on the cheese's path to the top-right cell and
steps(cheese → top right) = steps(decision → cheese) + steps(decision → top right).

The coefficients' intervals come from a maze bootstrap of the whole fit (``bootstrap``
resamples of the mazes, each refitted from the standardisation on): the 95% percentile
interval, and the fraction of resamples in which L1 kept the feature (a feature L1 zeroes is
read by that fraction, not by an interval "0 to 0"); a feature with VIF > 10 is "not
identifiable".

"Reached the cheese before the top-right region" is a choice, and a choice is measured only
where both are possible: on the **free-choice** mazes (:mod:`analyses.measure.choice`:
the cheese's path from the start does not cross the region). It is reported on those and,
for comparison, on every regression maze with the forced share named.

The outcome depends on ``max_steps``: in short episodes the step distance to the cheese
decides mechanically whether it is reached in time; compare agents at the same limit.

    python -m analyses.behaviour --checkpoint model_160022528 --mazes 10000 \\
        --records out/behaviour_records
"""

from __future__ import annotations

from analyses.behaviour.result import BehaviourResult
from analyses.core.inputs import Levels, NotApplicable
from analyses.core.records import Playing, Records
from analyses.core.result import CheckpointRef, RunMetadata
from analyses.core.spec import ROLLOUT_OPTIONS, Option, analysis
from analyses.measure.behaviour import feature_table
from analyses.measure.choice import free_choice_mask
from analyses.measure.regression import (
    BOOTSTRAP_RESAMPLES,
    TEST_FRACTION,
    check_outcomes,
    fit_behaviour,
)
from hooked_impala import checks, cli
from hooked_impala.maze import TOP_RIGHT_5, MazeRenderer, mazes_from_seeds
from hooked_impala.model import HookedImpala
from hooked_impala.policy.records import collect_records
from hooked_impala.stats import Rate
from hooked_impala.sweep import Backend

MAX_SLOTS = 256  # envs played side by side


@analysis(
    question=(
        "In which mazes does the agent go for the cheese rather than the top right, and which "
        "maze features predict it?"
    ),
    select=list,  # not used: the analysis takes every level of a seed range
    options=(
        *ROLLOUT_OPTIONS,
        Option("splits", "random train/test splits of the regression", kind=cli.positive_int),
        Option("l1_c", "inverse L1 regularisation strength C", kind=cli.real(1e-6)),
        Option(
            "bootstrap",
            "resamples of the maze bootstrap of the whole fit (0: none)",
            kind=cli.integer(0),
        ),
    ),
    quick={"max_steps": 32, "splits": 10, "bootstrap": 50, "records": Records.TEMPORARY},
    levels=10_000,
    quick_levels=120,
)
def run(
    model: HookedImpala,
    inputs: Levels,
    *,
    playing: Playing = Playing(),
    splits: int = 20,
    l1_c: float = 1.0,
    bootstrap: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    progress: bool = False,
    sweep: Backend = Backend(),
) -> BehaviourResult:
    """Play one episode per level of ``inputs``, keep the mazes with a decision square and the
    cheese outside the top-right 5×5 region, and regress "reached the cheese" on their
    features (:func:`fit_behaviour`).

    ``playing``: how each level is played and where its rollout record is kept
    (:class:`~analyses.core.records.Playing`); a rerun with the same records folder and the
    same checkpoint, mode, step limit, greedy or not and ``seed`` reads them back instead of
    playing again (and plays only levels it lacks).
    ``seed`` fixes the sampled actions, the splits and the bootstrap's resamples;
    ``bootstrap``: resamples of the maze bootstrap of the whole fit. ``sweep``: where the rollouts
    are played (in this process or on Ray; the records are the same).
    """
    if not isinstance(inputs, Levels):
        raise ValueError(
            "behaviour studies every level of a seed range: pass "
            f"analyses.core.inputs.Levels(mode, range(...)), got {type(inputs).__name__}"
        )
    splits = checks.integer("splits", splits, minimum=1)
    bootstrap = checks.integer("bootstrap", bootstrap, minimum=0)
    l1_c = checks.real("l1_c", l1_c)
    if l1_c <= 0:
        raise ValueError(f"l1_c (the inverse L1 strength) must be > 0, got {l1_c}")
    seed = checks.integer("seed", seed, minimum=0, maximum=checks.MAX_SEED)
    checkpoint = CheckpointRef.of(model).name
    with playing.folder("behaviour", checkpoint, inputs.mode, seed) as folder:
        frame = collect_records(
            model,
            inputs.seeds,
            folder,
            **playing.playing(inputs.mode, seed),
            region=TOP_RIGHT_5,
            slots=min(MAX_SLOTS, len(inputs)),
            progress=progress,
            backend=sweep,
        )
    has_square = frame["decision_row"].notna().to_numpy()
    chosen = frame[has_square & ~frame["cheese_in_region"].to_numpy()]
    where = (
        f"of {len(inputs)} {inputs.mode} levels, {len(chosen)} have a decision square and the "
        f"cheese outside the top-right 5x5 region; "
    )
    if len(chosen) == 0:
        raise NotApplicable(f"{where}nothing to regress (try more levels with --mazes)")
    reached = chosen["reached_cheese"].to_numpy(dtype=bool)
    check_outcomes(reached, where + "of those ")
    seeds = chosen["seed"].tolist()
    with MazeRenderer() as renderer:
        mazes = [
            maze
            for start in range(0, len(seeds), 512)
            for maze in mazes_from_seeds(seeds[start : start + 512], inputs.mode, renderer)
        ]
    features = feature_table(mazes, progress=progress)
    fit = fit_behaviour(features, reached, splits=splits, seed=seed, c=l1_c, bootstrap=bootstrap)
    return BehaviourResult(
        metadata=RunMetadata.of(
            "behaviour",
            model,
            seed=seed,
            mazes=seeds,
            parameters={
                "mode": inputs.mode,
                "seeds": f"{inputs.seeds.start}..{inputs.seeds.stop - 1}",
                "test_fraction": TEST_FRACTION,
            },
        ),
        mode=inputs.mode,
        levels=len(inputs),
        levels_with_decision_square=int(has_square.sum()),
        reached_decision_square=Rate.of(frame["reached_cheese"].to_numpy(bool)[has_square]),
        max_steps=playing.max_steps,
        greedy=playing.greedy,
        features=features,
        reached=reached,
        cheese_first=(chosen["outcome"] == "cheese").to_numpy(dtype=bool),
        free_choice=free_choice_mask(mazes),
        fit=fit,
    )
