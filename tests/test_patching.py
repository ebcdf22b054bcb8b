"""Activation patching: on a network whose answer is known by construction, exact patching,
attribution patching and the minimal circuit all find the one channel that carries the
cheese; one patched value equals a hand-written ``run_with_hooks`` patch; pairs differ only
as declared; bad inputs give errors that name the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from constructed import CARRIER, LAYER, cheese_carrier_model, small_model

from analyses import patching as patching_analysis
from analyses.core import cli as analyses_cli
from hooked_impala import HookedImpala
from hooked_impala.activation_cache import HookNameError
from hooked_impala.maze import mazes_from_seeds
from hooked_impala.patching import (
    Component,
    Corruption,
    Metric,
    PairBatch,
    agreement,
    attribution_patch,
    field_cells,
    grid,
    make_pairs,
    masks,
    minimal_circuit,
    patch,
    patch_channels,
    patch_positions,
    patch_sweep,
)
from hooked_impala.patching.exact import ratio_estimate
from hooked_impala.patching.suffix import forward_from, supports, upstream_needed
from hooked_impala.policy import vector_field


@pytest.fixture(scope="module")
def mazes():
    return mazes_from_seeds(range(30), "easy")


@pytest.fixture(scope="module")
def maze_pairs(mazes):
    pairs = make_pairs(mazes, Corruption.CHEESE_MOVED, seed=0)
    return pairs, PairBatch.of(pairs)


@pytest.fixture(scope="module")
def model() -> HookedImpala:
    return cheese_carrier_model()


def test_the_constructed_network_has_a_gap_to_restore(model, maze_pairs) -> None:
    _, batch = maze_pairs
    result = patch(model, batch, [Component(LAYER, 0)])
    assert abs(result.gap) > 0.02  # the premise: patching has something to restore


@pytest.mark.parametrize("direction", ["denoising", "noising"])
def test_exact_patching_ranks_the_carrier_first(model, maze_pairs, direction) -> None:
    _, batch = maze_pairs
    result = patch_channels(model, batch, [LAYER], direction=direction, batch_size=37)
    fraction = result.fraction()
    assert int(fraction.abs().argmax()) == CARRIER
    # Patched in, the carrier restores all of the gap (denoising) or removes all of it
    # (noising); every other channel reaches nothing, so exactly nothing.
    assert fraction[CARRIER] == pytest.approx(1.0, abs=1e-4)
    others = torch.cat([fraction[:CARRIER], fraction[CARRIER + 1 :]])
    assert others.abs().max() < 1e-5
    estimate = result.estimate(CARRIER)
    assert estimate.low <= 1.0 + 1e-4 and estimate.high >= 1.0 - 1e-4
    assert estimate.n == len(set(batch.mazes))


def test_a_sweep_in_chunks_equals_one_call_on_all_pairs(model, maze_pairs) -> None:
    pairs, batch = maze_pairs
    components = grid(LAYER, model.hook_shapes()[LAYER][1:], "channel")[:8]
    whole = patch(model, batch, components)
    # 7 pairs a chunk: the last chunk is shorter, and every chunk renders its own pairs.
    swept = patch_sweep(model, pairs, components, chunk_pairs=7)
    assert swept.mazes == whole.mazes
    assert swept.components == whole.components
    torch.testing.assert_close(swept.values, whole.values, atol=1e-5, rtol=0)
    torch.testing.assert_close(swept.clean, whole.clean, atol=1e-5, rtol=0)
    torch.testing.assert_close(swept.corrupted, whole.corrupted, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="no pairs"):
        patch_sweep(model, [], components)


def test_attribution_patching_agrees_on_the_carrier(model, maze_pairs) -> None:
    _, batch = maze_pairs
    exact = patch_channels(model, batch, [LAYER])
    for steps in (1, 4):
        atp = attribution_patch(model, batch, exact.components, steps=steps, batch_size=7)
        fraction = atp.fraction()
        assert int(fraction.abs().argmax()) == CARRIER, steps
        others = torch.cat([fraction[:CARRIER], fraction[CARRIER + 1 :]])
        assert others.abs().max() < 1e-6  # no gradient reaches them
        assert agreement(exact, atp, top=1)[LAYER]["top1_recall"] == 1.0
    # More steps get closer to the exact value (the path integral converges to it).
    one = attribution_patch(model, batch, exact.components, steps=1).fraction()[CARRIER]
    many = attribution_patch(model, batch, exact.components, steps=16).fraction()[CARRIER]
    assert abs(many - 1.0) < abs(one - 1.0) or abs(many - 1.0) < 0.02


def test_the_minimal_circuit_is_the_carrier(model, maze_pairs) -> None:
    _, batch = maze_pairs
    selection = batch.subset(range(0, len(batch), 2))
    test = batch.subset(range(1, len(batch), 2))
    atp = attribution_patch(model, selection, [Component(LAYER, c) for c in range(8)])
    order = atp.fraction().abs().argsort(descending=True).tolist()
    circuit = minimal_circuit(model, selection, test, selection.clean, LAYER, order)
    assert circuit.channels == (CARRIER,)
    curve = circuit.test.fractions()
    assert curve[0].abs() < 1e-5  # everything ablated: clean and corrupted runs agree
    assert curve[1:] == pytest.approx(torch.ones(8), abs=1e-4)
    assert circuit.test_estimate().value == pytest.approx(1.0, abs=1e-4)
    # With the carrier last, the circuit needs every channel.
    worst = [c for c in range(8) if c != CARRIER] + [CARRIER]
    late = minimal_circuit(model, selection, test, selection.clean, LAYER, worst)
    assert late.size == 8


def test_one_patched_component_equals_a_hand_written_patch(maze_pairs) -> None:
    """On a random network: the grid's value for (pair, component) is the metric of a
    run_with_hooks that writes the clean slice into the corrupted run (hooks inside a
    residual block, whose add reads the block's input from the base run, and after)."""
    _, batch = maze_pairs
    model = small_model(1)
    hook = "embedder.block2.res2.conv1_out"
    comps = [Component(hook, 2, (4, 8), (0, 4)), Component(hook, None, (14, 16), (8, 16))]
    result = patch(model, batch, comps + [Component("embedder.fc_out", 7)], batch_size=5)
    # Started at the hook (the default) or run whole: the same numbers.
    full = patch(model, batch, result.components, batch_size=5, from_hook=False)
    assert torch.allclose(result.values, full.values, atol=1e-6)
    with torch.no_grad():
        _, clean = model.run_with_cache(batch.clean, names_filter=[hook, "embedder.fc_out"])
        for p in (0, 3, len(batch) - 1):
            for k, comp in enumerate(comps):
                channels = slice(None) if comp.channel is None else comp.channel

                def write(act, hook, p=p, comp=comp, channels=channels):
                    act = act.clone()
                    r, c = slice(*comp.rows), slice(*comp.cols)
                    act[:, channels, r, c] = clean[hook.name][p : p + 1, channels, r, c]
                    return act

                out = model.run_with_hooks(batch.corrupted[p : p + 1], fwd_hooks=[(hook, write)])
                expected = batch.metric(out, torch.tensor([p]))
                assert result.values[p, k] == pytest.approx(float(expected), abs=1e-6)

            def write_fc(act, hook, p=p):
                act = act.clone()
                act[:, 7] = clean["embedder.fc_out"][p, 7]
                return act

            out = model.run_with_hooks(
                batch.corrupted[p : p + 1], fwd_hooks=[("embedder.fc_out", write_fc)]
            )
            expected = batch.metric(out, torch.tensor([p]))
            assert result.values[p, 2] == pytest.approx(float(expected), abs=1e-6)


def test_position_grids_cover_every_position_once() -> None:
    comps = grid("h", (3, 10, 10), "position", block=4)
    assert len(comps) == 9  # 4 + 4 + 2 per side
    assert torch.equal(masks(comps, (3, 10, 10)).sum(0), torch.ones(3, 10, 10, dtype=torch.long))
    both = grid("h", (3, 10, 10), "channel_position", block=5)
    assert len(both) == 12
    assert torch.equal(masks(both, (3, 10, 10)).sum(0), torch.ones(3, 10, 10, dtype=torch.long))


def test_patching_positions_finds_where_the_carrier_reads(model, maze_pairs) -> None:
    """All the positions together restore everything; the blocks' sum is close to it for
    this nearly linear path (a check on the position grid's bookkeeping)."""
    _, batch = maze_pairs
    result = patch_positions(model, batch, [LAYER], block=16)
    assert len(result.components) == 1
    assert result.fraction()[0] == pytest.approx(1.0, abs=1e-4)


def test_pairs_differ_only_as_declared(mazes) -> None:
    for corruption in Corruption:
        for pair in make_pairs(mazes, corruption, seed=1):
            clean, bad = pair.clean, pair.corrupted
            assert clean.mouse == pair.cell and clean.seed == bad.seed
            changed = np.argwhere(clean.world_grid != bad.world_grid)
            if corruption is Corruption.MOUSE_MOVED:
                assert len(changed) == 0 and bad.mouse != clean.mouse
            elif corruption is Corruption.CHEESE_REMOVED:
                assert bad.cheese is None and len(changed) == 1
            elif corruption is Corruption.CHEESE_MOVED:
                assert bad.cheese not in (None, clean.cheese) and len(changed) == 2
            else:
                assert bad.cheese == clean.cheese and len(changed) == 1
            if corruption is not Corruption.MOUSE_MOVED:
                assert bad.mouse == clean.mouse


def test_the_field_metric_is_the_vector_fields_cheese_ward_log_probability(model, maze_pairs):
    """Each row of the field metric is one cell of the clean maze's vector field (computed
    the vector field's own way), scored by the log-probability of its move towards the
    cheese; the corrupted rows are the same cells of the corrupted maze."""
    pairs, _ = maze_pairs
    batch = PairBatch.of(pairs[:3], metric=Metric.FIELD, max_cells=5)
    assert len(batch) == 15 and batch.mazes == tuple(p.seed for p in pairs[:3] for _ in range(5))
    rows = torch.arange(len(batch))
    with torch.no_grad():
        scored = [batch.metric(model(obs), rows) for obs in (batch.clean, batch.corrupted)]
    expected = {"clean": [], "corrupted": []}
    for pair in pairs[:3]:
        cells = field_cells(pair, 5)
        for name, maze in (("clean", pair.clean), ("corrupted", pair.corrupted)):
            field = vector_field(model, maze, cells=[c for c, _ in cells])
            expected[name] += [np.log(field.probs[i, move]) for i, (_, move) in enumerate(cells)]
    for name, got in zip(("clean", "corrupted"), scored):
        np.testing.assert_allclose(got.numpy(), expected[name], atol=1e-4)
    big = max(pairs, key=lambda p: len(p.clean.open_cells))
    every = field_cells(big, 10_000)
    assert big.clean.cheese not in [c for c, _ in every] and len(every) > 8
    four = field_cells(big, 4)  # spread over the cells, the first and the last among them
    assert len(four) == 4 and four[0] == every[0] and four[-1] == every[-1]


def test_exact_patching_on_the_field_ranks_the_carrier_first(model, mazes, maze_pairs) -> None:
    pairs, _ = maze_pairs
    batch = PairBatch.of(pairs[:8], metric="field", max_cells=6)
    result = patch_channels(model, batch, [LAYER])
    fraction = result.fraction()
    assert int(fraction.abs().argmax()) == CARRIER
    assert fraction[CARRIER] == pytest.approx(1.0, abs=1e-4)
    assert result.estimate(CARRIER).n == 8  # the interval resamples mazes, not cells
    components = grid(LAYER, model.hook_shapes()[LAYER][1:], "channel")[:6]
    swept = patch_sweep(model, pairs[:8], components, metric="field", max_cells=6, chunk_pairs=3)
    assert swept.mazes == batch.mazes
    torch.testing.assert_close(
        swept.values, patch(model, batch, components).values, atol=1e-5, rtol=0
    )
    moved = make_pairs(mazes[:4], Corruption.MOUSE_MOVED)
    with pytest.raises(ValueError, match="undoes a mouse_moved"):
        PairBatch.of(moved, metric="field")
    with pytest.raises(ValueError, match="max_cells"):
        PairBatch.of(pairs[:1], metric="field", max_cells=0)


def test_bad_inputs_name_the_problem(model, maze_pairs, as_in_production) -> None:
    _, batch = maze_pairs
    with pytest.raises(HookNameError, match="resadd"):
        patch(model, batch, [Component("embedder.block2.res1.resad_out", 0)])
    with pytest.raises(ValueError, match="no components"):
        patch(model, batch, [])
    with pytest.raises(ValueError, match="channel out of range"):
        patch(model, batch, [Component(LAYER, 99)])
    with pytest.raises(ValueError, match="direction"):
        patch(model, batch, [Component(LAYER, 0)], direction="sideways")
    with pytest.raises(ValueError, match="no pairs"):
        PairBatch(batch.clean[:0], batch.corrupted[:0], batch.metric)
    nan = batch.clean[:2].permute(0, 3, 1, 2).float() / 255
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        PairBatch(nan, nan, batch.metric)
    same = PairBatch(batch.clean, batch.clean, batch.metric)
    with pytest.raises(ValueError, match="gap"):
        patch(model, same, [Component(LAYER, 0)])
    with pytest.raises(ValueError, match="no pairs|decision square"):
        make_pairs([], Corruption.CHEESE_MOVED)
    with pytest.raises(ValueError, match="unknown corruption"):
        make_pairs(maze_pairs[0][0:1], "cheese_eaten")
    with pytest.raises(ValueError, match="share mazes"):
        minimal_circuit(model, batch, batch, batch.clean, LAYER, list(range(8)))


def test_the_analysis_finds_the_carrier_and_saves(model, mazes, tmp_path, capsys) -> None:
    result = patching_analysis.run(
        model, mazes[:16], hooks=[LAYER], circuit_layer=LAYER, ig_steps=2, top=3
    )
    numbers = result.numbers()
    assert numbers["top_channels"][LAYER][0]["channel"] == CARRIER
    assert numbers["circuit"]["channels"] == [CARRIER]
    assert numbers["agreement_atp"][LAYER]["top3_recall"] >= 1 / 3
    selection = set(result.metadata.parameters["selection_mazes"])
    assert selection.isdisjoint(result.metadata.parameters["test_mazes"])
    assert result.matrix(result.exact).shape == (1, 8)
    assert "circuit at" in result.summary()
    written = {p.name for p in result.save(tmp_path / "out")}
    assert {"result.json", "patching_heatmap.html", "atp_vs_exact.html"} <= written
    assert "faithfulness.html" in written and "spatial_maps.html" in written
    # Square by square, only the carrier restores anything: the other channels' maps are 0.
    spatial = result.spatial
    assert spatial.channels[0] == CARRIER and spatial.maps[0].max() > 0
    # (float32 rounding: the others restore nothing beyond 1e-4 of the carrier's peak)
    assert np.abs(spatial.maps[1:]).max() <= 1e-4 * spatial.maps[0].max(), spatial.maps[0].max()
    assert numbers["circuit"]["cheese_channels"]["count"] <= 1  # a circuit of one channel
    # The field metric finds the carrier too; the halves still split mazes, not cells.
    field = patching_analysis.run(
        model,
        mazes[:16],
        hooks=[LAYER],
        circuit_layer=LAYER,
        ig_steps=2,
        top=3,
        metric="field",
        field_cells=4,
    )
    numbers = field.numbers()
    assert numbers["top_channels"][LAYER][0]["channel"] == CARRIER
    assert numbers["circuit"]["channels"] == [CARRIER]
    assert numbers["rows"] > numbers["pairs"] and "field cells" in field.summary()
    selection = set(field.metadata.parameters["selection_mazes"])
    assert selection.isdisjoint(field.metadata.parameters["test_mazes"])
    assert numbers["circuit"]["test_pairs"] == len(field.metadata.parameters["test_mazes"])
    with pytest.raises(SystemExit) as stop:
        analyses_cli.main(patching_analysis.run.analysis, ["--help"])
    assert stop.value.code == 0 and "--field-cells" in capsys.readouterr().out


def test_a_forward_from_any_hook_equals_the_whole_forward() -> None:
    model = small_model(2)
    obs = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        out, cache = model.run_with_cache(obs)
        for name in model.hook_dict:
            if not supports(model, name):
                continue
            started = forward_from(model, name, cache[name], lambda n: cache[n])
            assert torch.equal(started.logits, out.logits), name
    assert supports(model, LAYER) and not supports(model, "input")
    assert upstream_needed(model, "embedder.block2.res1.conv2_out") == [
        "embedder.block2.maxpool_out"
    ]
    assert upstream_needed(model, LAYER) == []


def test_the_analysis_checks_its_arguments_before_work(model, mazes, as_in_production) -> None:
    for options, says in (
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"direction": "up"}, "direction"),
        ({"corruption": "cheese_eaten"}, "unknown corruption"),
        ({"ig_steps": 0}, "ig_steps"),
        ({"metric": "mean"}, "unknown metric"),
        ({"metric": "field", "field_cells": 0}, "field_cells"),
        ({"metric": "field", "corruption": "mouse_moved"}, "undoes a mouse_moved"),
    ):
        with pytest.raises(ValueError, match=says):
            patching_analysis.run(model, mazes, **options)
    with pytest.raises(ValueError, match="mazes"):
        patching_analysis.run(model, torch.zeros(2, 64, 64, 3, dtype=torch.uint8))


