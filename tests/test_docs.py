"""The documentation site: generated figures, a strict build, real-browser rendering, and
every code snippet on the pages executed."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from html import unescape
from pathlib import Path

import pytest
from conftest import REPO

from explorer.browser import CHROMIUM_ARGS, chromium_path

DOCS = REPO / "docs"
ARTIFACTS = REPO / "out" / "test-artifacts"
CHROMIUM = chromium_path()


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


def test_every_generated_block_says_which_run_made_it(site) -> None:
    """Each generated figure and summary is followed by its run's line: quick or full, the
    mazes, the checkpoint's sha256 prefix, the commit; no page asks Google for fonts."""
    blocks = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in text, page
        for block in re.finditer(r'class="generated-(figure|summary|table)"', text):
            blocks += 1
            after = text[block.end() :]
            run = re.search(r'<p class="provenance">([^<]*)</p>', after)
            following = re.search(r'class="generated-(figure|summary|table)"', after)
            assert run and (following is None or run.start() < following.start()), page
            assert re.search(r"(quick|full) run|examples", run[1]) and "sha256" in run[1]
            assert "commit" in run[1], run[1]
    assert blocks > 40


def test_a_missing_image_fails_the_build_naming_it(tmp_path) -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import hooks
    finally:
        sys.path.remove(str(DOCS))

    class Page:
        class file:
            src_path = "explorer.md"

    with pytest.raises(FileNotFoundError, match="generated/explorer/nothing.png"):
        hooks.on_page_markdown("![x](generated/explorer/nothing.png)", Page, {}, None)
    assert hooks.on_page_markdown("![x](https://example.org/a.png)", Page, {}, None)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def require_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed")


def chromium(
    url: str, profile: Path, *extra: str, window: str = "1280,1800"
) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        *CHROMIUM_ARGS,
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=8000",
        f"--window-size={window}",
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
    require_chromium()
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


FIGURE_PLACEHOLDER = re.compile(r"\{\{\s*figure\(")
#: Every page of the site (its source under docs/, without .md): figures it holds.
PAGES = {
    str(p.relative_to(DOCS).with_suffix("")): len(FIGURE_PLACEHOLDER.findall(p.read_text()))
    for p in sorted(DOCS.rglob("*.md"))
    if "generated" not in p.parts
}
PAGES_WITH_FIGURES = {page for page, figures in PAGES.items() if figures}

