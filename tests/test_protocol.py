"""The protocol every analysis follows: a new analysis needs only its declaration, saving
replaces a result whole, and the report links every analysis and skips only what cannot run."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from analyses.core import cli, report
from analyses.core.inputs import NotApplicable, observations, select_mazes
from analyses.core.registry import ANALYSES
from analyses.core.result import AnalysisResult, RunMetadata
from analyses.core.saving import MARKER
from analyses.core.spec import Analysis, Option, analysis

#: Analyses whose own tests run them whole (at tiny sizes): the report test leaves them out,
#: as their quick forms take minutes (the scoreboard alone plays hundreds of levels).
OWN_WHOLE_RUN_TESTS = {"scoreboard", "dictionary", "patching", "probes", "behaviour"}


def report_args(out, *settings: str) -> list[str]:
    """The report on the s=1 agent over two mazes into ``out``, with ``--set settings``."""
    return [
        "--checkpoint",
        "model_160022528",
        "--mazes",
        "2",
        "--set",
        *settings,
        "--out",
        str(out),
    ]


def test_report_writes_an_index_linking_every_analysis(
    shared_checkpoints, tmp_path, monkeypatch
) -> None:

    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    out = tmp_path / "report"
    quick = [
        "cheese_vector.rollout_max_steps=16",
        "channel_attribution.ig_steps=8",
        "trajectory_view.max_steps=16",
    ]
    names = {a.name for a in ANALYSES} - OWN_WHOLE_RUN_TESTS
    assert report.main([*report_args(out, *quick), "--only", *sorted(names)]) == 0
    index = (out / "index.html").read_text()
    ran = set()
    for name in names:
        assert f"<h2>{name}</h2>" in index
        if (out / name / "result.json").exists():
            assert f"href='{name}/result.json'" in index
            ran.add(name)
    # Two mazes are too few for some analyses (the top-right vector needs two with a wall
    # margin): each of those says why in its section instead of sinking the report.
    skipped = names - ran
    assert index.count("not run on these mazes: ") == len(skipped)
    assert "top_right_vector" in skipped  # one of the two mazes fills the world
    assert {"cheese_vector", "channel_attribution", "jacobian_svd", "relu_removal"} <= ran
    assert len(ran) >= len(names) - 3
    with pytest.raises(SystemExit):
        report.main(["--mazes", "1"])


# --- the list of analyses, the declaration, saving -------------------------------------------


@dataclass(kw_only=True)
class ToyResult(AnalysisResult):
    value_means: torch.Tensor

    def numbers(self) -> dict:
        return {"mean_value": float(self.value_means.mean()), "nan_is_not_json": float("nan")}


@analysis(
    name="toy",  # beside the analyses/ package its module name would not be its name
    question="What is the value at the start?",
    select=list,
    options=(Option("scale", "multiply the value"),),
    quick={"scale": 2.0},
)
def toy_run(
    model, inputs, *, scale: float = 1.0, seed: int = 0, progress: bool = False
) -> ToyResult:
    obs = observations(inputs).to(model.device)
    with torch.no_grad():
        values = model(obs).value * scale
    meta = RunMetadata.of("toy", model, seed=seed, mazes=(m.seed for m in inputs))
    return ToyResult(metadata=meta, value_means=values)


TOY = toy_run.analysis


def test_a_new_analysis_needs_only_its_declaration(
    shared_checkpoints, tmp_path, monkeypatch
) -> None:

    assert len({a.name for a in ANALYSES}) == len(ANALYSES)  # one declaration each
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    out = tmp_path / "report"
    assert report.main(report_args(out, "toy.scale=3"), analyses=[TOY]) == 0
    saved = json.loads((out / "toy" / "result.json").read_text())
    assert (
        saved["metadata"]["parameters"] == {"scale": 3.0} and saved["metadata"]["analysis"] == "toy"
    )
    assert saved["numbers"]["nan_is_not_json"] is None
    assert "<h2>toy</h2>" in (out / "index.html").read_text()
    assert (
        cli.main(
            TOY,
            [
                "--checkpoint",
                "model_160022528",
                "--mazes",
                "2",
                "--scale",
                "0",
                "--out",
                str(tmp_path / "t"),
            ],
        )
        == 0
    )
    assert json.loads((tmp_path / "t" / "result.json").read_text())["numbers"]["mean_value"] == 0.0
    with pytest.raises(SystemExit):
        report.main(["--set", "toy.colour=3"], analyses=[TOY])


def test_save_replaces_a_previous_result_whole(tiny_model, procgen_obs, tmp_path) -> None:
    meta = RunMetadata.of("toy", tiny_model, seed=0)
    out = tmp_path / "result"
    ToyResult(metadata=meta, value_means=torch.ones(2)).save(out)
    (out / "stale_figure.html").write_text("from an earlier run of the same analysis")
    written = ToyResult(metadata=meta, value_means=torch.zeros(2)).save(out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "result.json"]
    assert [p.name for p in written] == ["result.json"]
    assert json.loads((out / "result.json").read_text())["numbers"]["mean_value"] == 0.0
    assert [p.name for p in tmp_path.iterdir()] == ["result"]  # no staging folder left behind


def _raising(error: Exception):
    def run(model, inputs, *, seed: int = 0, progress: bool = False):
        raise error

    return run


def test_the_report_skips_only_what_cannot_run_here(tiny_model, tmp_path, monkeypatch) -> None:
    """An analysis that raises NotApplicable is "not run on these mazes"; any other error
    (a ValueError included) is a bug and stops the report, leaving no report behind."""
    monkeypatch.setattr(
        "analyses.core.report.model_and_mazes", lambda args: (tiny_model, select_mazes(2))
    )
    skip = Analysis(
        name="skip", question="?", run=_raising(NotApplicable("too few mazes")), select=list
    )
    assert report.main(["--out", str(tmp_path / "ok")], analyses=[skip, TOY]) == 0
    index = (tmp_path / "ok" / "index.html").read_text()
    assert "not run on these mazes: too few mazes" in index and "<h2>toy</h2>" in index
    broken = Analysis(name="broken", question="?", run=_raising(ValueError("a bug")), select=list)
    with pytest.raises(ValueError, match="a bug"):
        report.main(["--out", str(tmp_path / "bug")], analyses=[TOY, broken])
    assert not (tmp_path / "bug").exists()


def test_the_metadata_records_the_keywords_run_was_called_with(tiny_model) -> None:
    """Every keyword-only option, defaults filled in; what run records itself wins; the
    seed has its own field; progress and where it ran are not parameters."""

    @analysis(name="keywords", question="?", select=list)
    def run(model, inputs, *, a: int = 1, b: str = "x", seed: int = 0, progress: bool = False):
        own = {"b": "chosen by run", "derived": 7}
        return ToyResult(
            metadata=RunMetadata.of("keywords", model, seed=seed, parameters=own),
            value_means=torch.zeros(1),
        )

    result = run(tiny_model, [], a=5, seed=3, progress=True)
    assert result.metadata.parameters == {"a": 5, "b": "chosen by run", "derived": 7}
    assert result.metadata.seed == 3
    assert run(tiny_model, []).metadata.parameters["a"] == 1  # the default, recorded
    assert run.analysis.name == "keywords" and run.analysis.run is run


def test_an_analysis_is_named_after_its_module() -> None:
    from analyses import relu_removal

    assert relu_removal.run.analysis.name == "relu_removal"
    with pytest.raises(TypeError, match="outside analyses/: give its name="):
        analysis(question="?", select=list)(lambda model, inputs: None)


def test_settings_that_travel_together_are_one_value_with_a_flag_each() -> None:
    """A group (here behaviour's Playing) is one keyword of run, one flag per field on the
    command line, and single fields for --set and quick, the other fields kept."""
    import argparse

    from analyses import behaviour
    from analyses.core.records import Playing, Records

    spec = behaviour.run.analysis
    assert spec.keywords({"max_steps": 32, "splits": 3}) == {"playing": Playing(32), "splits": 3}
    given = {"playing": Playing(greedy=True), "max_steps": 7}
    assert spec.keywords(given) == {"playing": Playing(7, greedy=True)}
    overrides = report.parse_overrides(["behaviour.max_steps=40", "behaviour.greedy=yes"], [spec])
    assert spec.keywords(overrides["behaviour"]) == {"playing": Playing(40, greedy=True)}
    parser = argparse.ArgumentParser()
    for option in spec.options:
        option.add_to(parser)
    args = parser.parse_args(["--max-steps", "9", "--records", "temporary"])
    group = next(o for o in spec.options if o.name == "playing")
    assert group.value(args) == Playing(9, False, Records.TEMPORARY)
    assert parser.parse_args([]).max_steps == Playing().max_steps  # the default, read from run
    with pytest.raises(ValueError, match="max_steps must be >= 1 and <= 500, got 501"):
        Playing(501)
