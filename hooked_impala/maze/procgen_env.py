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

__all__ = ["ProcgenGym3Env", "get_env_state", "set_env_state"]

_MAX_STATE_BYTES = 2**20  # procgen's own bound on a serialized game (env.MAX_STATE_SIZE)


def set_env_state(env: ProcgenGym3Env, index: int, state: bytes) -> None:
    """Load ``state`` into env ``index`` of a batch, leaving the others as they are.

    ``env.callmethod("set_state", states)`` sets every env of the batch; this is the same
    per-env call procgen makes inside it, for one env. The caller guarantees a well-formed
    maze state (procgen aborts the process on anything else): ``Maze.to_state()`` bytes.
    """
    if not 0 <= index < env.num:
        raise IndexError(f"env index {index} is outside the batch of {env.num}")
    env.call_c_func("set_state", index, state, len(state))


def get_env_state(env: ProcgenGym3Env, index: int) -> bytes:
    """The serialized state of env ``index`` of a batch (``env.callmethod("get_state")``
    reads every env; this reads one)."""
    if not 0 <= index < env.num:
        raise IndexError(f"env index {index} is outside the batch of {env.num}")
    buffer = env._ffi.new(f"char[{_MAX_STATE_BYTES}]")
    size = env.call_c_func("get_state", index, buffer, _MAX_STATE_BYTES)
    return bytes(env._ffi.buffer(buffer, size))