def test_ratio_intervals_are_ratios_of_sums_over_mazes() -> None:
    rows = np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 4.0], [0.0, 2.0]])
    estimate = ratio_estimate(rows, [0, 1, 2, 3])
    assert estimate.value == pytest.approx(6 / 10) and estimate.n == 4
    assert estimate.low < 0.6 < estimate.high
    assert ratio_estimate(rows[:1], [0]) is None  # one maze: no interval
    # Gaps of both signs: some resamples divide by zero; no interval rather than an error.
    assert ratio_estimate(np.array([[1.0, 1.0], [1.0, -1.0]]), [0, 1]) is None


def test_the_overlap_with_the_cheese_channels_is_judged_against_chance() -> None:
    from analyses.measure.cheese_channels import overlap_with_chance

    all_in = overlap_with_chance([1, 2, 3], [1, 2, 3], 32)
    assert all_in["count"] == 3 and all_in["expected"] == pytest.approx(9 / 32)
    assert all_in["p_at_least"] == pytest.approx(1 / 4960)  # 1 / C(32, 3)
    everything = overlap_with_chance(range(32), [1, 2, 3], 32)
    assert everything["p_at_least"] == pytest.approx(1.0)  # a circuit of every channel
    assert overlap_with_chance([], [1, 2, 3], 32)["count"] == 0
