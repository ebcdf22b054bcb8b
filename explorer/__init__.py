"""The maze explorer: a local web page to edit a maze and watch the policy respond.

    python -m explorer --checkpoint standin_s1

Click a cell to move the cheese or the mouse, toggle a wall or pick a clamp target; compose
interventions from the toolkit's list (cheese and top-right vectors, channel clamps, ReLU
removal) and see the vector field, its difference from the original, the channel maps at the
mouse's cell and an episode under the intervention. Every view exports as the result files
of ``analyses.maze_view``, with the command that makes them again.

It sits beside ``analyses`` (it shows and exports what ``analyses.maze_view`` computes), so the
library ``hooked_impala`` knows nothing of it. ``explorer.edits`` and ``explorer.compute`` hold
the logic without the web framework (``explorer.patching_view`` the patching map);
``explorer.controls`` checks what the page sends; ``explorer.layout`` and
``explorer.figures`` are the page, ``explorer.app`` its callbacks, ``explorer.hosts`` who
may reach it.
"""
