"""stable-baselines3, the optional dependency of PPO fine-tuning (the ``rl`` extra).

The library imports without it; the modules that subclass its classes (``vec_env``,
``sb3_policy``) call :func:`require_sb3` first, so a missing install names the extra to
install instead of failing on a bare ``import stable_baselines3``.
"""

from __future__ import annotations

INSTALL = 'pip install "hooked-impala[rl]"  (or: pip install "stable-baselines3>=2.3,<3")'


class MissingExtraError(ImportError):
    """stable-baselines3 is not installed; the message says how to install it."""


def require_sb3() -> None:
    """Raise ``MissingExtraError`` unless stable-baselines3 can be imported."""
    # SB3 imports gym when it is installed (procgen needs it), and gym prints a deprecation
    # banner on import; the maze layer's procgen import silences it, so it goes first.
    import hooked_impala.maze.procgen_env  # noqa: F401

    try:
        import stable_baselines3  # noqa: F401
    except ImportError as err:
        raise MissingExtraError(
            "PPO fine-tuning needs stable-baselines3, the project's optional 'rl' extra, which "
            f"cannot be imported ({err}); install it with: {INSTALL}"
        ) from None
