"""Sweeps: chunks run in-process or on Ray give the same rows, every item exactly once, also
on a two-node cluster, after a killed worker and after Ctrl-C on the driver."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
import torch
from ray.cluster_utils import Cluster

from analyses import behaviour
from analyses.core import cli as analyses_cli
from hooked_impala import load_pretrained
from hooked_impala.policy import records as records_module
from hooked_impala.policy.records import collect_records, load_records
from hooked_impala.sweep import Backend, SweepError, _Weights, chunked, run_sweep
from tests import listening

# The chunk functions and hooks below run in Ray's workers, which cannot import this module.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

REPO = Path(__file__).resolve().parents[1]
SEEDS = range(12)
SETTINGS = {"mode": "easy", "max_steps": 30, "seed": 5, "progress": False, "chunk_size": 4}


@pytest.fixture(scope="module")
def model():
    return load_pretrained("standin_s1", progress=False)


@pytest.fixture(scope="module")
def baseline(model, tmp_path_factory) -> pd.DataFrame:
    """The records of seeds 0..11, in-process."""
    return collect_records(model, SEEDS, tmp_path_factory.mktemp("in_process"), **SETTINGS)


@pytest.fixture(scope="module")
def ray_module_instance():
    """One local Ray instance (2 CPUs) for the module; the sweeps use it and leave it up."""
    yield
    ray.shutdown()


@pytest.fixture
def local_ray(ray_module_instance):
    if not ray.is_initialized():
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20
        )
    return ray


def same_rows(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert frame["seed"].is_unique
    pd.testing.assert_frame_equal(frame.sort_values("seed", ignore_index=True), expected)


# --- the abstraction on constructed chunk functions --------------------------------------------


def test_chunks_cover_every_item_once() -> None:
    assert chunked(range(10), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert chunked([], 3) == []
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        chunked(range(3), 0)
    with pytest.raises(SweepError, match="workers=2 needs Ray"):
        Backend(workers=2)


def test_in_process_streams_rows_in_chunk_order() -> None:
    log: list[str] = []

    def square(model, chunk):
        for item in chunk:
            log.append(f"made {item}")
            yield item * item

    rows = run_sweep(None, chunked(range(5), 2), square)
    assert next(rows) == 0 and log == ["made 0"]  # passed on as it comes, not per chunk
    assert list(rows) == [1, 4, 9, 16]


def test_workers_rebuild_the_drivers_model(model) -> None:
    driver = copy.deepcopy(model).double()  # a float64 model stays float64
    rebuilt = _Weights.of(driver).model()
    assert rebuilt.cfg == driver.cfg and rebuilt.checkpoint == driver.checkpoint
    for (name, a), (_, b) in zip(driver.state_dict().items(), rebuilt.state_dict().items()):
        assert a.dtype == b.dtype == torch.float64 and torch.equal(a, b), name


def test_an_in_process_sweep_does_not_import_ray() -> None:
    code = (
        "import sys, tempfile, torch\n"
        "from hooked_impala import HookedImpala, ImpalaConfig\n"
        "from hooked_impala.policy.records import collect_records\n"
        "from analyses import behaviour, generalisation\n"
        "model = HookedImpala(ImpalaConfig(channels=(1, 1, 1), fc_features=1)).eval()\n"
        "with tempfile.TemporaryDirectory() as out:\n"
        "    collect_records(model, range(3), out, max_steps=3, progress=False)\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr


def _wait_for(path: Path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.05)


def test_ray_returns_whole_chunks_in_completion_order(local_ray, model, tmp_path) -> None:
    marker = tmp_path / "second chunk done"

    def describe(model, chunk):
        if chunk[0] == 0:  # the first chunk finishes after the second
            _wait_for(marker)
            time.sleep(0.5)
        rows = [(item, os.getpid(), torch.get_num_threads(), model.cfg.channels) for item in chunk]
        if chunk[0] == 2:
            marker.touch()
        return rows

    rows = list(run_sweep(model, chunked(range(4), 2), describe, backend=Backend(ray=True)))
    assert [r[0] for r in rows] == [2, 3, 0, 1]
    assert {r[1] for r in rows}.isdisjoint({os.getpid()})  # in worker processes
    assert {r[2] for r in rows} == {1}  # one torch thread each
    assert {r[3] for r in rows} == {model.cfg.channels}  # the driver's model, from the store


# --- records: the same whatever the split ------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_records_on_ray_equal_those_in_process(local_ray, model, baseline, workers, tmp_path):
    frame = collect_records(
        model, SEEDS, tmp_path, backend=Backend(ray=True, workers=workers), **SETTINGS
    )
    same_rows(frame, baseline)
    same_rows(load_records(tmp_path), baseline)
    settings = json.loads((tmp_path / "_run.json").read_text())
    assert not {"ray", "workers", "chunk_size", "ray_address"} & set(settings)


def test_a_resumed_run_on_ray_equals_one_run_in_process(local_ray, model, baseline, tmp_path):
    collect_records(model, range(6), tmp_path, **SETTINGS)  # in-process, a half-played chunk
    frame = collect_records(
        model, SEEDS, tmp_path, backend=Backend(ray=True, workers=2), **SETTINGS
    )
    same_rows(frame, baseline)


def test_ctrl_c_on_the_driver_leaves_a_resumable_folder(
    local_ray, model, baseline, tmp_path, monkeypatch
) -> None:
    class InterruptedBar:  # Ctrl-C on the driver when the 6th row arrives
        def __init__(self, *args, **kwargs):
            self.n = 0

        def update(self, n):
            self.n += n
            if self.n == 6:
                raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(records_module, "tqdm", InterruptedBar)
    with pytest.raises(KeyboardInterrupt):
        collect_records(
            model, SEEDS, tmp_path, backend=Backend(ray=True), flush_every=4, **SETTINGS
        )
    kept = load_records(tmp_path)
    assert 4 <= len(kept) < 12 and kept["seed"].is_unique
    monkeypatch.undo()
    same_rows(
        collect_records(model, SEEDS, tmp_path, backend=Backend(ray=True), **SETTINGS), baseline
    )
    same_rows(load_records(tmp_path), baseline)


# --- faults ------------------------------------------------------------------------------------


def test_a_killed_worker_is_replaced_and_no_maze_is_lost_or_repeated(
    local_ray, model, baseline, tmp_path
) -> None:
    marker, driver = tmp_path / "killed once", os.getpid()

    def die_once(activation, hook):
        """The first forward pass in any worker kills that worker's process (once)."""
        if os.getpid() == driver:
            return None
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return None
        os._exit(1)

    hooks = [("embedder.fc_out", die_once)]
    out = tmp_path / "records"
    frame = collect_records(
        model, SEEDS, out, backend=Backend(ray=True), fwd_hooks=hooks, **SETTINGS
    )
    assert marker.exists()  # a worker did die
    same_rows(frame, baseline)
    same_rows(load_records(out), baseline)  # every maze once in the files


