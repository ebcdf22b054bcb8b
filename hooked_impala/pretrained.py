"""Checkpoints: a small registry, a verified download cache, and ``load_pretrained``.

``load_pretrained(name_or_path)`` accepts a registry name (see ``REGISTRY``) or a path.
Named checkpoints live in the cache directory, ``$HOOKED_IMPALA_HOME`` if set, else the
platform cache directory (``~/.cache/hooked-impala`` on Linux), under their original file
names. A missing file is downloaded into ``.<name>.part`` there (locked, so a second process
waits for the first; a killed download's leftover is overwritten) and renamed into place only
after its size and sha256 check out, or, without a published checksum, after it loads as a
state dict, so the cache never holds a partial file or an error page.

Three file formats load, all with ``torch.load(..., weights_only=True)``:
``{"model_state_dict": ..., "optimizer_state_dict": ...}`` (the paper's checkpoint),
``{"state_dict": ...}`` (the scale-1 PPO agent) and a bare state dict. The widths are read
off the weight shapes.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import http.client
import os
import re
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import torch
from platformdirs import user_cache_dir
from tqdm.auto import tqdm

from hooked_impala import checks
from hooked_impala.actions import NUM_ACTIONS
from hooked_impala.model import HookedImpala, ImpalaConfig

try:
    import fcntl
except ImportError:  # Windows: no lock, so two processes downloading one file may clash
    fcntl = None  # type: ignore[assignment]

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
    parent: str | None = None  # the registry checkpoint this one was fine-tuned from


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
    _make_cache_folder(directory, info)
    target = directory / info.filename
    failures = []
    for url in info.urls:
        try:
            _download_to(url, target, info, progress, timeout)
            return target
        except (OSError, ValueError, http.client.HTTPException) as err:
            # URLError, HTTPError, timeouts, CheckpointError; IncompleteRead (a cut chunked
            # transfer) is an HTTPException, whose str() is not a sentence.
            why = err if isinstance(err, OSError | ValueError) else f"transfer broke off: {err!r}"
            failures.append(f"  {url}: {why}")
    raise CheckpointUnavailableError(
        f"checkpoint {info.name!r} is not in the cache and could not be downloaded.\n"
        "Tried:\n" + "\n".join(failures) + "\n"
        f"Cache path: {target}\n"
        f"To use it offline, copy the file there by hand (or set ${ENV_HOME} to a folder "
        f"holding {info.filename}), or pass its path to load_pretrained."
    )


def _make_cache_folder(directory: Path, info: CheckpointInfo) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # mkdir's bare FileExistsError names neither the variable nor a fix
        home = os.environ.get(ENV_HOME)
        if home and Path(home).expanduser() == directory:
            where, fix = f"${ENV_HOME} ({home})", f"point ${ENV_HOME} at a folder, or unset it"
        else:
            where, fix = f"the cache folder {directory}", "pass a folder as cache="
        why = (
            "is a file (or lies inside one), not a folder"
            if isinstance(err, FileExistsError | NotADirectoryError)
            else f"cannot be created: {err.strerror or err}"
        )
        raise CheckpointUnavailableError(
            f"checkpoint {info.name!r} cannot be downloaded: {where} {why}; {fix}"
        ) from None


def _download_to(
    url: str, target: Path, info: CheckpointInfo, progress: bool, timeout: float
) -> None:
    # Leftovers of killed downloads by older versions, which used mkstemp's random names.
    for old in target.parent.glob(f".{glob.escape(info.filename)}.*.part"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > 3600:  # a live download writes every second
                old.unlink()
    part = target.with_name(f".{info.filename}.part")
    with _locked(part) as out:
        if target.is_file():  # another process downloaded it while this one waited
            part.unlink()
            return
        try:
            out.truncate(0)  # what a killed download left
            _stream(url, out, info, progress, timeout)
            out.flush()
            verify_file(part, info)
            if info.sha256 is None:  # nothing else vouches for the bytes (the paper's file)
                _check_download(part)
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def _locked(part: Path) -> Iterator[IO[bytes]]:
    """``part`` opened (created 0666 & ~umask, not truncated) and exclusively locked."""
    while True:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)
        out = os.fdopen(os.open(part, flags, 0o666), "r+b")
        if fcntl is None:
            break
        fcntl.flock(out, fcntl.LOCK_EX)  # released on close, also when the process is killed
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(out.fileno()), os.stat(part)):
                break
        out.close()  # the holder renamed or removed the file we waited on: lock the new one
    with out:
        yield out


def _stream(url: str, out: IO[bytes], info: CheckpointInfo, progress: bool, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        try:
            announced: int | None = int(resp.headers["Content-Length"])
        except (TypeError, ValueError):  # absent (chunked) or garbled
            announced = None
        if info.size is not None and announced not in (None, info.size):
            raise CheckpointError(
                f"the server announces {announced:,} bytes, but {info.name} has {info.size:,}"
            )
        expected = info.size if info.size is not None else announced
        received = 0
        with tqdm(
            total=expected, unit="B", unit_scale=True, desc=info.filename, disable=not progress
        ) as bar:
            while chunk := resp.read(1 << 16):
                received += len(chunk)
                if expected is not None and received > expected:  # stop now, not at its end
                    raise CheckpointError(
                        f"the server sent {received:,} bytes so far, more than the {expected:,} "
                        f"bytes {info.name} has; stopped reading"
                    )
                out.write(chunk)
                bar.update(len(chunk))
    if expected is not None and received != expected:
        raise CheckpointError(f"connection closed after {received:,} of {expected:,} bytes")


def _check_download(path: Path) -> None:
    """Refuse what is not a checkpoint (say, an HTML error or login page served with status
    200) before it is renamed into the cache, where it would fail every later load."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.lstrip().startswith(b"<"):
        raise CheckpointError(
            f"the server sent an HTML page, not a PyTorch checkpoint (it begins {head[:32]!r})"
        )
    read_state_dict(path, source="the downloaded file")


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


