"""Checkpoints: download into a verified cache, three formats, clear errors, parity with the
original forward pass (implemented independently below)."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hooked_impala import (
    CheckpointError,
    CheckpointUnavailableError,
    HookedImpala,
    ImpalaConfig,
    load_pretrained,
)
from hooked_impala.files import write_atomically
from hooked_impala.policy import evaluation
from hooked_impala.pretrained import (
    REGISTRY,
    CheckpointInfo,
    cache_dir,
    download,
    find_checkpoint_info,
)

# --- the original forward, written from the architecture description, not from the package ---


def original_forward(
    sd: dict[str, torch.Tensor], rgb_uint8: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x = rgb_uint8.permute(0, 3, 1, 2).float() / 255.0
    for b in (1, 2, 3):
        p = f"embedder.block{b}."
        x = F.conv2d(x, sd[p + "conv.weight"], sd[p + "conv.bias"], padding=1)
        x = F.max_pool2d(x, 3, 2, 1)
        for r in (1, 2):
            q = f"{p}res{r}."
            h = F.conv2d(F.relu(x), sd[q + "conv1.weight"], sd[q + "conv1.bias"], padding=1)
            h = F.conv2d(F.relu(h), sd[q + "conv2.weight"], sd[q + "conv2.bias"], padding=1)
            x = x + h
    x = F.relu(x).reshape(x.shape[0], -1)
    x = F.relu(F.linear(x, sd["embedder.fc.weight"], sd["embedder.fc.bias"]))
    logits = F.linear(x, sd["fc_policy.weight"], sd["fc_policy.bias"])
    value = F.linear(x, sd["fc_value.weight"], sd["fc_value.bias"]).reshape(-1)
    return logits, value


def random_state_dict(scale: int, seed: int) -> OrderedDict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shapes = HookedImpala(ImpalaConfig.from_scale(scale)).state_dict()
    return OrderedDict((k, torch.randn(v.shape, generator=gen) * 0.05) for k, v in shapes.items())


@pytest.mark.parametrize("scale", [1, 4])
def test_parity_with_original_forward_in_the_papers_format(tmp_path, scale, procgen_obs) -> None:
    sd = random_state_dict(scale, seed=scale)
    path = tmp_path / "model_rand_region_5.pth"
    torch.save(
        {"model_state_dict": sd, "optimizer_state_dict": {"state": {}, "param_groups": []}}, path
    )
    model = load_pretrained(path)
    assert model.cfg == ImpalaConfig.from_scale(scale)
    obs = torch.from_numpy(procgen_obs)
    with torch.no_grad():
        out = model(obs)
        logits, value = original_forward(sd, obs)
    assert torch.allclose(out.logits, logits, atol=1e-5)
    assert torch.allclose(out.value, value, atol=1e-5)


def test_parity_on_the_real_s1_agent(ppo_s1, shared_checkpoints, procgen_obs) -> None:
    sd = torch.load(
        shared_checkpoints / "model_160022528.pth", map_location="cpu", weights_only=True
    )["state_dict"]
    assert sum(v.numel() for v in sd.values()) == sum(p.numel() for p in ppo_s1.parameters())
    obs = torch.from_numpy(procgen_obs)
    with torch.no_grad():
        out = ppo_s1(obs)
        logits, value = original_forward(sd, obs)
    assert torch.allclose(out.logits, logits, atol=1e-5)
    assert torch.allclose(out.value, value, atol=1e-5)
    assert ppo_s1.checkpoint.sha256 == REGISTRY["model_160022528"].sha256


def test_real_agent_by_name_and_by_path(shared_checkpoints, monkeypatch) -> None:
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    assert cache_dir() == shared_checkpoints
    by_name = load_pretrained("model_160022528", progress=False)
    by_alias = load_pretrained("ppo_s1", progress=False)
    by_path = load_pretrained(shared_checkpoints / "model_160022528.pth")
    for a, b in zip(by_name.parameters(), by_path.parameters()):
        assert torch.equal(a, b)
    assert by_alias.checkpoint.name == "model_160022528"
    assert not by_name.training


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model_state_dict"])
def test_all_three_formats_load(tmp_path, wrap) -> None:
    sd = random_state_dict(1, seed=3)
    obj = sd if wrap == "bare" else {wrap: sd}
    torch.save(obj, tmp_path / "m.pth")
    model = load_pretrained(tmp_path / "m.pth")
    assert torch.equal(model.state_dict()["fc_policy.weight"], sd["fc_policy.weight"])


def test_widths_are_read_from_the_weights(tmp_path) -> None:
    cfg = ImpalaConfig(channels=(8, 24, 16), fc_features=64, num_actions=15)
    torch.save(HookedImpala(cfg).state_dict(), tmp_path / "odd.pth")
    assert load_pretrained(tmp_path / "odd.pth").cfg == cfg


# --- bad files ---------------------------------------------------------------------------


def test_truncated_file(tmp_path, shared_checkpoints) -> None:
    data = (shared_checkpoints / "model_160022528.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth: cannot be read as a PyTorch checkpoint"):
        load_pretrained(tmp_path / "cut.pth")


def test_not_a_checkpoint(tmp_path) -> None:
    (tmp_path / "notes.pth").write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.pth: cannot be read"):
        load_pretrained(tmp_path / "notes.pth")


class Sneaky:
    def __init__(self) -> None:
        self.payload = "arbitrary object"


def test_pickle_that_is_not_plain_tensors(tmp_path) -> None:
    torch.save({"state_dict": random_state_dict(1, 0), "extra": Sneaky()}, tmp_path / "pickle.pth")
    with pytest.raises(
        CheckpointError, match=r"pickle\.pth: holds objects other than plain tensors"
    ):
        load_pretrained(tmp_path / "pickle.pth")


def test_missing_unexpected_and_misshapen_keys_are_all_listed(tmp_path) -> None:
    sd = random_state_dict(1, 0)
    del sd["embedder.block3.res2.conv2.bias"]
    sd["embedder.block4.conv.weight"] = torch.zeros(3)
    sd["fc_value.weight"] = torch.zeros(2, 256)
    torch.save({"state_dict": sd}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_pretrained(tmp_path / "bad.pth")
    message = str(err.value)
    assert "bad.pth" in message
    assert "missing keys: ['embedder.block3.res2.conv2.bias']" in message
    assert "unexpected keys: ['embedder.block4.conv.weight']" in message
    assert "fc_value.weight: shape (2, 256), expected (1, 256)" in message


def test_not_an_impala_state_dict(tmp_path) -> None:
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"other\.pth: not an IMPALA.*missing keys"):
        load_pretrained(tmp_path / "other.pth")
    torch.save({"model_state_dict": {"a": 1}}, tmp_path / "scalars.pth")
    with pytest.raises(CheckpointError, match=r"scalars\.pth: .*not tensors: \['a'\]"):
        load_pretrained(tmp_path / "scalars.pth")


def test_non_finite_weights_are_refused_naming_the_tensors(tmp_path, capsys) -> None:
    nan = {k: torch.full_like(v, float("nan")) for k, v in random_state_dict(1, 0).items()}
    torch.save({"state_dict": nan}, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match=r"nan\.pth: .*NaN or infinite.*embedder\.block1"):
        load_pretrained(tmp_path / "nan.pth")
    one_inf = random_state_dict(1, 0)
    one_inf["embedder.block2.res1.conv2.weight"][3, 1, 0, 2] = float("inf")
    torch.save(one_inf, tmp_path / "inf.pth")
    with pytest.raises(CheckpointError) as err:
        load_pretrained(tmp_path / "inf.pth")
    assert "embedder.block2.res1.conv2.weight (1 of 9216 values" in str(err.value)
    assert str(err.value).count(" of ") == 1  # only the broken tensor is named
    # The evaluation command stops there, with the message and a failing exit status.
    assert evaluation.main(["--checkpoint", str(tmp_path / "inf.pth"), "--mazes", "1"]) == 1
    said = capsys.readouterr()
    assert "embedder.block2.res1.conv2.weight" in said.err and "success" not in said.out


def test_unknown_name_or_missing_path() -> None:
    with pytest.raises(
        FileNotFoundError,
        match=r"'model_nope' is neither a file nor a known checkpoint name.*model_160022528",
    ):
        load_pretrained("model_nope")


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


# --- bad inputs ---------------------------------------------------------------------------


def test_policy_head_of_another_size_fails_at_load_not_at_the_first_forward(tmp_path) -> None:
    sd = random_state_dict(1, 0)
    sd["fc_policy.weight"], sd["fc_policy.bias"] = torch.zeros(7, 256), torch.zeros(7)
    torch.save({"state_dict": sd}, tmp_path / "seven.pth")
    with pytest.raises(
        CheckpointError, match=r"seven\.pth: fc_policy has 7 actions; the maze policy has 15"
    ):
        load_pretrained(tmp_path / "seven.pth")


def test_load_errors_never_pass_on_torchs_weights_only_false_advice(tmp_path) -> None:
    # torch's own message for any file it cannot load says to retry with weights_only=False,
    # i.e. to run whatever code the file holds.
    (tmp_path / "page.pth").write_text("<!DOCTYPE html><html>Sign in</html>")
    torch.save({"state_dict": random_state_dict(1, 0), "extra": Sneaky()}, tmp_path / "obj.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    for name, why in [
        ("page.pth", "cannot be read as a PyTorch checkpoint"),
        ("obj.pth", "a pickled test_pretrained.Sneaky"),
        ("empty.pth", "the file is empty"),
    ]:
        with pytest.raises(CheckpointError) as err:
            load_pretrained(tmp_path / name)
        assert f"{name}: " in str(err.value) and why in str(err.value)
        assert "weights_only" not in str(err.value)


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
