"""Driving the explorer in a real browser: start it in a subprocess, open it in headless
Chromium (Playwright, with the system's Chromium), click maze cells. The browser test and the
docs' screenshots use these; Playwright is a test/docs dependency, imported only here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

#: As the machine's own browser checks run it: no sync, no background connections (a closed
#: network refuses them noisily), a fresh profile per launch (Playwright's default).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
URL = re.compile(r"http://\S+/")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def running(*args: str, timeout: float = 180.0) -> Iterator[str]:
    """``python -m explorer --port 0 *args`` in a subprocess; yields the URL it prints, and
    stops it afterwards. RuntimeError with its output if it exits or prints no URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "explorer", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            seen.append(line)
            if match := URL.search(line):
                yield match.group(0)
                return
        raise RuntimeError(f"the explorer printed no URL:\n{''.join(seen)}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        process.stdout.close()


@contextlib.contextmanager
def page(url: str, width: int = 1400, height: int = 1000) -> Iterator:
    """A Playwright page at ``url`` once the first field is drawn; ``page.errors`` collects
    console errors and uncaught exceptions."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.errors = errors
            tab.goto(url)
            wait_for_field(tab, "")
            yield tab
        finally:
            browser.close()


def drawn(tab) -> str:
    """When the maze figure was last drawn (an opaque stamp the page keeps)."""
    return tab.text_content("#field-drawn") or ""


def wait_for_field(tab, previous: str, timeout_ms: float = 120_000) -> str:
    """Wait until the maze figure has been drawn again since stamp ``previous``; the new
    stamp. Its status line and messages are current then."""
    # The stamp, and the figure drawn by plotly (on a fresh page plotly.js may still be
    # loading when the stamp arrives).
    tab.wait_for_function(
        "prev => { const d = document.querySelector('#field-drawn');"
        " const gd = document.querySelector('#maze-graph .js-plotly-plot');"
        " return d && d.textContent !== '' && d.textContent !== prev"
        " && gd && gd.data && gd.data.length > 1 && gd._fullLayout && gd._fullLayout.xaxis; }",
        arg=previous,
        timeout=timeout_ms,
    )
    return drawn(tab)


def maze_traces(tab) -> list[str]:
    """The maze figure's image and arrows as drawn (JSON), to tell whether they changed."""
    return tab.evaluate(
        "() => { const gd = document.querySelector('#maze-graph .js-plotly-plot');"
        " return [gd.data[0].source, JSON.stringify([gd.data[1].x, gd.data[1].y])]; }"
    )


def click_cell(tab, row: int, col: int) -> None:
    """Click the centre of maze cell ``(row, col)`` (row 0 at the bottom) in the figure."""
    x, y = tab.evaluate(
        "([row, col]) => { const gd = document.querySelector('#maze-graph .js-plotly-plot');"
        " const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;"
        " const r = gd.getBoundingClientRect();"
        " return [r.left + xa._offset + xa.d2p(col), r.top + ya._offset + ya.d2p(row)]; }",
        [row, col],
    )
    tab.mouse.click(x, y)


__all__ = ["click_cell", "drawn", "maze_traces", "page", "running", "wait_for_field"]
