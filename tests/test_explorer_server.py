"""The explorer's server: it answers only requests addressed to its own host, and no value
sent to any of its callbacks (random, malformed or tampered) makes a server error."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from explorer import browser
from explorer.app import make_app
from explorer.compute import Explorer
from explorer.edits import Session
from explorer.hosts import allowed_hosts
from hooked_impala import load_pretrained

LAYER = "embedder.block2.res1.resadd_out"


@pytest.fixture(scope="module")
def explorer():
    explorer = Explorer(load_pretrained("standin_s1", progress=False), "standin_s1")
    yield explorer
    explorer.close()


PORT = 8123


@pytest.fixture(scope="module")
def app(explorer, tmp_path_factory):
    app = make_app(
        explorer, Session(3, "easy"), tmp_path_factory.mktemp("exports"), "127.0.0.1", PORT
    )
    app.server.config["PROPAGATE_EXCEPTIONS"] = True  # an escaping exception fails the test
    return app


@pytest.mark.parametrize(
    ("host", "status"),
    [
        (f"127.0.0.1:{PORT}", 200),
        (f"localhost:{PORT}", 200),
        (f"LOCALHOST:{PORT}", 200),
        (f"[::1]:{PORT}", 200),
        (f"evil.example:{PORT}", 403),
        (f"127.0.0.1.evil.example:{PORT}", 403),
        ("evil.example", 403),
        (f"localhost:{PORT + 1}", 403),  # a page on another local port
        ("127.0.0.1", 403),
    ],
)
def test_only_requests_for_its_own_host_are_answered(app, host, status) -> None:
    for path in ("/", "/_dash-layout"):
        response = app.server.test_client().get(path, headers={"Host": host})
        assert response.status_code == status, (path, host)


def raw_get(url: str, host: str) -> bytes:
    """The first line of the answer to ``GET /`` sent to ``url``'s server with ``host`` in
    the Host header, written by hand (no client library that might fix the header)."""
    address, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    deadline = time.monotonic() + 60
    while True:  # the URL is printed just before the server starts listening
        try:
            conn = socket.create_connection((address, int(port)), timeout=30)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn:
        conn.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return conn.makefile("rb").readline()


@pytest.mark.slow
def test_the_running_explorer_refuses_a_forged_host_header() -> None:
    with browser.running("--level", "3") as url:
        own = url.removeprefix("http://").rstrip("/")
        assert b" 200 " in raw_get(url, own)
        assert b" 200 " in raw_get(url, own.replace("127.0.0.1", "localhost"))
        for forged in ("evil.example", own.replace("127.0.0.1", "rebound.evil.example")):
            assert b" 403 " in raw_get(url, forged), forged


def test_hosts_of_a_page_served_to_the_network() -> None:
    assert allowed_hosts("0.0.0.0", 80) >= {"localhost", f"{socket.gethostname().lower()}:80"}
    assert "192.0.2.7:8050" in allowed_hosts("192.0.2.7", 8050)
    assert "0.0.0.0:8050" not in allowed_hosts("0.0.0.0", 8050)


def initial_values(component, found=None) -> dict:
    """``{(id, property): value}`` of every component of the layout, as the page starts."""
    found = {} if found is None else found
    if hasattr(component, "to_plotly_json"):
        props = component.to_plotly_json()["props"]
        for name, value in props.items():
            if "id" in props and name != "children":
                found[(props["id"], name)] = value
        initial_values(props.get("children"), found)
    elif isinstance(component, list | tuple):
        for child in component:
            initial_values(child, found)
    return found


# Values a page, a tampered request or a careless user may send, for any input.
NAN, INF = float("nan"), float("inf")
NUMBERS = [None, -1, 0, 1, 3, 2.5, 1e308, -1e308, 2**40, NAN, INF, -INF, True]
TEXTS = ["", "abc", "5, x", "ten", "1e999", "original", "difference", "sampled", "none"]
NAMES = ["target", "wall", "peak", "hard", LAYER, "embedder.nothing", "/dev/null/x"]
LISTS = [[], [1], [99, 99], [1, "a"], ["on"], ["off"], {}, {"x": 1}]
CLICKS = [{"points": "x"}, {"points": [{"x": "a", "y": 2}]}, {"points": [{"x": 4, "y": NAN}]}]
SESSIONS = [
    {"seed": -1, "mode": "medium", "edits": []},
    {"seed": 3, "mode": "easy", "edits": "x"},
    {"seed": 3, "mode": "easy", "edits": [["wall", 99, 99, False]]},
    {"seed": 3, "mode": "easy", "edits": [["cheese", 1, 1]]},
    {"seed": 3, "mode": "easy", "edits": [["mouse", 7, 7, "yes"]]},
    {"session": {"seed": 3, "mode": "easy"}, "cells": [[1, 1], [99, 99]]},
    {"session": {"seed": 3, "mode": "easy"}, "cells": []},
]
JUNK = [*NUMBERS, *TEXTS, *NAMES, *LISTS, *CLICKS, {"points": [{"x": 5, "y": 6}]}, *SESSIONS]


def test_no_callback_input_makes_a_server_error(app, tmp_path, monkeypatch) -> None:
    """A few hundred requests, each of a random callback with some of its inputs replaced by
    junk: every one is answered (no exception escapes: the app propagates them here)."""
    monkeypatch.chdir(tmp_path)  # an export folder given as junk text lands here
    rng = np.random.default_rng(0)
    page = app.layout() if callable(app.layout) else app.layout  # the page as first served
    start = initial_values(page)
    assert ("session", "data") in start and ("checkpoint", "value") in start
    client = app.server.test_client()
    headers = {"Host": f"127.0.0.1:{PORT}"}
    # The server's callbacks (the clientside ones, the picture downloads, run in the browser).
    callbacks = [(out, spec) for out, spec in app.callback_map.items() if "callback" in spec]
    deadline = time.monotonic() + 600  # about 100 s on an idle 2-core machine
    for case in range(300):
        assert time.monotonic() < deadline, f"too slow: {case} cases in the time"
        output, spec = callbacks[rng.integers(len(callbacks))]
        junk = rng.choice([0.05, 0.15, 0.4])  # some requests mostly sensible, some mostly junk

        def value(item):
            key = (item["id"], item["property"])
            if rng.random() < junk:
                return JUNK[rng.integers(len(JUNK))]
            return start.get(key)  # a control the page has not set sends None

        inputs = [{**item, "value": value(item)} for item in spec["inputs"]]
        trigger = inputs[rng.integers(len(inputs))]
        out = spec["output"]
        described = lambda o: {"id": o.component_id, "property": o.component_property}
        outputs = [described(o) for o in out] if isinstance(out, list) else described(out)
        payload = {
            "output": output,
            "outputs": outputs,
            "inputs": inputs,
            "state": [{**item, "value": value(item)} for item in spec["state"]],
            "changedPropIds": [f"{trigger['id']}.{trigger['property']}"],
        }
        response = client.post("/_dash-update-component", json=payload, headers=headers)
        assert response.status_code in (200, 204), (response.status_code, payload)
        assert b"Traceback" not in response.data
