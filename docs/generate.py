"""Generate the documentation's figures and numbers by running the real code.

    python docs/generate.py [--checkpoint model_160022528] [--mazes 6]

Runs every analysis of the registry (``analyses.core.registry``, its quick settings) and the
maze-layer examples on a checkpoint found through the normal checkpoint resolution (CI points
``$HOOKED_IMPALA_HOME`` at the shared checkpoints), and writes under ``docs/generated/``: one
plotly ``<div>`` per figure (``*.div.html``, without plotly.js), each analysis's printed
summary (``summary.txt``), the hook tables; each analysis's extra pages under
``docs/assets/``, and ``docs/assets/plotly.min.js`` (the one copy of plotly.js the site
loads). ``docs/hooks.py`` puts them into the pages at build time.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline
import torch
from plotly.subplots import make_subplots

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # run from anywhere: the repo's analyses package

from channel_comparisons import write_channel_comparisons  # noqa: E402
from comparisons import write_comparisons  # noqa: E402
from docs_cache import analysis_paths, cached, code_version  # noqa: E402
from scoreboard_pages import (  # noqa: E402
    PROVENANCE,
    RESULTS,
    committed_digest,
    scoreboard_page,
    scoreboard_tables,
    write_methods,
)

from analyses.core.inputs import select_mazes  # noqa: E402
from analyses.core.markdown import markdown_table  # noqa: E402
from analyses.core.registry import ANALYSES  # noqa: E402
from analyses.core.result import AnalysisResult, CheckpointRef  # noqa: E402
from analyses.core.spec import model_for  # noqa: E402
from hooked_impala import HookedImpala, ImpalaConfig, load_pretrained  # noqa: E402
from hooked_impala.files import write_atomically  # noqa: E402
from hooked_impala.incremental import window_fractions  # noqa: E402
from hooked_impala.maze import Maze, MazeRenderer, decision_square  # noqa: E402
from hooked_impala.model import to_model_input  # noqa: E402
from hooked_impala.policy import vector_field, vector_field_cells  # noqa: E402


def write_figure(out: Path, name: str, fig: go.Figure) -> None:
    write_atomically(
        out / f"{name}.div.html",
        fig.to_html(full_html=False, include_plotlyjs=False, default_width="100%"),
    )


def commit() -> str:
    """The checkout's commit (short), with "+changes" when the tree differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=DOCS, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short=10", "HEAD") or "unknown commit"
    return head + (" +changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def run_line(result: AnalysisResult, sample: str) -> str:
    """Which run made a generated block: quick or full, n mazes and their seeds, the
    checkpoint with its sha256 prefix, the commit and the date."""
    meta = result.metadata
    seeds = sorted(meta.maze_seeds)
    mazes = f"{len(seeds)} mazes (seeds {seeds[0]}–{seeds[-1]})" if seeds else "raw observations"
    sha = (meta.checkpoint.sha256 or "")[:12]
    return (
        f"{sample} run of {meta.analysis}: {mazes}, seed {meta.seed}, checkpoint "
        f"{meta.checkpoint.name} (sha256 {sha}…), commit {commit()}, "
        f"{datetime.date.today().isoformat()}"
    )


def write_result(out: Path, name: str, result: AnalysisResult, sample: str = "quick") -> list[str]:
    """The result's figures, summary and run line under ``out/name``; its standalone pages
    under ``docs/assets`` (their names returned)."""
    for fig_name, fig in result.figures().items():
        write_figure(out / name, fig_name, fig)
    write_atomically(out / name / "summary.txt", result.summary() + "\n")
    write_atomically(out / name / PROVENANCE, run_line(result, sample) + "\n")
    pages = result.pages()
    for page, content in pages.items():  # standalone views the pages link to
        write_atomically(DOCS / "assets" / page, content)
    return list(pages)


def observation_strip(maze: Maze, renderer: MazeRenderer) -> go.Figure:
    """procgen's frames of a maze, the maze edited (cheese to the top right), the mouse moved."""
    edited = maze.with_cheese(maze.top_right_cell)
    far = max(
        vector_field_cells(edited),
        key=lambda c: abs(c[0] - maze.start_cell[0]) + abs(c[1] - maze.start_cell[1]),
    )
    mazes = [maze, edited, edited.with_mouse(far)]
    titles = [f"seed {maze.seed}", f"cheese -> {maze.top_right_cell}", f"mouse -> {far}"]
    frames = renderer.observe(mazes)
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles)
    for i, frame in enumerate(frames):
        fig.add_trace(go.Image(z=frame), row=1, col=i + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def incremental_windows(model: HookedImpala, maze: Maze, renderer: MazeRenderer) -> go.Figure:
    """Where the mouse on one cell changes each layer (vs the maze without a mouse), titled
    with the share of the layer's grid the incremental forward recomputes for the field."""
    cells = vector_field_cells(maze)
    obs = torch.from_numpy(renderer.observe([maze.with_mouse(c) for c in cells]))
    fractions = window_fractions(model, obs)  # windows all the way, to show their growth
    pick = len(cells) // 2
    x = to_model_input(obs)
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.stack([x.median(dim=0).values, x[pick]]))
    layers = [
        "block1.conv_out",
        "block1.maxpool_out",
        "block1.res2.resadd_out",
        "block2.conv_out",
        "block2.maxpool_out",
        "block2.res2.resadd_out",
        "block3.maxpool_out",
        "block3.res2.resadd_out",
    ]
    titles = []
    for layer in layers:
        share = fractions.get(f"embedder.{layer}")
        titles.append(f"{layer}<br>" + (f"window: {share:.1%} of the grid" if share else "full"))
    fig = make_subplots(rows=2, cols=4, subplot_titles=titles, vertical_spacing=0.14)
    for k, layer in enumerate(layers):
        act = cache[f"embedder.{layer}"]
        changed = ((act[1] - act[0]).abs().amax(dim=0) > 0).float().numpy()
        fig.add_trace(
            go.Heatmap(
                z=changed,
                zmin=0,
                zmax=1,
                colorscale=[[0, "#f4f4f4"], [1, "#1f6fff"]],
                showscale=False,
            ),
            row=k // 4 + 1,
            col=k % 4 + 1,
        )
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False)
    fig.update_xaxes(showticklabels=False, showgrid=False)
    fig.update_annotations(font_size=11)
    fig.update_layout(
        height=560,
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        title=f"Positions the mouse on cell {cells[pick]} changes (blue), hard seed {maze.seed}",
    )
    return fig


