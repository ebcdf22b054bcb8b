"""procgen's batched environment, imported once without gym's deprecation banner.

procgen registers itself with gym on import, and gym 0.26 prints a multi-line notice to
stderr when it is imported. The project never uses gym itself, so every script and test
would print a warning about a library it does not call. The notice is the only output of
that import; errors still raise.
"""

from __future__ import annotations

import contextlib
import io

with contextlib.redirect_stderr(io.StringIO()):
    from procgen import ProcgenGym3Env

__all__ = ["ProcgenGym3Env", "set_env_state"]


def set_env_state(env: ProcgenGym3Env, index: int, state: bytes) -> None:
    """Load ``state`` into env ``index`` of a batch, leaving the others as they are.

    ``env.callmethod("set_state", states)`` sets every env of the batch; this is the same
    per-env call procgen makes inside it, for one env. The caller guarantees a well-formed
    maze state (procgen aborts the process on anything else): ``Maze.to_state()`` bytes.
    """
    if not 0 <= index < env.num:
        raise IndexError(f"env index {index} is outside the batch of {env.num}")
    env.call_c_func("set_state", index, state, len(state))
