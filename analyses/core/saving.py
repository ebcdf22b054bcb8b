"""Writing a result folder without ever losing a user's file.

A result goes into ``out`` only when ``out`` is new, an empty folder, or a previous result of
the same analysis (it holds the marker file ``MARKER`` naming that analysis); anything else
is refused, before any work, with an error that names the folder and what is in it. A
previous result is replaced whole: the new files are written into a hidden sibling folder
and swapped in at the end, so ``out`` holds a complete old result or a complete new one.
Hidden folders left by a killed process are removed by the next save beside them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hooked_impala.files import current_umask, write_atomically

#: The file that marks a folder as a result of one analysis (JSON: {"analysis": name}).
MARKER = ".hooked-impala-result"


class OutputFolderError(ValueError):
    """A result cannot be written there without touching files that are not ours."""


def owner_of(folder: Path) -> str | None:
    """The analysis whose result ``folder`` holds, from its marker; None without one."""
    try:
        return str(json.loads((folder / MARKER).read_text())["analysis"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_output_folder(out: str | Path, analysis: str) -> Path:
    """``out`` as a path a result of ``analysis`` may be written to: new, an empty folder, or
    a previous result of ``analysis``. OutputFolderError naming the folder otherwise."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"output folder {str(out)!r} exists and is not a folder")
    if not out.is_dir():
        return out
    entries = sorted(p.name for p in out.iterdir())
    if not entries or owner_of(out) == analysis:
        return out
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    whose = owner_of(out)
    what = f"a result of {whose!r}" if whose else "files that are not a result of it"
    raise OutputFolderError(
        f"output folder {str(out)!r} already exists and holds {what} ({shown}); a result of "
        f"{analysis!r} replaces only an earlier result of {analysis!r}: choose a new folder "
        "(--out), or move that one away yourself"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(parent: Path, name: str) -> None:
    """Remove the hidden staging folders ``.<name>.new-<pid>-*`` / ``.<name>.old-<pid>-*``
    that processes no longer running left beside ``name`` (a kill -9 mid-save)."""
    for folder in parent.glob(f".{name}.*-*-*"):
        kind, _, rest = folder.name[len(name) + 2 :].partition("-")
        pid = rest.partition("-")[0]
        if kind in ("new", "old") and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def write_marker(folder: Path, analysis: str) -> None:
    write_atomically(folder / MARKER, json.dumps({"analysis": analysis}) + "\n")


@contextlib.contextmanager
def result_folder(out: str | Path, analysis: str) -> Iterator[Path]:
    """A fresh hidden folder beside ``out`` to write the result of ``analysis`` (and its
    marker: :func:`write_marker`) into; when
    the block ends normally it becomes ``out`` (checked with :func:`check_output_folder`,
    at the start and again at the end), and on any exception (Ctrl-C included) it is deleted
    and ``out`` is left as it was."""
    out = check_output_folder(out, analysis).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out.parent, out.name)
    prefix = f".{out.name}.new-{os.getpid()}-"
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    staging.chmod(0o777 & ~current_umask())  # mkdtemp's 0700 would hide results from others
    try:
        yield staging
        check_output_folder(out, analysis)  # nothing of the user's appeared meanwhile
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, out: Path) -> None:
    """Make ``staging`` the folder ``out``: a rename, setting a previous result aside first."""
    try:
        if not out.exists():
            staging.rename(out)
            return
        if not any(out.iterdir()):  # an empty folder the user made: fill it
            for item in staging.iterdir():
                item.rename(out / item.name)
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
        try:
            out.rename(aside / out.name)
            try:
                staging.rename(out)
            except OSError:
                (aside / out.name).rename(out)  # put the previous result back
                raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)
    except OSError as err:
        raise OutputFolderError(
            f"cannot replace {str(out)!r} with the new result ({err.strerror}); the previous "
            "result is unchanged: write to a new folder with --out"
        ) from None
