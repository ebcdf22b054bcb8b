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

__all__ = ["ProcgenGym3Env"]
