"""The bundled stand-in policy: loads offline by name, verified, and solves mazes."""

from __future__ import annotations

import json

from hooked_impala import load_pretrained
from hooked_impala.maze import TOP_RIGHT_5
from hooked_impala.policy import heldout_mazes, rollout
from hooked_impala.pretrained import BUNDLED_DIR, REGISTRY, sha256_of

STANDIN = REGISTRY["standin_s1"]


def test_bundled_file_matches_its_registry_entry_and_model_card(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(tmp_path))  # an empty cache: no download needed
    path = BUNDLED_DIR / STANDIN.filename
    assert STANDIN.bundled and STANDIN.urls == ()
    assert sha256_of(path) == STANDIN.sha256 and path.stat().st_size == STANDIN.size
    card = json.loads((BUNDLED_DIR / "standin_s1.card.json").read_text())
    assert card["sha256"] == STANDIN.sha256
    model = load_pretrained("standin_s1")
    assert model.cfg.channels == (16, 32, 32)
    assert model.checkpoint.sha256 == STANDIN.sha256
    assert list(tmp_path.iterdir()) == []  # nothing was written to the cache


def test_standin_solves_most_training_distribution_mazes() -> None:
    model = load_pretrained("standin_s1")
    mazes = heldout_mazes("easy", TOP_RIGHT_5, 16, first_seed=500)
    result = rollout(model, mazes, max_steps=256, seed=0, progress=False)
    assert result.success_rate >= 0.6  # loose: the model card reports the measured rate
