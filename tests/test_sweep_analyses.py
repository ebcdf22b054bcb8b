"""The other maze-level sweeps on Ray: retargeting heatmaps, the probes' dataset and vector
fields over many mazes give the same values in-process and on 2 Ray workers (exactly: the
workers run one torch thread, and so does the driver here, so every forward pass is the same
arithmetic on the same batch); without Ray installed, asking for it says how to install it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import torch

from analyses import probes, retarget
from analyses.core import cli as analyses_cli
from analyses.core.inputs import Levels, select_mazes
from analyses.measure import probe_data
from hooked_impala import load_pretrained
from hooked_impala.maze import mazes_from_seeds
from hooked_impala.policy import vector_field, vector_fields
from hooked_impala.sweep import Backend, SweepError, chunked, run_sweep

# The hook below runs in Ray's workers, which cannot import this module. (The library's own
# hooks, e.g. clamp_channels(...).hooks(), pickle too, but not under the test run's beartype
# wrappers, which hold weakrefs.)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

INSTALL = r'pip install "hooked-impala\[ray\]"'
ON_RAY = {"ray": True, "workers": 2}
HEATMAP = {
    "cheese_channels": 0,
    "channels": [3, 5],
    "magnitude": 2.0,
    "max_targets": 5,
    "targets_per_maze": 1,
    "rollout_steps": 8,
    "seed": 3,
}
PROBES = {
    "hooks": ["embedder.block1.res1.resadd_out", "embedder.fc_out"],
    "features": 32,
    "conv_steps": 10,
    "positions_per_maze": 2,
    "seed": 1,
}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The driver on one torch thread, as the workers: the same kernels on the same batches
    give the same bits (another thread count may round the last bit differently)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (2 CPUs) for the module: the sweeps use it and leave it up."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model():
    return load_pretrained("standin_s1", device="cpu", progress=False)


@pytest.fixture(scope="module")
def mazes():
    return select_mazes(3, "easy", first_seed=0)


# --- the chunks in order ------------------------------------------------------------------------


def late_first_chunk(model, chunk: list[tuple[int, str]]) -> list[int]:
    """Chunk 0 finishes only after chunk 1 has (it waits for the marker chunk 1 leaves)."""
    (first, marker), *_ = chunk
    deadline = time.monotonic() + 60
    while first == 0 and not Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if first == 2:
        Path(marker).touch()
    return [item for item, _ in chunk]


def test_ordered_passes_chunks_on_in_chunk_order(local_ray, tmp_path) -> None:
    items = [(i, str(tmp_path / "chunk 1 done")) for i in range(6)]
    rows = run_sweep(None, chunked(items, 2), late_first_chunk, backend=Backend(**ON_RAY))
    assert list(rows)[:2] == [2, 3]  # in completion order: the test can tell them apart
    (tmp_path / "chunk 1 done").unlink()
    rows = run_sweep(
        None, chunked(items, 2), late_first_chunk, backend=Backend(**ON_RAY), ordered=True
    )
    assert list(rows) == [0, 1, 2, 3, 4, 5]


# --- retargeting heatmaps ----------------------------------------------------------------------


def test_heatmaps_on_ray_equal_those_in_process(local_ray, model, mazes, monkeypatch) -> None:
    monkeypatch.setattr(retarget, "HEATMAP_CHUNK", 1)  # 3 chunks on 2 workers: order matters
    here = retarget.run(model, mazes, **HEATMAP)
    there = retarget.run(model, mazes, **HEATMAP, sweep=Backend(**ON_RAY))
    assert [m.maze.seed for m in there.per_maze] == [m.seed for m in mazes]  # input order
    for a, b in zip(here.per_maze, there.per_maze, strict=True):
        assert a.targets == b.targets and a.skipped == b.skipped and a.forwards == b.forwards
        assert 0 < len(a.targets) <= HEATMAP["max_targets"]
        for name in ("path_steps", "steps_to_top_right_path", "original", "clamped"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        np.testing.assert_array_equal(a.moved_cheese, b.moved_cheese)
    for name, values in here.arrays().items():
        np.testing.assert_array_equal(values, there.arrays()[name], err_msg=name)
    assert here.numbers() == there.numbers()
    assert here.metadata == there.metadata  # where it ran is not part of the result
    np.testing.assert_array_equal(here.background, there.background)


# --- the probes' dataset -----------------------------------------------------------------------


def test_probe_blocks_on_ray_come_in_split_order_equal_to_in_process(local_ray) -> None:
    splits = probe_data.split_levels(range(20), 0.2, seed=0)
    settings = {"positions_per_maze": 3, "without_cheese": 0.5, "seed": 7, "block": 4}
    here = list(probe_data.probe_dataset(splits, "easy", **settings))
    there = list(probe_data.probe_dataset(splits, "easy", **settings, backend=Backend(**ON_RAY)))
    # train 14 levels in blocks of 4, validation 2, test 4: 6 blocks in this order
    assert [(name, levels) for name, _, levels in here] == [
        ("train", 4),
        ("train", 4),
        ("train", 4),
        ("train", 2),
        ("validation", 2),
        ("test", 4),
    ]
    assert [(name, levels) for name, _, levels in there] == [(n, k) for n, _, k in here]
    for (name, a, _), (_, b, _) in zip(here, there, strict=True):
        assert set(a.maze_seed) <= set(splits[name].tolist())
        for field in ("obs", "maze_seed", "maze_size", "cheese", "mouse", "open"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_probes_with_the_dataset_on_ray_equal_those_in_process(local_ray, model) -> None:
    levels = Levels("easy", range(12))
    here = probes.run(model, levels, **PROBES)
    there = probes.run(model, levels, **PROBES, sweep=Backend(**ON_RAY))
    for name, values in here.arrays().items():
        np.testing.assert_array_equal(values, there.arrays()[name], err_msg=name)
    assert here.metadata == there.metadata


# --- vector fields -----------------------------------------------------------------------------


def boost_channel_3(activation: torch.Tensor, hook) -> torch.Tensor:
    activation[:, 3] += 2.0
    return activation


def test_vector_fields_on_ray_equal_each_field_in_process(local_ray, model) -> None:
    mazes = mazes_from_seeds(range(5), "easy")
    for hooks in ([], [("embedder.block2.res1.resadd_out", boost_channel_3)]):
        single = [vector_field(model, m, hooks, label="f") for m in mazes]  # the ground truth
        here = vector_fields(model, mazes, fwd_hooks=hooks, label="f", chunk_size=2)
        there = vector_fields(
            model, mazes, fwd_hooks=hooks, label="f", chunk_size=2, backend=Backend(**ON_RAY)
        )
        for s, a, b in zip(single, here, there, strict=True):
            assert s.maze == a.maze == b.maze and s.cells == a.cells == b.cells
            assert a.label == b.label == "f"
            np.testing.assert_array_equal(a.probs, s.probs)
            np.testing.assert_array_equal(b.probs, s.probs)
    plain = vector_fields(model, mazes[:1])[0]
    assert not np.array_equal(plain.probs, single[0].probs)  # the hooks reached the workers
    assert vector_fields(model, [], backend=Backend(**ON_RAY)) == []


def test_in_process_sweeps_do_not_import_ray() -> None:
    code = (
        "import sys\n"
        "from analyses import probes, retarget\n"
        "from analyses.core.inputs import Levels\n"
        "from hooked_impala import HookedImpala, ImpalaConfig\n"
        "from hooked_impala.maze import mazes_from_seeds\n"
        "from hooked_impala.policy import vector_fields\n"
        "model = HookedImpala(ImpalaConfig(channels=(1, 1, 1), fc_features=1)).eval()\n"
        "mazes = mazes_from_seeds(range(2), 'easy')\n"
        "assert len(vector_fields(model, mazes)) == 2\n"
        "retarget.run(model, mazes, cheese_channels=0, channels=[0], magnitude=1.0,\n"
        "             max_targets=2, targets_per_maze=0)\n"
        "probes.run(model, Levels('easy', range(6)), hooks=['embedder.fc_out'], features=2,\n"
        "           conv_steps=1)\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- without Ray -------------------------------------------------------------------------------


def test_asking_for_ray_without_it_says_how_to_install(
    model, mazes, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(SweepError, match=INSTALL):
        retarget.run(model, mazes, **HEATMAP, sweep=Backend(ray=True))
    with pytest.raises(SweepError, match=INSTALL):
        probes.run(model, Levels("easy", range(12)), **PROBES, sweep=Backend(address="HOST:6379"))
    with pytest.raises(SweepError, match=INSTALL):
        vector_fields(model, mazes, backend=Backend(ray=True))
    for analysis in (retarget.run.analysis, probes.run.analysis):
        argv = ["--mazes", "3", "--ray", "--workers", "2", "--out", str(tmp_path / analysis.name)]
        with pytest.raises(SystemExit) as stop:  # checked with the flags, before any work
            analyses_cli.main(analysis, argv)
        assert stop.value.code == 2
        assert 'pip install "hooked-impala[ray]"' in capsys.readouterr().err
    # In-process needs no Ray: the default, and one worker.
    assert len(vector_fields(model, mazes[:1], backend=Backend(workers=1))) == 1


def test_dictionary_activations_on_ray_equal_those_in_process(local_ray, model) -> None:
    from hooked_impala.dictionary import gather_activations

    settings = {"hooks": ["embedder.block2.res1.resadd_out"], "per_maze": 2, "max_steps": 12}
    here = gather_activations(model, range(5), chunk_size=2, **settings)
    there = gather_activations(model, range(5), chunk_size=2, backend=Backend(**ON_RAY), **settings)
    for name in ("maze_seeds", "mouse", "steps"):
        np.testing.assert_array_equal(getattr(here, name), getattr(there, name), err_msg=name)
    for hook, values in here.activations.items():
        np.testing.assert_array_equal(values, there.activations[hook], err_msg=hook)
