"""HookedImpala: the documented hook table, observation handling, movement grouping."""

from __future__ import annotations

import re

import pytest
import torch

from hooked_impala import HookedImpala, ImpalaConfig, Movement, ObservationError, movement_probs
from hooked_impala import model as model_module
from hooked_impala.actions import movement_of_action
from hooked_impala.model import movement_log_probs


def documented_hook_shapes(scale_column: int) -> dict[str, tuple[int, ...]]:
    """Parse the hook table in model.py's docstring, expanding ``{1,2}`` and ``res*.*``."""
    rows = {}
    res_suffixes: list[str] = []
    for line in model_module.__doc__.splitlines():
        # A markdown row: | name | shape at s = 1 | shape at s = 4 |
        match = re.match(r"^\|\s*(\S.*?)\s*\|\s*(\(N[^)]*\))\s*\|\s*(\(N[^)]*\))\s*\|$", line)
        if not match:
            continue
        names_part = match.group(1).split(" (alias")[0]
        shape = tuple(int(d) for d in re.findall(r"\d+", match.group(1 + scale_column)))
        names = [n.strip() for n in re.split(r",\s+(?![^{]*\})", names_part)]
        prefix = names[0].rsplit(".", 1)[0] if "." in names[0] else ""
        names = [names[0]] + [f"{prefix}.{n}" if prefix else n for n in names[1:]]
        for name in names:
            expanded = (
                [name.replace("{1,2}", str(r)) for r in (1, 2)] if "{1,2}" in name else [name]
            )
            for full in expanded:
                if full.endswith(".*"):
                    for suffix in res_suffixes:
                        rows[full[:-1] + suffix] = shape
                else:
                    rows[full] = shape
                    if ".block1.res1." in full:
                        res_suffixes.append(full.rsplit(".", 1)[1])
    return rows


@pytest.mark.parametrize("scale,column", [(1, 1), (4, 2)])
def test_every_hook_matches_the_documented_table(scale: int, column: int) -> None:
    model = HookedImpala(ImpalaConfig.from_scale(scale))
    actual = {name: shape[1:] for name, shape in model.hook_shapes(batch=2).items()}
    documented = documented_hook_shapes(column)
    assert set(documented) == set(actual)
    assert documented == actual
    residual_adds = [n for n in actual if n.endswith("resadd_out")]
    assert len(residual_adds) == 6
    assert "embedder.block2.res1.resadd_out" in residual_adds


def test_scale_4_is_the_papers_size() -> None:
    model = HookedImpala(ImpalaConfig.from_scale(4))
    assert sum(p.numel() for p in model.parameters()) == 3_653_136
    # The s=1 agent's file holds 626,256 numbers (its README says 625,999: 257 short, the
    # size of the value head); test_pretrained checks the loaded file against this model.
    assert sum(p.numel() for p in HookedImpala().parameters()) == 626_256


def test_uint8_and_float_observations_agree(tiny_model) -> None:
    uint8 = torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8)
    as_float = uint8.permute(0, 3, 1, 2).float() / 255
    a, b = tiny_model(uint8), tiny_model(as_float)
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(tiny_model.run_with_cache(uint8, names_filter="input")[1]["input"], as_float)
    double = tiny_model(as_float.double())
    assert torch.allclose(double.logits, a.logits)


@pytest.mark.parametrize(
    "obs, message",
    [
        (torch.zeros(64, 64, 3, dtype=torch.uint8), r"shape \(64, 64, 3\) \(add a batch dimension"),
        (
            torch.zeros(2, 3, 64, 64, dtype=torch.uint8),
            r"uint8 observations of shape \(2, 3, 64, 64\)",
        ),
        (torch.zeros(2, 64, 64, 3), r"\(2, 64, 64, 3\) \(channels last"),
        (torch.full((1, 3, 64, 64), 255.0), r"must lie in \[0, 1\], got values in \[255, 255\]"),
        (torch.zeros(1, 3, 32, 32), r"shape \(1, 3, 32, 32\).*expected uint8 \(N, 64, 64, 3\)"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.int64), r"dtype torch.int64"),
    ],
)
def test_bad_observations_are_named(tiny_model, obs, message) -> None:
    with pytest.raises(ObservationError, match=message):
        tiny_model(obs)


def test_numpy_observations_get_a_hint(tiny_model, procgen_obs, as_in_production) -> None:
    with pytest.raises(ObservationError, match="torch.from_numpy"):
        tiny_model(procgen_obs)


def test_movement_grouping_by_hand() -> None:
    # All mass on action 7 (RIGHT) and action 11 (NOOP), equally.
    logits = torch.full((1, 15), -1e9)
    logits[0, 7] = logits[0, 11] = 0.0
    probs = movement_probs(logits)
    assert torch.allclose(probs, torch.tensor([[0.0, 0.0, 0.0, 0.5, 0.5]]))
    # Uniform logits: group sizes / 15.
    uniform = movement_probs(torch.zeros(2, 15))
    assert torch.allclose(uniform, torch.tensor([3, 1, 1, 3, 7]).float().expand(2, 5) / 15)
    assert torch.allclose(movement_log_probs(torch.zeros(2, 15)).exp(), uniform)
    assert [movement_of_action(a) for a in (0, 3, 5, 8, 4, 14)] == [
        Movement.LEFT,
        Movement.DOWN,
        Movement.UP,
        Movement.RIGHT,
        Movement.NOOP,
        Movement.NOOP,
    ]
    with pytest.raises(ValueError, match="action 15"):
        movement_of_action(15)
    with pytest.raises(Exception, match="15"):
        movement_probs(torch.zeros(2, 14))


def test_movement_between_neighbours() -> None:
    for movement in (Movement.LEFT, Movement.DOWN, Movement.UP, Movement.RIGHT):
        d_row, d_col = movement.delta
        assert Movement.between((4, 4), (4 + d_row, 4 + d_col)) is movement
    for far in ((4, 4), (6, 4), (5, 5)):
        with pytest.raises(ValueError, match=re.escape(f"cells (4, 4) and {far} are not")):
            Movement.between((4, 4), far)


def test_policy_output_conveniences(tiny_model) -> None:
    out = tiny_model(torch.rand(3, 3, 64, 64))
    assert out.logits.shape == (3, 15) and out.value.shape == (3,)
    assert torch.allclose(out.movement_probs.sum(-1), torch.ones(3))
    assert torch.allclose(out.probs, out.log_probs.exp())
    assert Movement.UP.delta == (1, 0) and Movement.LEFT.delta == (0, -1)


def test_bad_scale() -> None:
    with pytest.raises(ValueError, match="scale must be a positive integer, got 0"):
        ImpalaConfig.from_scale(0)
