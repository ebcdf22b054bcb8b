"""Downloading a registry checkpoint into the cache: verified (size and sha256, or a
load for a file without a published checksum) before it is renamed into place, locked so
that two processes share one download."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import http.client
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tqdm.auto import tqdm

from hooked_impala.pretrained.reading import read_state_dict
from hooked_impala.pretrained.registry import (
    ENV_HOME,
    CheckpointError,
    CheckpointInfo,
    CheckpointUnavailableError,
)

try:
    import fcntl
except ImportError:  # Windows: no lock, so two processes downloading one file may clash
    fcntl = None  # type: ignore[assignment]


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
