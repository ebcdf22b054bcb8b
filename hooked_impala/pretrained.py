"""Checkpoints: a small registry, a verified download cache, and ``load_pretrained``.

``load_pretrained(name_or_path)`` accepts a registry name (see ``REGISTRY``) or a path.
Named checkpoints live in the cache directory, ``$HOOKED_IMPALA_HOME`` if set, else the
platform cache directory (``~/.cache/hooked-impala`` on Linux), under their original file
names. A missing file is downloaded into a temporary file there and renamed into place only
after its size and sha256 (when known) check out, so the cache never holds a partial file.

Three file formats load, all with ``torch.load(..., weights_only=True)``:
``{"model_state_dict": ..., "optimizer_state_dict": ...}`` (the paper's checkpoint),
``{"state_dict": ...}`` (the scale-1 PPO agent) and a bare state dict. The widths are read
off the weight shapes.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch
from platformdirs import user_cache_dir
from tqdm.auto import tqdm

from hooked_impala.model import HookedImpala, ImpalaConfig

ENV_HOME = "HOOKED_IMPALA_HOME"
BUNDLED_DIR = Path(__file__).resolve().parent / "checkpoints"


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
        )
    }
)


def cache_dir() -> Path:
    """``$HOOKED_IMPALA_HOME`` if set, else the platform's user cache directory."""
    if os.environ.get(ENV_HOME):
        return Path(os.environ[ENV_HOME]).expanduser()
    return Path(user_cache_dir("hooked-impala"))


def find_checkpoint_info(name: str) -> CheckpointInfo | None:
    """The registry entry for a name or alias, or None."""
    for info in REGISTRY.values():
        if name == info.name or name in info.aliases:
            return info
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, info: CheckpointInfo) -> None:
    """Raise ``CheckpointError`` unless ``path`` has the entry's size and sha256 (when known)."""
    if info.size is not None and path.stat().st_size != info.size:
        raise CheckpointError(
            f"{path}: {path.stat().st_size:,} bytes, but {info.name} has {info.size:,} bytes"
        )
    if info.sha256 is not None:
        actual = sha256_of(path)
        if actual != info.sha256:
            raise CheckpointError(
                f"{path}: sha256 {actual} does not match {info.name}'s {info.sha256}"
            )


