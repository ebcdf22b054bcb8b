"""The documentation site: generated figures, a strict build, real-browser rendering, and
every code snippet on the pages executed."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import REPO

DOCS = REPO / "docs"
ARTIFACTS = REPO / "out" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def docs_env(shared_checkpoints: Path) -> dict:
    return {**os.environ, "HOOKED_IMPALA_HOME": str(shared_checkpoints), "NO_MKDOCS_2_WARNING": "1"}


@pytest.fixture(scope="module")
def site(shared_checkpoints, tmp_path_factory) -> Path:
    env = docs_env(shared_checkpoints)
    gen = subprocess.run(
        [sys.executable, str(DOCS / "generate.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert gen.returncode == 0, gen.stdout[-3000:] + gen.stderr[-3000:]
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-5000:]
    assert "WARNING" not in build.stderr, build.stderr[-5000:]
    return out


def test_strict_build_has_every_page_and_api_reference(site) -> None:
    for page in (
        "index.html",
        "install/index.html",
        "model/index.html",
        "maze/index.html",
        "training/index.html",
        "analyses/cheese_vector/index.html",
        "analyses/jacobian_svd/index.html",
        "contributing/index.html",
    ):
        assert (site / page).is_file(), page
    api = (site / "reference" / "hooked_impala" / "index.html").read_text()
    for name in ("HookedImpala", "run_with_cache", "load_pretrained", "ActivationCache"):
        assert name in api, name
    maze_api = (site / "reference" / "maze" / "index.html").read_text()
    assert "vector_field" in maze_api and "rollout" in maze_api
    assert (site / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    model_page = (site / "model" / "index.html").read_text()
    assert "embedder.block2.res1.resadd_out" in model_page and "(N, 128, 16, 16)" in model_page
    assert "{{" not in (site / "analyses" / "cheese_vector" / "index.html").read_text()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=8000",
        "--window-size=1280,1800",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *extra, url], capture_output=True, text=True, timeout=180
    )


def console_errors(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if ":CONSOLE" in line]
    return [
        line
        for line in lines
        if "Uncaught" in line or "Failed to load resource" in line or "Error" in line
    ]


@pytest.mark.parametrize(
    "page,has_figure", [("", False), ("analyses/cheese_vector/", True), ("maze/", True)]
)
def test_pages_render_in_headless_chromium(site, tmp_path, page, has_figure) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed")
    httpd, base = serve(site)
    try:
        dom = chromium(f"{base}/{page}", tmp_path / "profile", "--dump-dom")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{page.strip('/').replace('/', '_') or 'home'}.png"
        chromium(f"{base}/{page}", tmp_path / "profile2", f"--screenshot={shot}")
    finally:
        httpd.shutdown()
        httpd.server_close()
    html = dom.stdout
    assert re.search(r"<title>[^<]*hooked-impala</title>", html), html[:500]
    assert 'class="md-nav' in html  # the navigation rendered
    if has_figure:
        # plotly draws its SVG only when its JavaScript ran: a non-empty, live figure.
        assert "plot-container plotly" in html and "main-svg" in html
        assert re.search(r'<path class="[^"]*"[^>]*d="M', html) or "scatterlayer" in html
    assert console_errors(dom.stderr) == []
    assert shot.is_file() and shot.stat().st_size > 10_000


PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


PAGES_WITH_SNIPPETS = sorted(
    str(p.relative_to(DOCS))
    for p in DOCS.rglob("*.md")
    if "generated" not in p.parts and PYTHON_BLOCK.search(p.read_text())
)


def test_most_pages_have_snippets() -> None:
    assert {"index.md", "model.md", "maze.md", "analyses/cheese_vector.md"} <= set(
        PAGES_WITH_SNIPPETS
    )


@pytest.mark.parametrize("page", PAGES_WITH_SNIPPETS)
def test_code_snippets_on_the_pages_run(page, shared_checkpoints, tmp_path, monkeypatch) -> None:
    blocks = PYTHON_BLOCK.findall((DOCS / page).read_text())
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    monkeypatch.chdir(tmp_path)  # snippets that write files write here
    namespace: dict = {"__name__": "__docs__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page} snippet {i + 1}", "exec"), namespace)
        except Exception as err:  # name the page and snippet
            raise AssertionError(f"{page}, python snippet {i + 1} failed: {err!r}\n{code}") from err
