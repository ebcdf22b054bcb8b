"""Imitation training: oracle labels, cheese regions, a seconds-long run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from maze_art import embed

from hooked_impala import CheckpointError, Movement, load_pretrained
from hooked_impala.maze import (
    ANYWHERE,
    TOP_RIGHT_5,
    Maze,
    Region,
    Tile,
    mazes_from_seeds,
    place_cheese,
)
from hooked_impala.train import TrainConfig, Trainer, oracle_movements
from hooked_impala.train import __main__ as train_main_module
from hooked_impala.train import trainer as train_trainer_module
from hooked_impala.train.__main__ import main as train_main
from hooked_impala.train.data import all_cell_samples, samples_from_specs

T5 = """
. . . . C
. # # # #
. . . # .
# # . # .
S . . . .
"""


@pytest.fixture(scope="module")
def template(renderer) -> Maze:
    return Maze.from_seed(0, "easy", renderer=renderer)


def test_oracle_labels_by_hand(template) -> None:
    maze = embed(T5, template)
    m = maze.margin
    at = lambda r, c: (m + r, m + c)  # inner (row from bottom, col) -> world
    cells = [
        at(0, 0),
        at(0, 2),
        at(1, 2),
        at(2, 2),
        at(2, 1),
        at(2, 0),
        at(3, 0),
        at(4, 0),
        at(4, 3),
        at(0, 4),
        at(2, 4),
    ]
    expected = [
        Movement.RIGHT,  # start: along the bottom corridor
        Movement.UP,  # (0,2) -> up the middle column
        Movement.UP,
        Movement.LEFT,  # (2,2) -> left along row 2
        Movement.LEFT,
        Movement.UP,  # (2,0) -> up the left column
        Movement.UP,
        Movement.RIGHT,  # top row, heading right to the cheese
        Movement.RIGHT,
        Movement.LEFT,  # the dead end on the right: back along the bottom
        Movement.DOWN,
    ]
    assert oracle_movements(maze, cells) == expected
    with pytest.raises(ValueError, match=r"cell \(\d+, \d+\).*the cheese's cell"):
        oracle_movements(maze, [maze.cheese])
    with pytest.raises(ValueError, match="a wall"):
        oracle_movements(maze, [at(1, 1)])
    with pytest.raises(ValueError, match="has no cheese"):
        oracle_movements(maze.without_cheese(), cells)


def test_oracle_moves_always_reduce_the_distance(renderer) -> None:
    from hooked_impala.maze import distance_map

    for maze in mazes_from_seeds(range(50, 60), "hard", renderer):
        cells = [c for c in maze.open_cells if c != maze.cheese]
        dist = distance_map(maze.world_grid, maze.cheese)
        for cell, move in zip(cells, oracle_movements(maze, cells)):
            nxt = (cell[0] + move.delta[0], cell[1] + move.delta[1])
            assert dist[nxt] == dist[cell] - 1


def test_region_cells_and_placement(renderer) -> None:
    rng = np.random.default_rng(0)
    for maze in mazes_from_seeds(range(100, 140), "easy", renderer):
        top = maze.margin + maze.maze_size - 1
        k = min(5, maze.maze_size)
        allowed = TOP_RIGHT_5.cheese_cells(maze)
        assert allowed and all(top - k < r <= top and top - k < c <= top for r, c in allowed)
        assert all(maze.world_grid[c] != Tile.WALL for c in allowed)
        placed = place_cheese(maze, TOP_RIGHT_5, rng)
        assert placed.cheese in allowed and placed.mouse == placed.start_cell
        bottom_left = Region.parse("bottom-left:3").cheese_cells(maze)
        assert maze.start_cell not in bottom_left
        assert all(r < maze.margin + 3 and c < maze.margin + 3 for r, c in bottom_left)
        assert set(ANYWHERE.cheese_cells(maze)) == {
            c for c in maze.open_cells if c != maze.start_cell
        }
    for bad in (
        "top-right",
        "top-right:0",
        "middle:5",
        "Top-Right:5",
        "top-right:-1",
        "anywhere:3",
    ):
        with pytest.raises(ValueError, match=f"unknown region '{bad}'"):
            Region.parse(bad)
    for text in ("top-right:5", "bottom-left:3", "anywhere"):
        assert str(Region.parse(text)) == text
    with pytest.raises(ValueError, match="size >= 1"):
        Region("top-right", 0)


def test_generated_data_keeps_the_cheese_in_the_region_and_round_trips(renderer) -> None:
    rng = np.random.default_rng(1)
    mazes = [
        place_cheese(m, TOP_RIGHT_5, rng)
        for m in mazes_from_seeds(range(1_000_000, 1_000_012), "easy", renderer)
    ]
    samples = all_cell_samples(mazes, renderer, rng)
    assert len(samples) == sum(len(m.open_cells) - 1 for m in mazes)
    by_seed = {m.seed: m for m in mazes}
    for seed, cr, cc, mr, mc, _flag in samples.specs[::7]:
        maze = by_seed[int(seed)]
        assert (cr, cc) in TOP_RIGHT_5.cheese_cells(maze) and (cr, cc) == maze.cheese
        assert (mr, mc) != (cr, cc)
    rebuilt = samples_from_specs(samples.specs, "easy", renderer)
    order = np.lexsort(samples.specs.T[::-1])
    rebuilt_order = np.lexsort(rebuilt.specs.T[::-1])
    assert torch.equal(samples.obs[order], rebuilt.obs[rebuilt_order])
    assert torch.equal(samples.labels[order], rebuilt.labels[rebuilt_order])


TINY = [
    "--bc-mazes",
    "12",
    "--bc-steps",
    "40",
    "--dagger-rounds",
    "1",
    "--dagger-mazes",
    "4",
    "--dagger-max-steps",
    "16",
    "--dagger-steps",
    "10",
    "--batch-size",
    "32",
    "--eval-mazes",
    "4",
    "--eval-max-steps",
    "16",
    "--final-eval-mazes",
    "4",
    "--final-eval-max-steps",
    "16",
    "--no-progress",
]


def test_tiny_run_lowers_the_loss_and_writes_a_loadable_model_and_card(tmp_path) -> None:
    out = tmp_path / "run"
    assert train_main(["--out", str(out), *TINY]) == 0
    card = json.loads((out / "model_card.json").read_text())
    first = card["history"][0]
    assert first["loss_last"] < first["loss_first"]
    assert card["steps"] == 50 and card["config"]["bc_mazes"] == 12
    assert set(card["evaluation"]) == {"easy", "hard"}
    assert "a_success_cheese_in_region" in card["evaluation"]["easy"]["sampled"]
    assert "not** the paper's PPO network" in (out / "model_card.md").read_text()
    model = load_pretrained(out / "model.pth")
    assert model.checkpoint.sha256 == card["sha256"]


def test_resume_after_an_interruption(tmp_path, monkeypatch) -> None:
    cfg = TrainConfig(
        bc_mazes=6,
        bc_steps=8,
        dagger_rounds=1,
        dagger_mazes=2,
        dagger_max_steps=8,
        dagger_steps=4,
        batch_size=16,
        eval_mazes=2,
        eval_max_steps=8,
    )
    interrupted = Trainer(cfg, tmp_path, progress=False)

    def stop(round_):
        raise KeyboardInterrupt

    monkeypatch.setattr(interrupted, "dagger_samples", stop)
    with pytest.raises(KeyboardInterrupt):
        interrupted.run()
    resumed = Trainer(cfg, tmp_path, progress=False)
    resumed.load_checkpoint()
    assert resumed.state.phase == 1 and resumed.state.step == cfg.bc_steps
    assert len(resumed.samples) == len(interrupted.samples)
    for a, b in zip(interrupted.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    resumed.run(resume=True)
    assert resumed.state.step == cfg.total_steps
    assert [h["phase"] for h in resumed.state.history] == [0, 1]
    other = TrainConfig(**{**cfg.__dict__, "seed": 1})
    with pytest.raises(ValueError, match="different config"):
        Trainer(other, tmp_path, progress=False).load_checkpoint()


def test_ctrl_c_in_the_final_evaluation_says_resume_completes_the_card(
    tmp_path, monkeypatch, capsys
) -> None:
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_main_module, "evaluate_modes", interrupted)
    assert train_main(["--out", str(out), *TINY]) == 130
    said = capsys.readouterr().err
    assert "interrupted during the final evaluation" in said
    assert f"{out / 'model.pth'}" in said and "the model card is not" in said
    assert "--resume" in said
    assert (out / "model.pth").is_file() and not (out / "model_card.json").exists()
    monkeypatch.undo()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run trained again, or re-rendered its samples")

    monkeypatch.setattr(Trainer, "train_steps", no_training)
    monkeypatch.setattr(train_trainer_module, "samples_from_specs", no_training)
    assert train_main(["--out", str(out), *TINY, "--resume"]) == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["steps"] == 50 and set(card["evaluation"]) == {"easy", "hard"}
    assert load_pretrained(out / "model.pth").checkpoint.sha256 == card["sha256"]
    assert (out / "model_card.md").is_file()


def test_bad_config_is_named(as_in_production) -> None:
    with pytest.raises(ValueError, match="unknown region 'centre'"):
        TrainConfig(region="centre")
    with pytest.raises(ValueError, match="distribution_mode"):
        TrainConfig(distribution_mode="memory")
    with pytest.raises(ValueError, match="bc_steps must be >= 1, got 0"):
        TrainConfig(bc_steps=0)


# --- bad inputs ---------------------------------------------------------------------------


def foreign_or_broken_checkpoint(kind: str, path) -> None:
    if kind == "garbage":  # was a raw UnpicklingError
        path.write_bytes(b"\x80\x02 not a checkpoint")
    elif kind == "truncated":  # was a raw OSError, Errno 22
        torch.save({"config": {}, "model_state_dict": {"w": torch.zeros(10_000)}}, path)
        path.write_bytes(path.read_bytes()[:20_000])
    else:  # another program's checkpoint.pt: was a raw KeyError 'config'
        torch.save({"state_dict": {"w": torch.zeros(3)}}, path)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "foreign"])
def test_resume_from_an_unusable_checkpoint_names_the_file_and_the_way_out(tmp_path, kind) -> None:
    path = tmp_path / "checkpoint.pt"
    foreign_or_broken_checkpoint(kind, path)
    trainer = Trainer(
        TrainConfig(bc_mazes=2, bc_steps=2, dagger_rounds=0), tmp_path, progress=False
    )
    try:
        with pytest.raises(CheckpointError) as err:
            trainer.run(resume=True)
    finally:
        trainer.renderer.close()
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert f"delete {path} to start afresh, or run without --resume" in message
    assert "weights_only" not in message