def explorer_screenshots(out: Path, checkpoint: str) -> None:
    """Screenshots of the explorer in headless Chromium (``out/*.png``): easy seed 1 with the
    cheese clicked to the maze's top-right cell; then the cheese vector at -1 and the
    difference view; then the channel maps, an episode and an export further down."""
    from explorer import browser

    maze = Maze.from_seed(1)
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as exports,
        browser.running("--checkpoint", checkpoint, "--level", "1", "--out", exports) as url,
        browser.page(url, height=900) as tab,
    ):
        stamp = browser.drawn(tab)
        browser.click_cell(tab, *maze.top_right_cell)
        stamp = browser.wait_for_field(tab, stamp)
        tab.mouse.move(5, 5)  # no hover label in the picture
        tab.screenshot(path=out / "edit.png")
        tab.fill("#cheese-coeff input", "-1")
        tab.press("#cheese-coeff input", "Tab")  # the slider's box commits on leaving it
        stamp = browser.wait_for_field(tab, stamp)
        tab.check("#view input[value='difference']")
        browser.wait_for_field(tab, stamp)
        tab.mouse.move(5, 5)
        tab.screenshot(path=out / "difference.png")
        tab.click("#play")
        tab.wait_for_function("() => document.querySelector('#episode-status').innerText")
        tab.click("#export")
        tab.wait_for_function(
            "() => document.querySelector('#export-message').innerText.includes('python -m')"
        )
        tab.locator("#maps-graph").scroll_into_view_if_needed()
        tab.screenshot(path=out / "maps_rollout_export.png", full_page=True)
        if tab.errors:
            raise RuntimeError(f"the explorer logged browser errors: {tab.errors}")


def hook_table() -> str:
    shapes = {s: HookedImpala(ImpalaConfig.from_scale(s)).hook_shapes(batch=1) for s in (1, 4)}
    fmt = lambda shape: "(N, " + ", ".join(str(d) for d in shape[1:]) + ")"  # noqa: E731
    rows = [[f"`{name}`", fmt(shapes[1][name]), fmt(shapes[4][name])] for name in shapes[1]]
    return markdown_table(["hook name", "shape, s = 1", "shape, s = 4"], rows)


