"""The docs generator's cache: what one generator wrote (a folder under ``docs/generated/``
and any standalone pages under ``docs/assets/``), kept under ``.cache/docs/`` by a key of
the checkpoint's sha256, the generator's settings and the code it ran. A re-run after a
change that touches only pages (or another analysis) copies the files back instead of
running the analysis again.

"The code it ran" is read conservatively: the sha256 of every Python file of the library
(``hooked_impala``), of ``analyses/core`` and ``analyses/measure``, of the analysis's own
module or package, and of the generator itself. An analysis edit re-runs that analysis; a
library edit re-runs them all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
CACHE = REPO / ".cache" / "docs"
SHARED_CODE = ("hooked_impala", "analyses/core", "analyses/measure", "docs/generate.py")


def _sources(paths: Iterable[str]) -> list[Path]:
    found = []
    for name in paths:
        path = REPO / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [p for p in found if p.is_file()]


def code_version(own: Iterable[str]) -> str:
    """sha256 of the shared code and of ``own`` (paths relative to the repo)."""
    digest = hashlib.sha256()
    for path in _sources([*SHARED_CODE, *own]):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def analysis_paths(name: str) -> list[str]:
    """An analysis's own files: its room (``analyses/<name>/``) or its module."""
    room = Path("analyses") / name
    return [str(room)] if (REPO / room).is_dir() else [str(room.with_suffix(".py"))]


def cached(
    name: str,
    key: dict,
    folder: Path,
    make: Callable[[], list[str]],
    use_cache: bool = True,
) -> bool:
    """Fill ``folder`` (one generator's output) from the cache entry of ``key``, or run
    ``make`` (which writes ``folder`` and returns the names of the pages it wrote under
    ``docs/assets``) and keep what it wrote. Returns whether the cache served it."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    entry = CACHE / f"{name}-{digest[:16]}"
    if use_cache and (entry / "complete").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(entry / "generated", folder)
        for page in (entry / "assets").glob("*"):
            shutil.copy2(page, DOCS / "assets" / page.name)
        return True
    shutil.rmtree(folder, ignore_errors=True)
    pages = make()
    for old in CACHE.glob(f"{name}-*"):  # one entry per generator: the latest
        shutil.rmtree(old, ignore_errors=True)
    partial = entry.with_name(entry.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(folder, partial / "generated")
    (partial / "assets").mkdir()
    for page in pages:
        shutil.copy2(DOCS / "assets" / page, partial / "assets" / page)
    (partial / "complete").write_text(json.dumps(key, sort_keys=True, default=str))
    partial.rename(entry)
    return False
