"""``python -m explorer``: load the checkpoint, check the port, start the page, print its URL."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from analyses.core.cli import DEFAULT_CHECKPOINT
from hooked_impala import cli

#: Dash's own default port.
DEFAULT_PORT = 8050


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m explorer",
        description=sys.modules["explorer"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--checkpoint",
        default=DEFAULT_CHECKPOINT,
        help="registry name or path (default: %(default)s)",
    )
    p.add_argument(
        "--port",
        type=cli.integer(0, 65535),
        default=DEFAULT_PORT,
        help="port to serve on; 0 picks a free one (default: %(default)s)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to serve on; 0.0.0.0 makes the page reachable from other machines "
        "(default: %(default)s). The page answers only requests addressed to it: to this "
        "address, to localhost, and for 0.0.0.0 to this machine's name",
    )
    p.add_argument(
        "--level", type=cli.seed, default=0, help="level seed shown first (default: %(default)s)"
    )
    cli.add_mode_argument(p)
    p.add_argument(
        "--out",
        type=cli.output_folder,
        default=Path("out/explorer"),
        help="folder the exports go into (default: %(default)s)",
    )
    p.add_argument(
        "--dictionary",
        type=Path,
        default=None,
        metavar="PATH",
        help="a dictionary checkpoint (a .sae.pt that python -m analyses.dictionary wrote): "
        "the channel maps can then show its latents at its hook",
    )
    cli.add_device_argument(p)
    return p


def bound_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``(host, port)``, or SystemExit with a message saying what to do."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"error: port {port} on {host} is already in use (another explorer?): pass "
                "--port N for another port, or --port 0 for any free one"
            ) from None
        raise SystemExit(f"error: cannot serve on {host}:{port}: {err.strerror}") from None
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The port first: a busy port should not cost a model load.
    sock = bound_socket(args.host, args.port)
    port = sock.getsockname()[1]
    sock.close()  # released just before the server binds it again
    try:  # Dash (an optional extra) is imported only when a page is served
        from explorer.app import make_app
    except ImportError as err:
        if err.name not in ("dash", "PIL"):
            raise
        needs = f"error: the explorer needs {err.name}: pip install -e '.[explorer]'"
        print(needs, file=sys.stderr)
        return 1
    from explorer.compute import Explorer
    from explorer.edits import Session
    from hooked_impala.dictionary.train import load_sae

    model = cli.load_model(args.checkpoint, args.device)
    if model is None:
        return 1
    try:
        dictionary = None if args.dictionary is None else load_sae(args.dictionary)
        explorer = Explorer(model, args.checkpoint, dictionary)
    except ValueError as err:  # a missing or unreadable checkpoint, or one for another model
        print(f"error: --dictionary {args.dictionary}: {err}", file=sys.stderr)
        return 1
    try:
        session = Session(args.level, args.mode)
        explorer.maze(session)  # the level is generated before the URL is printed
        app = make_app(explorer, session, args.out, args.host, port)
        print(f"hooked-impala explorer: http://{_shown(args.host)}:{port}/ (Ctrl-C stops it)")
        sys.stdout.flush()
        app.run(host=args.host, port=port, debug=False)
    finally:
        explorer.close()
    return 0


def _shown(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host