def download(
    info: CheckpointInfo, directory: Path, progress: bool = True, timeout: float = 30.0
) -> Path:
    """Download ``info`` into ``directory``; only a verified, complete file is left there.

    Tries each URL in turn. Raises ``CheckpointUnavailableError`` naming every URL tried,
    why it failed, and how to place the file by hand.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / info.filename
    failures = []
    for url in info.urls:
        try:
            _download_to(url, target, info, progress, timeout)
            return target
        except (OSError, CheckpointError) as err:  # URLError, HTTPError, timeouts, bad file
            failures.append(f"  {url}: {err}")
    raise CheckpointUnavailableError(
        f"checkpoint {info.name!r} is not in the cache and could not be downloaded.\n"
        "Tried:\n" + "\n".join(failures) + "\n"
        f"Cache path: {target}\n"
        f"To use it offline, copy the file there by hand (or set ${ENV_HOME} to a folder "
        f"holding {info.filename}), or pass its path to load_pretrained."
    )


def _download_to(
    url: str, target: Path, info: CheckpointInfo, progress: bool, timeout: float
) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{info.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            expected = resp.headers.get("Content-Length")
            expected = int(expected) if expected is not None else info.size
            received = 0
            with tqdm(
                total=expected, unit="B", unit_scale=True, desc=info.filename, disable=not progress
            ) as bar:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if expected is not None and received != expected:
            raise CheckpointError(f"connection closed after {received:,} of {expected:,} bytes")
        verify_file(tmp, info)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def resolve_checkpoint(
    name_or_path: str | os.PathLike | CheckpointInfo,
    directory: Path | None = None,
    progress: bool = True,
) -> tuple[Path, CheckpointInfo | None]:
    """The local file for a registry name or entry (downloading it if needed) or a path."""
    if isinstance(name_or_path, CheckpointInfo):
        info: CheckpointInfo | None = name_or_path
    else:
        info = find_checkpoint_info(str(name_or_path))
    if info is None:
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path, None
        known = sorted({n for i in REGISTRY.values() for n in (i.name, *i.aliases)})
        raise FileNotFoundError(
            f"{str(name_or_path)!r} is neither a file nor a known checkpoint name. "
            f"Known names: {', '.join(known)}"
        )
    if info.bundled:
        path = BUNDLED_DIR / info.filename
        if not path.is_file():
            raise CheckpointError(
                f"{path}: the bundled checkpoint {info.name!r} is missing "
                "from the installed package"
            )
        verify_file(path, info)
        return path, info
    path = (directory or cache_dir()) / info.filename
    if path.is_file():
        verify_file(path, info)
    else:
        download(info, path.parent, progress=progress)  # verifies before renaming into place
    return path, info


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The model state dict inside a checkpoint file, in any of the three formats."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds on garbage: KeyError, RuntimeError, ...
        text = str(err).strip()
        first_line = text.splitlines()[0] if text else type(err).__name__
        if isinstance(err, pickle.UnpicklingError) and "Weights only load failed" in text:
            raise CheckpointError(
                f"{path}: holds objects other than plain tensors and containers, so it is "
                f"not loaded (weights_only=True refuses arbitrary pickles): {first_line}"
            ) from None
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch checkpoint (truncated, or not a .pth "
            f"file?): {type(err).__name__}: {first_line}"
        ) from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors")
    for key in ("model_state_dict", "state_dict"):
        if key in obj:
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: the state dict is a {type(obj).__name__}, not a dict")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"{path}: no model state dict found; keys whose values are not tensors: "
            f"{not_tensors[:10]} (expected a state dict, or one under 'model_state_dict' "
            "or 'state_dict')"
        )
    return dict(obj)


def config_from_state_dict(state: Mapping[str, torch.Tensor], source: str) -> ImpalaConfig:
    """Read the widths off the weight shapes."""
    needed = [f"embedder.block{b}.conv.weight" for b in (1, 2, 3)]
    needed += ["embedder.fc.weight", "fc_policy.weight"]
    missing = [k for k in needed if k not in state]
    if missing:
        raise CheckpointError(
            f"{source}: not an IMPALA maze policy state dict; missing keys {missing} "
            f"(found {len(state)} keys, e.g. {list(state)[:5]})"
        )
    channels = tuple(int(state[k].shape[0]) for k in needed[:3])
    return ImpalaConfig(
        channels=channels,  # type: ignore[arg-type]
        fc_features=int(state["embedder.fc.weight"].shape[0]),
        num_actions=int(state["fc_policy.weight"].shape[0]),
    )


def check_state_dict(state: Mapping[str, torch.Tensor], model: HookedImpala, source: str) -> None:
    """Raise ``CheckpointError`` listing every missing, unexpected or misshapen entry."""
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        problems.append(f"missing keys: {missing}")
    if unexpected:
        problems.append(f"unexpected keys: {unexpected}")
    for key, tensor in state.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            problems.append(
                f"{key}: shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}"
            )
    if problems:
        raise CheckpointError(f"{source}: does not fit {model.cfg}:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class CheckpointRecord:
    """Where a loaded model came from, for the metadata of analysis results."""

    name: str
    path: str
    sha256: str


def load_pretrained(
    name_or_path: str | os.PathLike | CheckpointInfo,
    device: str | torch.device = "cpu",
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> HookedImpala:
    """Load a checkpoint by registry name, path or ``CheckpointInfo`` into a ``HookedImpala``
    in eval mode.

    ``cache`` overrides the cache directory for named checkpoints. The returned model's
    ``checkpoint`` attribute records the name, file and sha256.
    """
    path, info = resolve_checkpoint(name_or_path, Path(cache) if cache else None, progress)
    state = read_state_dict(path)
    model = HookedImpala(config_from_state_dict(state, str(path)))
    check_state_dict(state, model, str(path))
    model.load_state_dict(state)
    model.checkpoint = CheckpointRecord(
        name=info.name if info else path.name,
        path=str(path),
        sha256=info.sha256 if info and info.sha256 else sha256_of(path),
    )
    return model.to(device).eval()
