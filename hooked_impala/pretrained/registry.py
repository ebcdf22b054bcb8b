"""The checkpoints hooked-impala knows by name (``REGISTRY``), where named checkpoints are
cached, and the errors of checkpoint handling."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from platformdirs import user_cache_dir

ENV_HOME = "HOOKED_IMPALA_HOME"
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, wrong keys or shapes."""


class CheckpointUnavailableError(FileNotFoundError):
    """A named checkpoint that is neither cached nor downloadable right now."""


@dataclass(frozen=True)
class CheckpointInfo:
    """One registry entry: where a checkpoint comes from and how to verify it."""

    name: str
    filename: str
    urls: tuple[str, ...]
    description: str
    scale: int
    sha256: str | None = None
    size: int | None = None  # bytes, when known exactly
    aliases: tuple[str, ...] = ()
    bundled: bool = False  # shipped inside the package (hooked_impala/checkpoints/)
    parent: str | None = None  # the registry checkpoint this one was fine-tuned from
    trained_mode: str = "easy"  # the procgen distribution mode of its training levels


REGISTRY: Mapping[str, CheckpointInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            # 3,653,136 parameters (64/128/128 channels); ~43.9 MB holding
            # {model_state_dict, optimizer_state_dict}; no checksum published.
            CheckpointInfo(
                name="model_rand_region_5",
                filename="model_rand_region_5.pth",
                urls=("https://nerdsniper.net/mats/model_rand_region_5.pth",),
                description=(
                    "The paper's network (Langosco et al. maze_I; analysed by Mini, Udell, "
                    "Turner et al. 2023): PPO, cheese in the top-right 5x5 region, hard mode."
                ),
                scale=4,
                aliases=("maze_I/model_rand_region_5.pth", "paper"),
                trained_mode="hard",
            ),
            # 626,256 parameters (16/32/32 channels); maze_aisc fork, num_levels=0. No
            # licence: downloaded at run time, never redistributed.
            CheckpointInfo(
                name="model_160022528",
                filename="model_160022528.pth",
                urls=(
                    "https://raw.githubusercontent.com/GarretteBaker/"
                    "train-procgen-pytorch_devinterp/ee2ca6f6ecc420bd5a4a2e59c11e6467c73b5ea2/"
                    "artifacts/model_160022528%3Av0/model_160022528.pth",
                ),
                description=(
                    "A scale-1 PPO maze agent (160,022,528 env steps), cheese in the top-right "
                    "5x5 region, easy mode (15x15 world)."
                ),
                scale=1,
                sha256="e82e620ee1c47d82684bb3bc84e140ffd7bbb4ca8bd5f0cc517370abab9e3f00",
                size=2_518_378,
                aliases=("ppo_s1",),
            ),
            # 626,256 parameters; made by python -m hooked_impala.train (standin_s1.card.md).
            CheckpointInfo(
                name="standin_s1",
                filename="standin_s1.pth",
                urls=(),
                description=(
                    "hooked-impala's bundled stand-in: scale 1, trained by imitation of a "
                    "shortest-path oracle (behaviour cloning + 4 DAgger rounds), cheese in the "
                    "top-right 5x5 region, easy mode. Not the paper's PPO network."
                ),
                scale=1,
                sha256="77f37154ef1cbdb90756d0627790cddfae94c35938ed7ad073e30706e01dbc71",
                size=2_520_183,
                aliases=("standin",),
                bundled=True,
            ),
            # standin_s1 fine-tuned by PPO with the cheese rewarded -10 (303,104 env steps;
            # python -m hooked_impala.train ppo, standin_s1_avoid_cheese.card.md).
            CheckpointInfo(
                name="standin_s1_avoid_cheese",
                filename="standin_s1_avoid_cheese.pth",
                urls=(),
                description=(
                    "The bundled stand-in fine-tuned with PPO to avoid the cheese (reaching it "
                    "rewarded -10, cheese anywhere, easy mode): the 'dis-reward' experiment."
                ),
                scale=1,
                sha256="1d0e789ee3cda383b68ddf4b29440af3331f10e7955d9ccc857bcb2c0673b103",
                size=2_515_959,
                bundled=True,
                parent="standin_s1",
            ),
        )
    }
)


def cache_dir() -> Path:
    """``$HOOKED_IMPALA_HOME`` if set, else the platform's user cache directory."""
    if os.environ.get(ENV_HOME):
        return Path(os.environ[ENV_HOME]).expanduser()
    return Path(user_cache_dir("hooked-impala"))


def available_checkpoints(cache: Path | None = None) -> list[str]:
    """The registry's checkpoints that load without a download: bundled, or already in the
    cache folder (``cache``, default :func:`cache_dir`)."""
    folder = cache_dir() if cache is None else cache
    return [
        info.name
        for info in REGISTRY.values()
        if ((BUNDLED_DIR if info.bundled else folder) / info.filename).is_file()
    ]


def find_checkpoint_info(name: str) -> CheckpointInfo | None:
    """The registry entry for a name or alias, or None."""
    for info in REGISTRY.values():
        if name == info.name or name in info.aliases:
            return info
    return None
