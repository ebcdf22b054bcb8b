"""The one list of analyses: the report, the docs and the tests loop over it.

Adding an analysis is one module (or package) under ``analyses/`` plus one line here.
No analysis imports this module at import time (the scoreboard looks analyses up here when
it runs): an analysis never imports another analysis.
"""

from __future__ import annotations

from analyses import (
    behaviour,
    channel_attribution,
    cheese_channels,
    cheese_vector,
    dictionary,
    generalisation,
    jacobian_svd,
    maze_view,
    patching,
    probes,
    relu_removal,
    resample,
    retarget,
    scoreboard,
    top_right_vector,
    trajectory_view,
    weight_diff,
    weight_svd,
)
from analyses.core.spec import Analysis

ANALYSES: tuple[Analysis, ...] = (
    scoreboard.run.analysis,  # first: the report opens with it
    cheese_vector.run.analysis,
    top_right_vector.run.analysis,
    cheese_channels.run.analysis,
    retarget.run.analysis,
    resample.run.analysis,
    behaviour.run.analysis,
    generalisation.run.analysis,
    probes.run.analysis,
    channel_attribution.run.analysis,
    jacobian_svd.run.analysis,
    relu_removal.run.analysis,
    trajectory_view.run.analysis,
    weight_diff.run.analysis,
    weight_svd.run.analysis,
    maze_view.run.analysis,
    dictionary.run.analysis,
    patching.run.analysis,
)


def analysis(name: str) -> Analysis:
    """The analysis called ``name``; KeyError listing the names otherwise."""
    for found in ANALYSES:
        if found.name == name:
            return found
    raise KeyError(f"no analysis {name!r}; the analyses are {[a.name for a in ANALYSES]}")
