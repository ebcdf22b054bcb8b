"""Checkpoint downloads, against servers on 127.0.0.1: verified, atomic, shared between
processes, and every failure named (dropped connections, bad checksums, streams too long)."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from constructed import random_state_dict

from hooked_impala import (
    CheckpointError,
    CheckpointUnavailableError,
    ImpalaConfig,
    load_pretrained,
)
from hooked_impala.files import write_atomically
from hooked_impala.pretrained import (
    REGISTRY,
    CheckpointInfo,
    download,
    find_checkpoint_info,
)

# --- downloads, against a server on 127.0.0.1 --------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802
        name = self.path.lstrip("/")
        if name not in self.files:
            self.send_error(404)
            return
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name.startswith("drop"):
            # Promise the whole file, send half, hang up.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def tampered(body: bytes) -> bytes:
    flipped = bytearray(body)
    flipped[len(body) // 2] ^= 0xFF
    return bytes(flipped)


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, bytes, CheckpointInfo]]:
    torch.save({"state_dict": random_state_dict(1, 7)}, tmp_path / "src.pth")
    body = (tmp_path / "src.pth").read_bytes()
    Handler.files = {"good.pth": body, "drop.pth": body, "tampered.pth": tampered(body)}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    info = CheckpointInfo(
        name="test_ckpt",
        filename="test_ckpt.pth",
        urls=(f"{url}/good.pth",),
        description="served locally",
        scale=1,
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
    )
    yield url, body, info
    httpd.shutdown()
    httpd.server_close()


def cache_contents(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_verifies_and_places_the_file(server, tmp_path) -> None:
    url, body, info = server
    cache = tmp_path / "cache"
    path = download(info, cache, progress=False)
    assert path == cache / "test_ckpt.pth" and path.read_bytes() == body
    assert cache_contents(cache) == ["test_ckpt.pth"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path) -> None:
    url, body, info = server
    cache = tmp_path / "cache"
    bad = replace(info, urls=(f"{url}/tampered.pth",))
    with pytest.raises(
        CheckpointUnavailableError, match=r"tampered\.pth: .*sha256 .* does not match"
    ):
        download(bad, cache, progress=False)
    assert cache_contents(cache) == []


def test_connection_dropped_mid_file_leaves_nothing(server, tmp_path) -> None:
    url, body, info = server
    cache = tmp_path / "cache"
    dropped = replace(info, urls=(f"{url}/drop.pth",))
    with pytest.raises(CheckpointUnavailableError, match=r"drop\.pth"):
        download(dropped, cache, progress=False)
    assert cache_contents(cache) == []


def test_second_url_is_tried_after_the_first_fails(server, tmp_path) -> None:
    url, body, info = server
    both = replace(info, urls=(f"{url}/missing.pth", f"{url}/good.pth"))
    assert download(both, tmp_path, progress=False).read_bytes() == body


def test_offline_error_names_url_cache_path_and_the_manual_way(tmp_path) -> None:
    # Port 9 on loopback: nothing listens, so the connection is refused at once.
    offline = CheckpointInfo(
        name="paperlike",
        filename="paperlike.pth",
        urls=("http://127.0.0.1:9/paperlike.pth",),
        description="",
        scale=4,
    )
    with pytest.raises(CheckpointUnavailableError) as err:
        download(offline, tmp_path / "cache", progress=False)
    message = str(err.value)
    assert "http://127.0.0.1:9/paperlike.pth" in message
    assert str(tmp_path / "cache" / "paperlike.pth") in message
    assert "copy the file there by hand" in message
    assert cache_contents(tmp_path / "cache") == []


def test_load_pretrained_downloads_an_entry_into_an_empty_cache(server, tmp_path) -> None:
    url, body, info = server
    cache = tmp_path / "cache"
    model = load_pretrained(info, cache=cache, progress=False)
    assert model.cfg == ImpalaConfig()
    assert model.checkpoint.name == "test_ckpt" and model.checkpoint.sha256 == info.sha256
    assert cache_contents(cache) == ["test_ckpt.pth"]
    # Second time: from the cache, even with the server gone.
    offline = replace(info, urls=("http://127.0.0.1:9/gone.pth",))
    assert load_pretrained(offline, cache=cache).cfg == ImpalaConfig()


def test_cached_file_with_wrong_checksum_is_refused(shared_checkpoints, tmp_path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    data = bytearray((shared_checkpoints / "model_160022528.pth").read_bytes())
    data[-100] ^= 0xFF
    (cache / "model_160022528.pth").write_bytes(bytes(data))
    with pytest.raises(
        CheckpointError, match=r"model_160022528\.pth: sha256 .* does not match model_160022528"
    ):
        load_pretrained("model_160022528", cache=cache)


def test_registry_entries() -> None:
    paper = find_checkpoint_info("maze_I/model_rand_region_5.pth")
    assert paper is REGISTRY["model_rand_region_5"] and paper.scale == 4 and paper.sha256 is None
    assert paper.urls == ("https://nerdsniper.net/mats/model_rand_region_5.pth",)
    s1 = REGISTRY["model_160022528"]
    assert s1.size == 2_518_378 and s1.sha256.startswith("e82e620e")
    with pytest.raises(TypeError):
        REGISTRY["new"] = s1  # type: ignore[index]


def test_cache_copy_loads_by_name(shared_checkpoints, tmp_path) -> None:
    shutil.copy(shared_checkpoints / "model_160022528.pth", tmp_path)
    assert load_pretrained("model_160022528", cache=tmp_path).cfg == ImpalaConfig()


def test_concurrent_downloads_of_one_file_share_it(server, tmp_path) -> None:
    url, body, info = server
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(3) as pool:
        paths = list(pool.map(lambda _: download(info, cache, progress=False), range(3)))
    assert all(p.read_bytes() == body for p in paths)
    assert cache_contents(cache) == ["test_ckpt.pth"]


class BadHandler(http.server.BaseHTTPRequestHandler):
    """Servers that misbehave in the ways the downloader must notice."""

    protocol_version = "HTTP/1.1"  # for chunked transfers
    body = b""
    sent = 0  # bytes of the endless stream written before the client hung up
    done = threading.Event()

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        if self.path == "/cut-chunk":  # announce a 64 KiB chunk, send 100 bytes, hang up
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"10000\r\n" + self.body[:100])
        elif self.path == "/endless":  # no Content-Length; 40 MiB for a 2.5 MB file
            self.end_headers()
            type(self).sent = 0
            try:
                for _ in range(40 * 16):
                    self.wfile.write(self.body[: 1 << 16].ljust(1 << 16, b"\0"))
                    type(self).sent += 1 << 16
            except OSError:  # the client hung up
                pass
            self.done.set()
        else:
            page = {
                "/page.html": b"<!DOCTYPE html>\n<html><body>Please sign in</body></html>",
                "/junk.pth": bytes(range(256)) * 64,
                "/good.pth": self.body,
            }[self.path]
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def bad_server(server) -> Iterator[tuple[str, CheckpointInfo]]:
    _, body, info = server
    BadHandler.body, BadHandler.done = body, threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BadHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", info
    httpd.shutdown()
    httpd.server_close()


def test_chunked_transfer_cut_mid_chunk_names_the_url(bad_server, tmp_path) -> None:
    url, info = bad_server
    with pytest.raises(CheckpointUnavailableError) as err:  # was a bare IncompleteRead
        download(replace(info, urls=(f"{url}/cut-chunk",)), tmp_path / "cache", progress=False)
    assert f"{url}/cut-chunk: transfer broke off: IncompleteRead" in str(err.value)
    assert cache_contents(tmp_path / "cache") == []


def test_stream_longer_than_the_file_stops_as_soon_as_it_is_too_long(bad_server, tmp_path) -> None:
    url, info = bad_server
    with pytest.raises(CheckpointUnavailableError) as err:
        download(replace(info, urls=(f"{url}/endless",)), tmp_path / "cache", progress=False)
    message = str(err.value)
    assert (
        f"{url}/endless: the server sent " in message
        and f"more than the {info.size:,} bytes" in message
    )
    assert BadHandler.done.wait(10)
    # All 40 MiB had been read and written before; now at most what the sockets buffer is sent.
    assert BadHandler.sent < 20 << 20
    assert cache_contents(tmp_path / "cache") == []


@pytest.mark.parametrize(
    "served, why",
    [
        ("page.html", "the server sent an HTML page, not a PyTorch checkpoint"),
        ("junk.pth", "the downloaded file: cannot be read as a PyTorch checkpoint"),
    ],
)
def test_unverifiable_download_that_is_no_checkpoint_stays_out_of_the_cache(
    bad_server, tmp_path, served, why
) -> None:
    url, info = bad_server
    unchecked = replace(info, sha256=None, size=None)  # as the paper's entry: nothing published
    cache = tmp_path / "cache"
    with pytest.raises(CheckpointUnavailableError) as err:
        download(replace(unchecked, urls=(f"{url}/{served}",)), cache, progress=False)
    assert f"{url}/{served}: {why}" in str(err.value)
    assert cache_contents(cache) == []
    # A real checkpoint without a checksum still passes.
    download(replace(unchecked, urls=(f"{url}/good.pth",)), cache, progress=False)
    assert cache_contents(cache) == ["test_ckpt.pth"]


def test_partial_files_of_killed_downloads_are_overwritten_or_removed(server, tmp_path) -> None:
    url, body, info = server
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".test_ckpt.pth.part").write_bytes(b"x" * (len(body) + 10))
    older = cache / ".test_ckpt.pth.k3j2x9.part"  # mkstemp's name in earlier versions
    older.write_bytes(b"y" * 1000)
    os.utime(older, (0, 0))
    assert download(info, cache, progress=False).read_bytes() == body
    assert cache_contents(cache) == ["test_ckpt.pth"]


def test_home_variable_pointing_at_a_file_is_named(server, tmp_path, monkeypatch) -> None:
    url, body, info = server
    home = tmp_path / "weights.pth"
    home.write_bytes(b"")
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(home))
    with pytest.raises(CheckpointUnavailableError) as err:  # was a bare FileExistsError
        load_pretrained(info, progress=False)
    assert f"$HOOKED_IMPALA_HOME ({home}) is a file" in str(err.value)


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_written_and_downloaded_files_get_the_usual_mode(server, tmp_path, umask_027) -> None:
    # mkstemp's 0600 made shared caches and report folders unreadable to colleagues.
    url, body, info = server
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)
    assert mode(write_atomically(tmp_path / "report.json", "{}")) == 0o640
    assert mode(download(info, tmp_path / "cache", progress=False)) == 0o640
