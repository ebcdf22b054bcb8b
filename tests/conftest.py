"""Shared fixtures: where the shared checkpoints are, small models, procgen observations
and a maze renderer."""

from __future__ import annotations

import os
from pathlib import Path

import jaxtyping
import numpy as np
import pytest
import torch

from hooked_impala import HookedImpala, ImpalaConfig

# Run in parallel (pytest -n 2), each worker gets one of the cores: two workers with two
# threads each would fight over them (torch's threads spin while they wait, so three threads
# on two cores run several times slower). The variable reaches the subprocesses too (the
# docs generation, Ray's workers).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_CHECKPOINTS = REPO.parent / "shared" / "checkpoints"
PPO_S1_FILE = "model_160022528.pth"


@pytest.fixture(scope="session")
def shared_checkpoints() -> Path:
    """The folder with the real s=1 PPO agent. In CI its absence is a failure, not a skip."""
    if not (SHARED_CHECKPOINTS / PPO_S1_FILE).is_file():
        message = f"{SHARED_CHECKPOINTS / PPO_S1_FILE} is not there"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_CHECKPOINTS


@pytest.fixture(scope="session")
def ppo_s1(shared_checkpoints: Path) -> HookedImpala:
    from hooked_impala import load_pretrained

    return load_pretrained("model_160022528", cache=shared_checkpoints, progress=False)


@pytest.fixture(scope="module")
def renderer():
    """One maze renderer per test module, its procgen env made once for the module's tests.
    A module that needs another kind of renderer defines its own ``renderer``."""
    # Imported here, as in procgen_obs: modules that render no mazes do not load procgen.
    from hooked_impala.maze import MazeRenderer

    with MazeRenderer() as r:
        yield r


@pytest.fixture
def tiny_model() -> HookedImpala:
    """Scale-1 widths, random weights, deterministic."""
    torch.manual_seed(0)
    return HookedImpala(ImpalaConfig()).eval()


@pytest.fixture(scope="session")
def procgen_obs() -> np.ndarray:
    """Eight real easy-mode maze observations, uint8 (8, 64, 64, 3), after a few steps."""
    from hooked_impala.maze.procgen_env import ProcgenGym3Env

    env = ProcgenGym3Env(
        num=8,
        env_name="maze",
        distribution_mode="easy",
        start_level=1000,
        num_levels=8,
        rand_seed=0,
    )
    rng = np.random.default_rng(0)
    for _ in range(3):
        env.act(rng.choice([1, 3, 5, 7], size=8).astype(np.int32))
    _, obs, _ = env.observe()
    return obs["rgb"].copy()


@pytest.fixture
def as_in_production():
    """Turn off the annotation checks of the test run (pyproject's --jaxtyping-packages) for
    one test: tests of the library's own error messages for inputs that break its
    annotations must see what a user sees, not beartype's message."""
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", False)


def squared(fig) -> bool:
    """Every subplot of ``fig`` draws square cells: each y axis scaled to its own x axis."""
    keys = [k for k in fig.layout if k.startswith("yaxis")]
    return bool(keys) and all(fig.layout[k].scaleanchor == "x" + k[len("yaxis") :] for k in keys)