# Appended to a copy of a page: once plotly has drawn (and the site's script has fitted the
# titles), the boxes of every figure, its SVGs, titles and modebar, and of the content column,
# written into the DOM for --dump-dom.
MEASURE = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  function box(el) {
    if (!el) return null;
    var r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width};
  }
  var figures = Array.from(document.querySelectorAll(".plotly-graph-div")).map(function (gd) {
    var container = gd.closest(".generated-figure");
    return {
      column: box(gd.closest(".md-content__inner")),
      container: box(container),
      overflow: container.scrollWidth - container.clientWidth,
      wrapper: box(gd.parentElement),
      figure: box(gd),
      svgs: Array.from(gd.querySelectorAll("svg.main-svg")).map(box),
      title: box(gd.querySelector(".gtitle")),
      annotations: Array.from(gd.querySelectorAll(".infolayer .annotation")).map(box),
      modebar: box(gd.querySelector(".modebar")),
    };
  });
  // Any element reaching outside the column, unless a box of its own scrolls or clips it
  // (a code block scrolls sideways inside the column; the scroll box itself is checked).
  // The content area: the theme's tables reach into the column's margins on purpose.
  var column = document.querySelector(".md-content__inner");
  var edge = box(document.querySelector(".md-content"));
  function held(el) {
    for (var a = el.parentElement; a && a !== column; a = a.parentElement) {
      if (["auto", "scroll", "hidden"].indexOf(getComputedStyle(a).overflowX) >= 0) return true;
    }
    return false;
  }
  var outside = Array.from(column.querySelectorAll("*")).filter(function (el) {
    var r = el.getBoundingClientRect();
    return r.width > 0 && (r.right > edge.right + 1 || r.left < edge.left - 1) && !held(el);
  }).map(function (el) {
    return el.tagName + "." + el.className + ": " + (el.textContent || "").slice(0, 60);
  });
  var broken = Array.from(document.images).filter(function (img) {
    return !(img.complete && img.naturalWidth > 0);
  }).map(function (img) { return img.src; });
  // Every block wider than its box: code blocks and the generated summaries.
  var wide = Array.from(document.querySelectorAll(".md-content pre")).filter(function (pre) {
    return pre.scrollWidth - pre.clientWidth > 1 && pre.classList.contains("generated-summary");
  }).map(function (pre) { return pre.textContent.slice(0, 80); });
  var out = document.createElement("pre");
  out.id = "figure-geometry";
  out.textContent = JSON.stringify({
    figures: figures, page: document.documentElement.scrollWidth, window: window.innerWidth,
    wide: wide, outside: outside, broken: broken
  });
  document.body.appendChild(out);
}, 2000); });
</script>"""


def inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    return inner["left"] >= outer["left"] - slack and inner["right"] <= outer["right"] + slack


def overlap(a: dict, b: dict) -> bool:
    return min(a["right"], b["right"]) > max(a["left"], b["left"]) and min(
        a["bottom"], b["bottom"]
    ) > max(a["top"], b["top"])


@pytest.mark.parametrize(
    "page,window",
    [(page, "1280,1800") for page in sorted(PAGES)]  # desktop: every page
    + [(page, "500,1800") for page in sorted(PAGES_WITH_FIGURES)],  # phone: the figures
)
def test_pages_fit_the_content_column(site, tmp_path, page, window) -> None:
    """Nothing outside the column, no missing image, no failed request, figures in their box."""
    require_chromium()
    source = Path(page)  # docs/<page>.md is built to <page>/index.html
    index = site / (source.parent if source.name == "index" else source) / "index.html"
    measured = index.with_name("measure-figures.html")  # same directory: relative links work
    measured.write_text(index.read_text().replace("</body>", MEASURE + "</body>"))
    httpd, base = serve(site)
    try:
        url = f"{base}/{measured.relative_to(site).as_posix()}"
        dom = chromium(url, tmp_path / "profile", "--dump-dom", window=window)
    finally:
        httpd.shutdown()
        httpd.server_close()
        measured.unlink()
    found = re.search(r'<pre id="figure-geometry">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"{page}: no measurements\n" + dom.stderr[-2000:]
    geometry = json.loads(unescape(found.group(1)))
    figures = geometry["figures"]
    assert len(figures) == PAGES[page], figures
    assert geometry["page"] <= geometry["window"], "the page scrolls sideways"
    assert geometry["wide"] == [], f"{page}: summaries wider than the column"
    assert geometry["outside"] == [], f"{page} at {window}: {geometry['outside'][:5]} outside"
    assert geometry["broken"] == [], f"{page}: images that did not load"
    for i, f in enumerate(figures):
        where = f"{page} figure {i + 1} at {window}: {f}"
        assert f["svgs"] and f["figure"]["width"] > 100, where  # drawn, not collapsed
        assert inside(f["container"], f["column"]) and f["overflow"] <= 0, where
        assert inside(f["figure"], f["container"]) and inside(f["wrapper"], f["container"]), where
        assert all(inside(svg, f["container"]) for svg in f["svgs"]), where
        # The figure's own box holds it: nothing spills onto the text below.
        assert f["wrapper"]["bottom"] >= f["figure"]["bottom"] - 1, where
        if f["title"] is not None:
            assert inside(f["title"], f["figure"]), where  # wrapped, not cut off
        # The modebar (shown on hover) covers no title, subplot titles included.
        for text in [f["title"], *f["annotations"]]:
            assert text is None or not overlap(text, f["modebar"]), where
    assert console_errors(dom.stderr) == []


# --- verdicts on the pages agree with the committed full runs ----------------------------------

#: "A1 holds", "B8 (…) fails", "A3's artifact part is inconclusive": a verdict stated in prose.
STATED = re.compile(
    r"\b(?P<id>[ABC]\d{1,2})\b(?:'s)?(?:\s*\([^)]*\))?\s+(?:(?:is|was|still)\s+)?"
    r"(?P<verdict>holds|fails|inconclusive|not testable)\b"
)
#: A page about another checkpoint than the docs' own says so with this marker.
CHECKPOINT_MARKER = re.compile(r"<!-- verdicts: (?P<name>[\w.]+) -->")


def stated_verdicts(text: str) -> list[tuple[str, str]]:
    """(prediction ID, verdict) for every verdict stated in prose, code blocks excluded."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [(m["id"], m["verdict"]) for m in STATED.finditer(prose)]


