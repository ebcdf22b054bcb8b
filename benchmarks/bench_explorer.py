"""The explorer's redraw after an edit, on a 25x25 hard maze (seed 17, 336 open cells).

    python benchmarks/bench_explorer.py [--repeats 7] [--browser]

For the bundled s=1 stand-in and, when it is found, the s=1 PPO agent: the server's work
for one click that moves the cheese (render the observations, the vector field — the
incremental forward pass where it pays — the page's figure and its JSON), without an
intervention and with the cheese vector at -1 (two fields per edit), and for a move of the
coefficient slider (the original field is cached: one field). Every edit moves the cheese
to a cell not seen before, so nothing comes from the cache. With --browser, also the round
trip in headless Chromium: click, wait until the page shows the new field.
Goal: an edit redraws in under 1 s on 2 cores. The last line is
``edit with cheese vector, s=1: <seconds>``. Not a test: run it alone.
"""

from __future__ import annotations

import argparse
import statistics
import time

from analyses.maze_view import InterventionSettings
from explorer.compute import Explorer
from explorer.figures import maze_figure
from hooked_impala import CheckpointUnavailableError, load_pretrained
from hooked_impala.maze import Maze
from hooked_impala.policy import vector_field_cells

SEED = 17


def server_seconds(
    explorer: Explorer, cases: list[tuple[Maze, InterventionSettings]], which: str
) -> float:
    """Median seconds from a maze and an intervention to the figure's JSON, one case per
    repeat."""
    times = []
    for maze, settings in cases:
        start = time.perf_counter()
        fields = explorer.fields(maze, settings)
        maze_figure(fields, which, None).to_json()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def browser_seconds(checkpoint: str, cells: list, repeats: int) -> tuple[float, float]:
    """Median seconds from a click (cheese mode) to the new field drawn in Chromium, without
    an intervention and with the cheese vector at -1."""
    from explorer import browser

    medians = []
    with browser.running("--checkpoint", checkpoint, "--level", str(SEED), "--mode", "hard") as url:
        with browser.page(url) as tab:
            stamp = browser.drawn(tab)
            for chosen in (cells[:repeats], cells[repeats : 2 * repeats]):
                times = []
                for cell in chosen:
                    start = time.perf_counter()
                    browser.click_cell(tab, *cell)
                    stamp = browser.wait_for_field(tab, stamp)
                    times.append(time.perf_counter() - start)
                    tab.wait_for_timeout(1000)  # the channel maps follow the field
                medians.append(statistics.median(times))
                if len(medians) == 1:
                    tab.fill("#cheese-coeff input", "-1")
                    tab.press("#cheese-coeff input", "Tab")
                    stamp = browser.wait_for_field(tab, stamp)
                    tab.wait_for_timeout(1000)
            assert not tab.errors, tab.errors
    return medians[0], medians[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()
    maze = Maze.from_seed(SEED, "hard")
    cells = [c for c in vector_field_cells(maze) if c != maze.mouse][::7]
    edited = [maze.with_cheese(c) for c in cells]
    cheese = InterventionSettings(cheese_coeff=-1.0)
    result = None
    for name in ("standin_s1", "model_160022528"):
        try:
            model = load_pretrained(name, device="cpu", progress=False)
        except CheckpointUnavailableError as err:
            print(f"{name}: skipped ({err})")
            continue
        explorer = Explorer(model, name)
        explorer.fields(maze, cheese)  # warm-up: procgen env, first forward passes
        n = args.repeats
        plain = server_seconds(
            explorer, [(m, InterventionSettings()) for m in edited[:n]], "original"
        )
        steered = server_seconds(explorer, [(m, cheese) for m in edited[n : 2 * n]], "difference")
        explorer.fields(edited[0], InterventionSettings())  # the slider keeps this field
        coeffs = [InterventionSettings(cheese_coeff=-0.5 - 0.25 * i) for i in range(n)]
        slider = server_seconds(explorer, [(edited[0], c) for c in coeffs], "intervened")
        print(f"{name} (s=1, {len(vector_field_cells(maze))} cells), median of {n}:")
        print(f"  edit, no intervention:       {plain:.3f} s")
        print(f"  edit, cheese vector -1:      {steered:.3f} s (two fields)")
        print(f"  coefficient slider moved:    {slider:.3f} s (one field)")
        if args.browser:
            plain_trip, steered_trip = browser_seconds(name, cells[2 * n :], n)
            print(f"  in Chromium, edit:           {plain_trip:.3f} s (click to new field drawn)")
            print(f"  in Chromium, edit, cheese -1: {steered_trip:.3f} s")
        explorer.close()
        result = result or steered
    print(f"edit with cheese vector, s=1: {result:.3f}")


if __name__ == "__main__":
    main()
