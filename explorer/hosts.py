"""Who may reach the explorer: the ``Host`` headers its server answers (a page on another
site must not drive it through DNS rebinding)."""

from __future__ import annotations

import socket

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::")


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` headers the page answers: this machine's loopback names, the address it
    serves on, and for a wildcard address (serving every interface, asked for with --host)
    this machine's name and addresses; each with the port (also without it on port 80)."""
    names = {*LOCAL_NAMES, f"[{host}]" if ":" in host else host}
    if host in WILDCARDS:
        machine = socket.gethostname()
        names |= {machine, socket.getfqdn()}
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(machine, None)}
        except OSError:  # a name that does not resolve: its addresses are not needed
            pass
    names = {n.lower() for n in names if n not in WILDCARDS and n not in ("[::]", "[0.0.0.0]")}
    with_port = {f"[{n}]:{port}" if ":" in n and "[" not in n else f"{n}:{port}" for n in names}
    return frozenset(with_port | (names if port == 80 else set()))
