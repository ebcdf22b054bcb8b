"""The bundled stand-in policy: loads offline by name, verified, and solves mazes."""

from __future__ import annotations

import json

import pytest

from hooked_impala import load_pretrained
from hooked_impala.maze import TOP_RIGHT_5, heldout_mazes
from hooked_impala.policy import rollout
from hooked_impala.pretrained import BUNDLED_DIR, REGISTRY, sha256_of

STANDIN = REGISTRY["standin_s1"]


@pytest.mark.parametrize("name", ["standin_s1", "standin_s1_avoid_cheese"])
def test_bundled_file_matches_its_registry_entry_and_model_card(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(tmp_path))  # an empty cache: no download needed
    info = REGISTRY[name]
    path = BUNDLED_DIR / info.filename
    assert info.bundled and info.urls == ()
    assert sha256_of(path) == info.sha256 and path.stat().st_size == info.size
    card = json.loads((BUNDLED_DIR / f"{name}.card.json").read_text())
    assert card["sha256"] == info.sha256
    model = load_pretrained(name)
    assert model.cfg.channels == (16, 32, 32)
    assert model.checkpoint.sha256 == info.sha256
    assert model.checkpoint.parent == info.parent
    assert list(tmp_path.iterdir()) == []  # nothing was written to the cache


def test_the_fine_tuned_stand_in_names_its_parent_and_how_it_was_made() -> None:
    info = REGISTRY["standin_s1_avoid_cheese"]
    assert info.parent == "standin_s1" and REGISTRY["standin_s1"].parent is None
    card = json.loads((BUNDLED_DIR / "standin_s1_avoid_cheese.card.json").read_text())
    assert card["config"]["from_checkpoint"] == "standin_s1"
    assert card["config"]["cheese_reward"] == -10.0
    # The card's before/after evaluations are of the same mazes.
    assert card["before"]["mazes"] == card["after"]["mazes"]


def test_standin_solves_most_training_distribution_mazes() -> None:
    model = load_pretrained("standin_s1")
    mazes = heldout_mazes("easy", TOP_RIGHT_5, 16, first_seed=500)
    result = rollout(model, mazes, max_steps=256, seed=0, progress=False)
    assert result.success_rate >= 0.6  # loose: the model card reports the measured rate
