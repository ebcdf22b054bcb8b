"""Bad inputs, as a careless or hostile user gives them: every case asserts the error type
and that the message names the offending thing (flag, argument, value). None may run the
work first, and none may end in a silently wrong result.

Checkpoints and downloads (tests/test_pretrained.py), hooks (tests/test_hooks.py) and
crafted maze states (tests/test_bad_states.py, in subprocesses) have their own bad-input
sections; this module covers every command line, library arguments, observations and
interrupted runs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from analyses.core import cli as analyses_cli
from analyses.core import report
from analyses.core.inputs import select_mazes
from analyses.core.registry import ANALYSES as REGISTRY
from analyses.core.result import AnalysisResult, RunMetadata
from analyses.core.saving import MARKER, result_folder, write_marker
from analyses.measure.steering import SteeringExtras
from hooked_impala import HookedImpala, ImpalaConfig, ObservationError, checks
from hooked_impala import cli as library_cli
from hooked_impala.files import current_umask
from hooked_impala.policy import evaluation as evaluate_module
from hooked_impala.policy import vector_field
from hooked_impala.train import __main__ as train_main
from hooked_impala.train import card as card_module

ANALYSES = {a.name: a for a in REGISTRY}


@pytest.fixture
def no_work(monkeypatch):
    """Loading a checkpoint is the first piece of work: reaching it fails the test."""

    def refuse(name):
        raise AssertionError(f"a bad flag reached load_model({name!r})")

    monkeypatch.setattr(library_cli, "load_model", refuse)


def rejected(run, argv, capsys) -> str:
    """Run a command line that must stop at parsing; its stderr."""
    with pytest.raises(SystemExit) as stop:
        run(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("not a folder")
    return path


COMMON = [
    (["--mazes", "0"], "--mazes", "must be >= 1"),
    (["--mazes", "-3"], "--mazes", "must be >= 1"),
    (["--mazes", "2.5"], "--mazes", "expected an integer"),
    (["--seed", "-1"], "--seed", "must be >= 0"),
    (["--first-seed", "-5"], "--first-seed", "must be >= 0"),
    (["--first-seed", str(2**31)], "--first-seed", "<= 2147483646"),
    (["--mode", "medium"], "--mode", "invalid choice"),
    (["--out", ""], "--out", "empty path"),
    (["--out", "/dev/null/x"], "--out", "under /dev"),
]
ANALYSIS_FLAGS = [
    ("channel_attribution", ["--ig-steps", "0"], "--ig-steps", "must be >= 1"),
    ("channel_attribution", ["--ig-steps", "-3"], "--ig-steps", "must be >= 1"),
    ("channel_attribution", ["--layer", "embedder.block9"], "--layer", "unknown hook name"),
    ("channel_attribution", ["--ablation", "noise"], "--ablation", "invalid choice"),
    ("channel_attribution", ["--baseline", "ones"], "--baseline", "invalid choice"),
    ("cheese_vector", ["--coeffs", "nan"], "--coeffs", "finite"),
    ("cheese_vector", ["--coeffs", "-1", "inf"], "--coeffs", "finite"),
    ("cheese_vector", ["--rollout-max-steps", "0"], "--rollout-max-steps", ">= 1"),
    ("cheese_vector", ["--rollout-max-steps", "501"], "--rollout-max-steps", "<= 500"),
    ("cheese_vector", ["--layer", "resadd"], "--layer", "unknown hook name"),
    ("relu_removal", ["--tolerance", "nan"], "--tolerance", "finite"),
    ("relu_removal", ["--tolerance", "-0.1"], "--tolerance", ">= 0.0"),
    ("relu_removal", ["--max-observations", "0"], "--max-observations", ">= 1"),
    ("jacobian_svd", ["--top-k", "0"], "--top-k", "must be >= 1"),
    ("jacobian_svd", ["--output", "probs"], "--output", "invalid choice"),
    ("jacobian_svd", ["--of-hook", "nope"], "--of-hook", "unknown hook name"),
    ("trajectory_view", ["--max-steps", "0"], "--max-steps", ">= 1"),
    ("trajectory_view", ["--hooks", "input", "embedder.nothing"], "--hooks", "unknown hook"),
    ("top_right_vector", ["--coeffs", "1", "nan"], "--coeffs", "finite"),
    ("cheese_channels", ["--layer", "embedder.block9"], "--layer", "unknown hook name"),
    ("retarget", ["--magnitude", "nan"], "--magnitude", "finite"),
    ("retarget", ["--channels", "-1"], "--channels", ">= 0"),
    ("retarget", ["--rollout-steps", "501"], "--rollout-steps", "<= 500"),
    ("behaviour", ["--max-steps", "0"], "--max-steps", ">= 1"),
    ("behaviour", ["--splits", "0"], "--splits", ">= 1"),
    ("behaviour", ["--first-seed", "2147483000", "--mazes", "1000"], "--mazes", "last seed"),
    ("generalisation", ["--max-steps", "501"], "--max-steps", "<= 500"),
    ("probes", ["--without-cheese", "1.5"], "--without-cheese", "[0, 1)"),
    ("probes", ["--hooks", "embedder.nothing"], "--hooks", "unknown hook name"),
    ("maze_view", ["--cheese-coeff", "nan"], "--cheese-coeff", "finite"),
    ("maze_view", ["--rollout", "random"], "--rollout", "invalid choice"),
    ("maze_view", ["--maps-hook", "embedder.nothing"], "--maps-hook", "unknown hook name"),
    ("maze_view", ["--clamp-channels", "-2"], "--clamp-channels", ">= 0"),
]


@pytest.mark.parametrize(("argv", "flag", "says"), COMMON, ids=lambda v: str(v))
@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_every_analysis_rejects_bad_common_flags(name, argv, flag, says, capsys, no_work) -> None:
    err = rejected(lambda a: analyses_cli.main(ANALYSES[name], a), argv, capsys)
    assert flag in err and says in err


@pytest.mark.parametrize(("name", "argv", "flag", "says"), ANALYSIS_FLAGS)
def test_analysis_flags_are_checked_before_work(name, argv, flag, says, capsys, no_work) -> None:
    err = rejected(lambda a: analyses_cli.main(ANALYSES[name], a), argv, capsys)
    assert flag in err and says in err


def test_an_existing_file_is_no_output_folder(a_file, capsys, no_work) -> None:
    for run in (lambda a: analyses_cli.main(ANALYSES["jacobian_svd"], a), report.main):
        err = rejected(run, ["--out", str(a_file)], capsys)
        assert "--out" in err and "is not a folder" in err
    err = rejected(report.main, ["--out", str(a_file / "below")], capsys)
    assert "is a file, so the folder cannot be made" in err


@pytest.mark.parametrize(
    ("argv", "flag", "says"),
    [
        (["--set", "channel_attribution.ig_steps=0"], "ig_steps", "must be >= 1"),
        (["--set", "cheese_vector.coeffs=1,nan"], "coeffs", "finite"),
        (["--set", "toy.x=1"], "toy.x", "NAME.OPTION=VALUE"),
        (["--set", "relu_removal.tolerance"], "relu_removal.tolerance", "NAME.OPTION=VALUE"),
        (["--only", "nothing"], "--only", "invalid choice"),
        (["--mazes", "1"], "--mazes", "must be at least"),  # the most any analysis needs
    ],
)
def test_report_flags(argv, flag, says, capsys, no_work) -> None:
    err = rejected(report.main, argv, capsys)
    assert flag in err and says in err


@pytest.mark.parametrize(
    ("argv", "flag", "says"),
    [
        (["--mazes", "0"], "--mazes", "must be >= 1"),
        (["--max-steps", "0"], "--max-steps", ">= 1"),
        (["--max-steps", "1000"], "--max-steps", "<= 500"),
        (["--seed", "-2"], "--seed", ">= 0"),
        (["--region", "centre"], "--region", "unknown region 'centre'"),
        (["--mode", "memory"], "--mode", "invalid choice"),
        (["--out", "/dev/null/r.json"], "--out", "under /dev"),
    ],
)
def test_evaluate_flags(argv, flag, says, capsys, no_work) -> None:
    err = rejected(evaluate_module.main, ["--checkpoint", "standin_s1", *argv], capsys)
    assert flag in err and says in err


@pytest.mark.parametrize(
    ("argv", "flag", "says"),
    [
        (["--out", ""], "--out", "empty path"),
        (["--out", "{file}"], "--out", "not a folder"),
        (["--final-eval-mazes", "-1"], "--final-eval-mazes", ">= 1"),
        (["--final-eval-max-steps", "0"], "--final-eval-max-steps", ">= 1"),
        (["--lr", "nan"], "--lr", "finite"),
        (["--bc-mazes", "-4"], "--bc-mazes", ">= 0"),
        (["--bc-steps", "0"], "bc_steps", ">= 1"),
        (["--region", "middle:5"], "--region", "unknown region"),
        (["--distribution-mode", "memory"], "--distribution-mode", "easy, hard"),
        (["--seed", "-1"], "--seed", ">= 0"),
    ],
)
def test_train_flags(argv, flag, says, capsys, a_file, tmp_path) -> None:
    argv = [a.format(file=a_file) for a in argv]
    if "--out" not in argv:
        argv = ["--out", str(tmp_path / "run"), *argv]
    err = rejected(train_main.main, argv, capsys)
    assert flag in err and says in err
    assert not (tmp_path / "run").exists()  # nothing was started


def test_card_refresh_names_a_bad_card(tmp_path, capsys, no_work) -> None:
    bad = tmp_path / "card.json"
    bad.write_text("{not json")
    err = rejected(card_module.main, ["--card", str(bad), "--checkpoint", "standin_s1"], capsys)
    assert "--card" in err and str(bad) in err


def test_card_refresh_refuses_weights_that_are_not_the_cards(tmp_path, capsys) -> None:
    bundled = Path(card_module.__file__).parents[1] / "checkpoints" / "standin_s1.card.json"
    card = json.loads(bundled.read_text())
    card["sha256"] = "0" * 64  # a card of other weights
    other = tmp_path / "other.card.json"
    other.write_text(json.dumps(card))
    err = rejected(card_module.main, ["--card", str(other), "--checkpoint", "standin_s1"], capsys)
    assert "--checkpoint standin_s1 has sha256" in err and "0" * 64 in err
    assert json.loads(other.read_text())["sha256"] == "0" * 64  # untouched


# --- library arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: checks.integer("count", True), "count must be an integer"),
        (lambda: checks.integer("count", 2.0), "count must be an integer"),
        (lambda: checks.integer("count", 0, minimum=1), "count must be >= 1, got 0"),
        (lambda: checks.real("coeff", math.nan), "coeff must be a finite number"),
        (lambda: checks.real("coeff", "1"), "coeff must be a number"),
        (lambda: checks.real("tolerance", -1.0, minimum=0.0), "tolerance must be >= 0.0"),
        (lambda: select_mazes(0), "count must be >= 1"),
        (lambda: select_mazes(2, first_seed=-1), "first_seed must be >= 0"),
        (lambda: evaluate_module.heldout_mazes("easy", None, 0), "n_mazes must be >= 1"),
    ],
)
def test_library_checks_name_the_argument(call, says, as_in_production) -> None:
    with pytest.raises(ValueError, match=says):
        call()


@pytest.fixture(scope="module")
def small() -> HookedImpala:
    torch.manual_seed(0)
    return HookedImpala(ImpalaConfig(channels=(4, 8, 8), fc_features=32)).eval()


@pytest.mark.parametrize(
    ("name", "options", "says"),
    [
        ("channel_attribution", {"ig_steps": 0}, "ig_steps must be >= 1"),
        ("channel_attribution", {"ig_steps": -3}, "ig_steps must be >= 1"),
        ("jacobian_svd", {"top_k": 0}, "top_k must be >= 1"),
        ("relu_removal", {"tolerance": math.nan}, "tolerance must be a finite number"),
        ("relu_removal", {"max_observations": 0}, "max_observations must be >= 1"),
    ],
)
def test_analysis_arguments_fail_before_work(name, options, says, small, as_in_production) -> None:
    obs = torch.zeros(2, 64, 64, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match=says):
        ANALYSES[name].run(small, obs, **options)


def test_vector_field_batch_size_is_named(small, as_in_production) -> None:
    maze = select_mazes(1)[0]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got -1"):
        vector_field(small, maze, batch_size=-1)


def test_cheese_vector_refuses_non_finite_coefficients(small, as_in_production) -> None:
    mazes = select_mazes(2)
    with pytest.raises(ValueError, match="coeffs must be a finite number, got nan"):
        ANALYSES["cheese_vector"].run(
            small, mazes, coeffs=(0.0, math.nan), extras=SteeringExtras(rollouts=False)
        )


# --- observations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obs", "says"),
    [
        (torch.full((1, 3, 64, 64), math.nan), "1\\d* NaN or infinite"),
        (torch.full((1, 3, 64, 64), math.inf), "NaN or infinite"),
        (torch.full((1, 3, 64, 64), 2.0), r"\[0, 1\], got values in \[2, 2\]"),
        (torch.zeros(1, 64, 64, 3), "channels last"),
        (torch.zeros(64, 64, 3, dtype=torch.uint8), "add a batch dimension"),
        (torch.zeros(1, 64, 64, 3, dtype=torch.int64), "dtype torch.int64"),
    ],
)
def test_bad_observations_are_named(obs, says, small) -> None:
    with pytest.raises(ObservationError, match=says):
        small(obs)


# --- interrupted runs ----------------------------------------------------------------------


class Interrupted(AnalysisResult):
    def numbers(self) -> dict:
        return {"run": "new"}

    def pages(self) -> dict[str, str]:
        raise KeyboardInterrupt  # Ctrl-C while the files are being written


def previous_result(folder: Path, analysis: str = "x") -> Path:
    """A folder holding an earlier result of ``analysis`` (its files and its marker)."""
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps({"run": "old"}))
    (folder / "figure.html").write_text("old figure")
    write_marker(folder, analysis)
    return folder


def test_ctrl_c_during_save_leaves_the_old_result_whole(tmp_path, small) -> None:
    out = previous_result(tmp_path / "result")
    meta = RunMetadata.of("x", small, seed=0)
    with pytest.raises(KeyboardInterrupt):
        Interrupted(metadata=meta).save(out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "figure.html", "result.json"]
    assert json.loads((out / "result.json").read_text()) == {"run": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["result"]  # no staging folder left


def test_replaced_folders_are_readable_by_others(tmp_path) -> None:
    with result_folder(tmp_path / "result", "x") as staging:
        (staging / "a.txt").write_text("x")
    mode = (tmp_path / "result").stat().st_mode & 0o777
    assert mode == 0o777 & ~current_umask(), oct(mode)  # not mkdtemp's 0700


def test_an_interrupted_report_keeps_the_previous_report(tmp_path) -> None:
    out = previous_result(tmp_path / "report", "report")
    with pytest.raises(KeyboardInterrupt), result_folder(out, "report") as staging:
        (staging / "result.json").write_text("half of a new report")
        raise KeyboardInterrupt
    assert json.loads((out / "result.json").read_text()) == {"run": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_a_users_folder_is_never_replaced(tmp_path, small, capsys, no_work) -> None:
    """A folder that is not an earlier result of the same analysis is refused before any
    work, naming it and what is in it; the user's file stays."""
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    err = rejected(
        lambda a: analyses_cli.main(ANALYSES["jacobian_svd"], a), ["--out", str(mine)], capsys
    )
    assert str(mine) in err and "notes.txt" in err and "choose a new folder" in err
    err = rejected(report.main, ["--out", str(mine)], capsys)
    assert "notes.txt" in err
    other = previous_result(tmp_path / "other", "probes")
    err = rejected(
        lambda a: analyses_cli.main(ANALYSES["jacobian_svd"], a), ["--out", str(other)], capsys
    )
    assert "a result of 'probes'" in err
    meta = RunMetadata.of("x", small, seed=0)
    with pytest.raises(ValueError, match="notes.txt"):
        AnalysisResult(metadata=meta).save(mine)
    assert (mine / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "other"]


def test_out_dot_is_refused_before_work(tmp_path, capsys, monkeypatch, no_work) -> None:
    (tmp_path / "mine.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    err = rejected(lambda a: analyses_cli.main(ANALYSES["jacobian_svd"], a), ["--out", "."], capsys)
    assert "'.'" in err and "mine.txt" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]  # nothing left beside it


def test_an_empty_folder_is_filled(tmp_path, small) -> None:
    meta = RunMetadata.of("x", small, seed=0)
    AnalysisResult(metadata=meta).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER, "result.json"]


def test_a_killed_save_leaves_nothing_behind_for_long(tmp_path, small) -> None:
    """A staging folder of a process that no longer runs (kill -9 mid-save) is removed by
    the next save beside it; one of a live process is left alone."""
    dead = tmp_path / ".result.new-999999999-abc"
    live = tmp_path / f".result.new-{os.getpid()}-abc"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "result.json").write_text("half")
    meta = RunMetadata.of("x", small, seed=0)
    AnalysisResult(metadata=meta).save(tmp_path / "result")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "result"]