def test_a_chunk_that_keeps_failing_is_named(local_ray) -> None:
    def always_die(model, chunk):
        os._exit(1)

    rows = run_sweep(None, [[7, 8]], always_die, backend=Backend(ray=True), max_retries=0)
    with pytest.raises(SweepError, match=r"the chunk of items 7\.\.8 failed on Ray"):
        list(rows)


def test_asking_for_ray_without_it_says_how_to_install(
    model, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(SweepError, match=r'pip install "hooked-impala\[ray\]"'):
        collect_records(model, SEEDS, tmp_path / "records", backend=Backend(ray=True), **SETTINGS)
    assert not (tmp_path / "records").exists()  # refused before any work
    argv = ["--mazes", "20", "--ray", "--records", str(tmp_path / "r"), "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as stop:  # checked with the flags, before any work
        analyses_cli.main(behaviour.run.analysis, argv)
    assert stop.value.code == 2
    assert 'pip install "hooked-impala[ray]"' in capsys.readouterr().err


# --- what a Ray instance exposes ----------------------------------------------------------------

# A fresh interpreter (no Ray instance of this module's), a local instance as the project starts
# one, a task so that a worker runs too, and the sockets of the whole process tree.
LOCAL_RAY_PROBE = """
import json, os
from hooked_impala.sweep import Backend, ray_session, run_sweep
from tests.listening import listening_in_tree

backend = Backend(ray=True, workers=1)
with ray_session(backend):
    worker = list(run_sweep(None, [[0]], lambda model, chunk: [os.getpid()], backend=backend))
    print(json.dumps({"worker": worker[0], "listening": listening_in_tree(os.getpid())}))
"""


def test_a_local_ray_instance_listens_on_loopback_only_and_has_no_dashboard() -> None:
    if not listening.readable():
        pytest.skip("this system's listening sockets cannot be read (no /proc/net/tcp)")
    done = subprocess.run(
        [sys.executable, "-c", LOCAL_RAY_PROBE],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    sockets = probe["listening"]
    assert {pid for pid, *_ in sockets} >= {probe["worker"]}  # the probe sees Ray's sockets
    assert any("gcs_server" in command for _, command, *_ in sockets)
    exposed = [s for s in sockets if not listening.is_loopback(s[2])]
    assert exposed == [], f"listening beyond this machine: {exposed}"
    assert not [s for s in sockets if "dashboard" in s[1]], "a dashboard was started"


def test_an_unreachable_cluster_fails_fast_naming_its_address() -> None:
    ray.shutdown()  # a connection already made would be used instead (the module's instance)
    started = time.monotonic()
    rows = run_sweep(
        None, [[0]], lambda model, chunk: chunk, backend=Backend(address="127.0.0.1:1")
    )
    with pytest.raises(SweepError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1"):
        list(rows)
    assert time.monotonic() - started < 15
    assert not ray.is_initialized()


# --- the command line ----------------------------------------------------------------------------


def test_behaviour_with_ray_writes_the_records_it_writes_without(local_ray, tmp_path) -> None:
    results = {}
    for name, flags in {"local": [], "ray": ["--ray"], "ray1": ["--ray", "--workers", "1"]}.items():
        argv = ["--mazes", "120", "--max-steps", "32", "--splits", "2"]
        argv += ["--records", str(tmp_path / name), "--out", str(tmp_path / f"out_{name}")]
        assert analyses_cli.main(behaviour.run.analysis, argv + flags) == 0
        results[name] = json.loads((tmp_path / f"out_{name}" / "result.json").read_text())
    local = load_records(tmp_path / "local")
    assert len(local) == 120
    for name in ("ray", "ray1"):
        same_rows(load_records(tmp_path / name), local)
        assert results[name]["metadata"] == {
            **results["local"]["metadata"],
            "parameters": {
                **results["local"]["metadata"]["parameters"],
                "playing": {
                    **results["local"]["metadata"]["parameters"]["playing"],
                    "records": str(tmp_path / name),
                },
            },
        }  # nothing says how the work was split


# --- a simulated two-node cluster (last: it replaces the module's local instance) -----------


def test_a_two_node_cluster_gives_the_same_records(model, baseline, tmp_path) -> None:
    ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()

        def node_after_both_started(model, chunk):
            (tmp_path / f"started {chunk[0]}").touch()
            for item in (0, 1):  # both chunks run at once: on both nodes (one CPU each)
                _wait_for(tmp_path / f"started {item}")
            return [ray.get_runtime_context().get_node_id()]

        backend = Backend(address=cluster.address)
        nodes = set(run_sweep(None, [[0], [1]], node_after_both_started, backend=backend))
        assert len(nodes) == 2
        frame = collect_records(
            model, SEEDS, tmp_path / "records", backend=Backend(address=cluster.address), **SETTINGS
        )
        same_rows(frame, baseline)
        assert not ray.is_initialized()  # the sweep's own connection, closed after it

        # With a cluster running on the machine, a local sweep still starts an instance of its
        # own: Ray's default would join that cluster (and refuse the workers' num_cpus).
        def where(model, chunk):
            return [ray.get_runtime_context().gcs_address]

        here = set(run_sweep(None, [[0], [1]], where, backend=Backend(ray=True, workers=2)))
        assert len(here) == 1 and None not in here and cluster.address not in here
    finally:
        ray.shutdown()
        cluster.shutdown()