def maze_examples(out: Path, model: HookedImpala, mazes: list[Maze]) -> None:
    """The maze layer's page: a vector field, the observation strip, the incremental
    forward's windows, and the first maze's facts."""
    maze = mazes[0]
    with MazeRenderer() as renderer:
        field = vector_field(
            model, maze, renderer=renderer, label=f"{model.checkpoint.name}, easy seed {maze.seed}"
        )
        write_figure(out, "vector_field", field.figure(renderer=renderer))
        write_figure(out, "observations", observation_strip(maze, renderer))
        hard = Maze.from_seed(17, distribution_mode="hard")
        write_figure(out, "incremental", incremental_windows(model, hard, renderer))
    ds = decision_square(maze)
    write_atomically(
        out / "summary.txt",
        f"seed {maze.seed}: maze size {maze.maze_size}, mouse {maze.mouse}, "
        f"cheese {maze.cheese}, decision square {ds}, "
        f"{len(vector_field_cells(maze))} vector-field cells\n",
    )
    ref = CheckpointRef.of(model)
    write_atomically(
        out / PROVENANCE,
        f"examples of the maze layer: easy seed {maze.seed} and hard seed 17, checkpoint "
        f"{ref.name} (sha256 {(ref.sha256 or '')[:12]}…), commit {commit()}, "
        f"{datetime.date.today().isoformat()}\n",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="model_160022528")
    parser.add_argument("--mazes", type=int, default=6)
    parser.add_argument("--out", type=Path, default=DOCS / "generated")
    names = ["maze", "explorer", *(a.name for a in ANALYSES)]
    parser.add_argument(
        "--only",
        nargs="+",
        choices=names,
        metavar="NAME",
        help="regenerate only these (the rest of --out stays as it is): maze, explorer, or an "
        "analysis's name",
    )
    parser.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        help="run every generator even where .cache/docs holds its output for the same "
        "checkpoint, settings and code",
    )
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    started = time.perf_counter()
    out = args.out
    if not args.only:
        shutil.rmtree(out, ignore_errors=True)
    write_atomically(DOCS / "assets" / "plotly.min.js", plotly.offline.get_plotlyjs())
    write_atomically(out / "model" / "hook_table.md", hook_table())
    write_methods(out / "methods")
    full = RESULTS / f"scoreboard-{args.checkpoint}-full"  # the pages' comparisons read it
    write_comparisons(out / "comparisons", full)
    write_channel_comparisons(out, RESULTS)  # the channel pages' comparisons, committed runs

    committed = committed_digest(full)
    model = load_pretrained(args.checkpoint)
    mazes = select_mazes(args.mazes)
    base = {"checkpoint": CheckpointRef.of(model).sha256, "mazes": [m.seed for m in mazes]}
    wanted = args.only or names
    served = []

    def generate(name: str, own: list[str], make, **key) -> None:
        if name not in wanted:
            return
        full_key = {**base, **key, "name": name, "code": code_version(own)}
        if cached(name, full_key, out / name, make, args.use_cache):
            served.append(name)

    def screenshots() -> list[str]:
        explorer_screenshots(out / "explorer", args.checkpoint)
        return []

    def examples() -> list[str]:
        maze_examples(out / "maze", model, mazes)
        return []

    generate("maze", [], examples)
    generate("explorer", ["explorer", "analyses/maze_view"], screenshots)
    for analysis in ANALYSES:

        def make(analysis=analysis) -> list[str]:
            if analysis.name == "scoreboard" and committed:
                return scoreboard_page(out / "scoreboard", full)
            on = model_for(analysis, model)
            result = analysis.run_on_mazes(on, mazes, quick=True)
            pages = write_result(out, analysis.name, result)
            if analysis.name == "scoreboard":
                scoreboard_tables(out / "scoreboard", result)
            return pages

        other = analysis.checkpoint  # an analysis that runs on its own checkpoint
        # The scoreboard page shows the committed full run when there is one (a quick run
        # would only repeat it at small sizes): its key is that file, not a quick run's.
        mark = committed if analysis.name == "scoreboard" else None
        generate(analysis.name, analysis_paths(analysis.name), make, own_checkpoint=other, run=mark)
    took = time.perf_counter() - started
    print(
        f"generated docs figures in {took:.0f} s under {out}"
        + (f" ({len(served)} from the cache: {', '.join(served)})" if served else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