def load_weights_only(path: Path, source: str | None = None) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a ``CheckpointError`` naming
    ``source`` (default: the path) says why not, without torch's advice to load arbitrary
    pickles with ``weights_only=False`` (which it gives even for a text file)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds on garbage: KeyError, RuntimeError, ...
        text = str(err)
        if found := re.search(r"Unsupported global: GLOBAL (\S+)", text):
            why = (
                f"holds objects other than plain tensors and containers (a pickled "
                f"{found[1]}), so it is not loaded: unpickling those could run any code"
            )
        else:
            lines = [ln.strip() for ln in text.splitlines() if "weights" not in ln.lower()]
            detail = next((ln for ln in lines if ln), "").split(". ")[0]  # 1st sentence
            if path.is_file() and path.stat().st_size == 0:
                detail = "the file is empty"
            why = (
                "cannot be read as a PyTorch checkpoint (truncated, or not a .pth file?): "
                f"{type(err).__name__}: {detail}"
            )
        raise CheckpointError(f"{source or path}: {why}") from None


def read_state_dict(path: Path, source: str | None = None) -> dict[str, torch.Tensor]:
    """The model state dict inside a checkpoint file, in any of the three formats; errors name
    ``source`` (default: the path)."""
    name = source or str(path)
    obj = load_weights_only(path, source)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: holds a {type(obj).__name__}, not a dict of tensors")
    for key in ("model_state_dict", "state_dict"):
        if key in obj:
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: the state dict is a {type(obj).__name__}, not a dict")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"{name}: no model state dict found; keys whose values are not tensors: "
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
    flat = [k for k in needed if state[k].ndim < 2]
    if flat:
        raise CheckpointError(f"{source}: {flat} should be weight matrices or kernels")
    # Widths may differ from the paper's; the 15 procgen actions may not: a head of another
    # size would load and fail only at the first forward, naming no file.
    num_actions = int(state["fc_policy.weight"].shape[0])
    if num_actions != NUM_ACTIONS:
        raise CheckpointError(
            f"{source}: fc_policy has {num_actions} actions; the maze policy has {NUM_ACTIONS}"
        )
    channels = tuple(int(state[k].shape[0]) for k in needed[:3])
    return ImpalaConfig(
        channels=channels,  # type: ignore[arg-type]
        fc_features=int(state["embedder.fc.weight"].shape[0]),
        num_actions=num_actions,
    )


def check_state_dict(state: Mapping[str, torch.Tensor], model: HookedImpala, source: str) -> None:
    """Raise ``CheckpointError`` listing every missing, unexpected or misshapen entry, or else
    every tensor holding NaN or infinite values."""
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
    broken = [
        f"{key} ({int((~torch.isfinite(t)).sum())} of {t.numel()} values)"
        for key, t in state.items()
        if t.is_floating_point() and not torch.isfinite(t).all()
    ]
    if broken:  # such weights load and run, giving NaN logits and silently wrong results
        shown = ", ".join(broken[:5]) + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        raise CheckpointError(f"{source}: weights hold NaN or infinite values: {shown}")


@dataclass(frozen=True)
class CheckpointRecord:
    """Where a loaded model came from, for the metadata of analysis results."""

    name: str
    path: str
    sha256: str
    parent: str | None = None  # the checkpoint it was fine-tuned from, if the registry says


def load_pretrained(
    name_or_path: str | os.PathLike | CheckpointInfo,
    device: str | torch.device | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    dtype: torch.dtype | None = None,
) -> HookedImpala:
    """Load a checkpoint by registry name, path or ``CheckpointInfo`` into a ``HookedImpala``
    in eval mode.

    ``device``: where the weights go; None (the default, as TransformerLens) takes CUDA when
    it is available and the CPU otherwise (``default_device()``); MPS only when asked for.
    ``dtype``: the weights' dtype (default: the checkpoint's, float32); observations are
    converted to it in the forward pass. ``cache`` overrides the cache directory for named
    checkpoints. The returned model's ``checkpoint`` attribute records the name, file,
    sha256 and the registry parent (the checkpoint it was fine-tuned from).
    """
    device = default_device() if device is None else checks.device("device", device)
    path, info = resolve_checkpoint(name_or_path, Path(cache) if cache else None, progress)
    try:
        state = read_state_dict(path)
    except CheckpointError as err:  # e.g. an error page that older versions let into the cache
        if info is None or info.bundled:
            raise
        raise CheckpointError(f"{err}; delete the file to download it again") from None
    model = HookedImpala(config_from_state_dict(state, str(path)))
    check_state_dict(state, model, str(path))
    model.load_state_dict(state)
    model.checkpoint = CheckpointRecord(
        name=info.name if info else path.name,
        path=str(path),
        sha256=info.sha256 if info and info.sha256 else sha256_of(path),
        parent=info.parent if info else None,
    )
    return model.to(device=device, dtype=dtype).eval()


def default_device() -> torch.device:
    """CUDA when torch sees a GPU, else the CPU: where ``load_pretrained`` puts a model."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
