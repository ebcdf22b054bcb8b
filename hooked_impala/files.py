"""Atomic file writing: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _create_beside(path: Path, suffix: str) -> tuple[int, Path]:
    """A new file beside ``path``, created with mode 0666 & ~umask as ``open()`` would (not
    ``mkstemp``'s 0600, which hides shared caches and reports from colleagues)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # a 1 in 2**48 clash: draw another name
            continue


def write_atomically_with(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it into place.

    On any error the temporary file is removed and ``path`` is left as it was. The file gets
    the usual mode, 0666 & ~umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_atomically(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to ``path`` atomically."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return write_atomically_with(path, lambda f: f.write(data))


def current_umask() -> int:
    """The process's umask (read by setting it and setting it back: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
