"""The main job: every analysis on one checkpoint over a few mazes, as a browsable report.

    python -m analyses.report [--checkpoint NAME_OR_PATH] [--mazes 8] [--out out/report]

Writes one folder per analysis (``result.json``, ``arrays.npz``, figures as HTML) and an
``index.html`` linking them with each analysis's summary.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from analyses import channel_attribution, cheese_vector, jacobian_svd, relu_removal, trajectory_view
from analyses.common import base_parser, decision_points, load_model_and_mazes
from hooked_impala.files import write_atomically
from hooked_impala.maze.vector_field import vector_field_cells


def analyses_to_run(model, mazes, args):
    """(name, question, thunk) per analysis, in report order."""
    points = decision_points(mazes)
    cells = [m.with_mouse(c) for m in mazes[: max(1, len(mazes) // 2)] for c in vector_field_cells(m)]
    return [
        ("cheese_vector", "What does subtracting the cheese vector do at the decision square?",
         lambda: cheese_vector.run(model, mazes, rollout_max_steps=args.max_steps, seed=args.seed)),
        ("channel_attribution", "Which channels push toward the cheese, which toward the top right?",
         lambda: channel_attribution.run(model, mazes, ig_steps=args.ig_steps, seed=args.seed)),
        ("jacobian_svd", "Which directions of the cheese-vector layer move the decision most?",
         lambda: jacobian_svd.run(model, [p.maze for p in points])),
        ("relu_removal", "How much of the policy is linear once the ReLUs are gone?",
         lambda: relu_removal.run(model, cells, tolerance=args.tolerance, seed=args.seed)),
        ("trajectory_view", "What do the channels do along one episode?",
         lambda: trajectory_view.run(model, mazes, max_steps=args.max_steps, seed=args.seed)),
    ]


def index_page(checkpoint: dict, sections: list[tuple[str, str, str, list[Path], float]], mazes, seconds: float) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>hooked-impala report</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;line-height:1.4}"
        "pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}h2{border-bottom:1px solid #ccc}</style></head><body>",
        "<h1>hooked-impala report</h1>",
        f"<p>Checkpoint <b>{html.escape(str(checkpoint['name']))}</b> (sha256 <code>{html.escape(str(checkpoint['sha256']))}</code>); "
        f"{len(mazes)} {html.escape(mazes[0].distribution_mode)} mazes with a decision square and the cheese outside the top-right 5×5 "
        f"(seeds {', '.join(str(m.seed) for m in mazes)}); {seconds:.0f} s.</p>",
    ]
    for name, question, summary, files, took in sections:
        links = " · ".join(f"<a href='{name}/{p.name}'>{p.name}</a>" for p in files)
        parts += [f"<h2>{name}</h2>", f"<p><i>{html.escape(question)}</i> ({took:.1f} s)</p>", f"<pre>{html.escape(summary)}</pre>", f"<p>{links}</p>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("report", __doc__)
    parser.set_defaults(mazes=8)
    parser.add_argument("--max-steps", type=int, default=256, help="rollout step limit (default: %(default)s)")
    parser.add_argument("--ig-steps", type=int, default=256, help="integrated-gradients points (default: %(default)s)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="ReLU restoration tolerance, mean KL (default: %(default)s)")
    parser.add_argument("--only", nargs="+", help="run only these analyses")
    args = parser.parse_args(argv)
    if args.mazes < 2:
        parser.error(f"--mazes must be at least 2 (the cheese vector transfers between mazes), got {args.mazes}")
    started = time.perf_counter()
    loaded = load_model_and_mazes(args)
    if loaded is None:
        return 1
    model, mazes = loaded
    out = args.out or Path("out/report")
    plan = analyses_to_run(model, mazes, args)
    unknown = sorted(set(args.only or ()) - {name for name, _, _ in plan})
    if unknown:
        parser.error(f"--only: unknown analyses {unknown}; choose from {[name for name, _, _ in plan]}")
    print(f"checkpoint {model.checkpoint.name}; mazes {[m.seed for m in mazes]}")
    sections = []
    for name, question, thunk in plan:
        if args.only and name not in args.only:
            continue
        t = time.perf_counter()
        result = thunk()
        files = result.save(out / name)
        summary = result.summary()
        sections.append((name, question, summary, files, time.perf_counter() - t))
        print(f"\n== {name} ({time.perf_counter() - t:.1f} s)\n{summary}", flush=True)
    checkpoint = {"name": model.checkpoint.name, "sha256": model.checkpoint.sha256}
    index = write_atomically(out / "index.html", index_page(checkpoint, sections, mazes, time.perf_counter() - started))
    print(f"\nwrote {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
