"""The analyses: each module answers one question about the maze policy, with
``run(model, inputs, *, seed, progress, ...) -> Result`` and an ``ANALYSIS`` declaration
(``analyses.spec.Analysis``); each is a script, ``python -m analyses.<name> --help``.

``ANALYSES`` is the one list of them: the command line, the report
(``python -m analyses.report``) and the docs generator loop over it. Adding an analysis =
one new module + one line here.
"""

from __future__ import annotations

import importlib

from analyses.spec import Analysis

ANALYSES: tuple[str, ...] = (
    "scoreboard",  # first: the report opens with it
    "cheese_vector",
    "top_right_vector",
    "cheese_channels",
    "retarget",
    "resample",
    "behaviour",
    "generalisation",
    "probes",
    "channel_attribution",
    "jacobian_svd",
    "relu_removal",
    "trajectory_view",
    "weight_diff",
    "weight_svd",
    "maze_view",
    "dictionary",
)


def load(names: tuple[str, ...] = ANALYSES) -> list[Analysis]:
    """The ``ANALYSIS`` declarations of the named modules, in order. Imported on demand, so
    ``python -m analyses.<name>`` does not import its own module twice."""
    return [importlib.import_module(f"analyses.{name}").ANALYSIS for name in names]