def test_the_statement_finder_finds_statements() -> None:
    found = stated_verdicts("So A1 holds here, B8 (the exact cell) fails, A3 is inconclusive.")
    assert found == [("A1", "holds"), ("B8", "fails"), ("A3", "inconclusive")]
    assert stated_verdicts("```\nA1 holds\n```") == []


def test_pages_state_only_the_committed_verdicts() -> None:
    """Every verdict a page states in prose is the verdict of the committed full run of its
    checkpoint (``docs/results/scoreboard-<checkpoint>-full``; the docs' own checkpoint,
    model_160022528, unless the page names another with ``<!-- verdicts: NAME -->``). A
    page that states a verdict without a committed run fails too."""
    from analyses.scoreboard.result import ScoreboardResult

    committed = {
        folder.name.removeprefix("scoreboard-").removesuffix("-full"): ScoreboardResult.load(
            folder
        ).verdicts()
        for folder in (DOCS / "results").glob("scoreboard-*-full")
    }
    problems = []
    for page in sorted(DOCS.rglob("*.md")):
        if "generated" in page.parts or page.name == "methods.md":
            continue  # methods.md speaks of verdicts in general, not of a run's
        text = page.read_text()
        marker = CHECKPOINT_MARKER.search(text)
        name = marker["name"] if marker else "model_160022528"
        for pid, verdict in stated_verdicts(text):
            actual = committed.get(name, {}).get(pid)
            if actual is None or actual.split(":")[0] != verdict:
                where = page.relative_to(DOCS)
                problems.append(f"{where}: '{pid} {verdict}' but the committed run says {actual}")
    assert problems == []


def test_the_docs_cache_serves_the_same_files_and_misses_on_a_new_key(tmp_path, monkeypatch):
    sys.path.insert(0, str(DOCS))
    try:
        import docs_cache
    finally:
        sys.path.remove(str(DOCS))
    monkeypatch.setattr(docs_cache, "CACHE", tmp_path / "cache")
    runs = []

    def make() -> list[str]:
        runs.append(1)
        (tmp_path / "out" / "a").mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / "a" / "summary.txt").write_text(f"run {len(runs)}")
        return []

    folder = tmp_path / "out" / "a"
    assert not docs_cache.cached("a", {"k": 1}, folder, make)
    (folder / "summary.txt").write_text("changed by hand")
    assert docs_cache.cached("a", {"k": 1}, folder, make)  # served: the file as made
    assert (folder / "summary.txt").read_text() == "run 1" and len(runs) == 1
    assert not docs_cache.cached("a", {"k": 2}, folder, make)  # another key: made again
    assert (folder / "summary.txt").read_text() == "run 2"
    assert not docs_cache.cached("a", {"k": 2}, folder, make, use_cache=False)
    assert len(runs) == 3
    assert len(list((tmp_path / "cache").iterdir())) == 1  # one entry per generator


def test_an_analysis_edit_changes_its_code_version_only(tmp_path, monkeypatch) -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import docs_cache
    finally:
        sys.path.remove(str(DOCS))
    for name in ("hooked_impala/x.py", "analyses/core/c.py", "analyses/one.py", "analyses/two.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a = 1\n")
    monkeypatch.setattr(docs_cache, "REPO", tmp_path)
    one, two = docs_cache.analysis_paths("one"), docs_cache.analysis_paths("two")
    before = docs_cache.code_version(one), docs_cache.code_version(two)
    (tmp_path / "analyses/one.py").write_text("a = 2\n")
    assert docs_cache.code_version(one) != before[0]
    assert docs_cache.code_version(two) == before[1]
    (tmp_path / "hooked_impala/x.py").write_text("b = 2\n")
    assert docs_cache.code_version(two) != before[1]
