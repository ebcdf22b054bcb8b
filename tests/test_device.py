"""Devices: ``load_pretrained(device=, dtype=)``, ``--device``, and every analysis building
its tensors on the model's device (checked without a GPU by ``tests/elsewhere.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from elsewhere import DeviceMismatch, Elsewhere

from analyses import cheese_vector
from analyses.core import cli, registry
from analyses.core.cli import main as analysis_main
from analyses.core.inputs import Levels, select_mazes
from analyses.core.records import Records
from analyses.core.registry import ANALYSES
from analyses.core.spec import model_for
from hooked_impala import checks, load_pretrained
from hooked_impala.maze import mazes_from_seeds, observe
from hooked_impala.pretrained import default_device


@pytest.fixture(scope="module")
def standin():
    return load_pretrained("standin_s1", progress=False)


@pytest.fixture(scope="module")
def mazes():
    return select_mazes(4, "easy")


def _second_device() -> str | None:
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return None


# --- load_pretrained and the flag ------------------------------------------------------------


def test_load_pretrained_takes_a_device_and_a_dtype() -> None:
    assert load_pretrained("standin_s1", progress=False).device == default_device()
    model = load_pretrained("standin_s1", device="cpu", dtype=torch.float64, progress=False)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    obs = torch.from_numpy(observe(mazes_from_seeds(range(3), "easy")))
    as_float32 = load_pretrained("standin_s1", device="cpu", progress=False)
    with torch.no_grad():
        logits = model(obs).logits  # uint8 observations become the weights' dtype
        assert logits.dtype == torch.float64
        torch.testing.assert_close(logits.float(), as_float32(obs).logits, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="device must be a torch device.*got 'gpu'"):
        load_pretrained("standin_s1", device="gpu", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            load_pretrained("standin_s1", device="cuda", progress=False)


def test_device_check_names_the_problem() -> None:
    assert checks.device("d", "cpu") == torch.device("cpu")
    assert checks.device("d", torch.device("meta")).type == "meta"
    for bad, reason in [("gpu", "torch device"), ("cpu:x", "torch device"), (3.5, "torch device")]:
        with pytest.raises(ValueError, match=reason):
            checks.device("d", bad)
    with pytest.raises(ValueError, match="only cpu, cuda, mps and meta"):
        checks.device("d", "xpu")


def test_device_flag_is_checked_and_recorded(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        analysis_main(cheese_vector.run.analysis, ["--device", "gpu", "--out", str(tmp_path / "x")])
    assert "argument --device: must be a torch device" in capsys.readouterr().err
    out = tmp_path / "cv"
    flags = ["--mazes", "2", "--device", "cpu", "--rollout-max-steps", "4", "--out", str(out)]
    code = analysis_main(cheese_vector.run.analysis, flags)
    assert code == 0
    checkpoint = json.loads((out / "result.json").read_text())["metadata"]["checkpoint"]
    assert checkpoint["device"] == "cpu" and checkpoint["dtype"] == "float32"
    assert checkpoint["name"] == cli.DEFAULT_CHECKPOINT


# --- the stand-in second device --------------------------------------------------------------


def test_elsewhere_catches_what_a_gpu_would_refuse(standin) -> None:
    obs = torch.from_numpy(observe(mazes_from_seeds(range(2), "easy")))
    mode = Elsewhere()
    with mode, torch.no_grad():
        mode.put_model(standin)
        assert standin.device.type == "meta"
        with pytest.raises(DeviceMismatch, match="conv2d mixes"):
            standin(obs)  # observations left on the CPU
        logits = standin(obs.to(standin.device)).logits
        with pytest.raises(DeviceMismatch, match="call .cpu"):
            logits.numpy()
        with pytest.raises(DeviceMismatch, match=r"add mixes .* \[\(15,\)\]"):
            logits + torch.ones(15)  # a vector built on the CPU
        bias = torch.ones(15, device=standin.device)
        np.testing.assert_array_equal((logits + bias).cpu().numpy(), logits.cpu().numpy() + 1)
        with pytest.raises(DeviceMismatch, match="add mixes"):
            cpu_value = lambda activation, hook: activation + torch.ones(1, 1, 1)
            standin.run_with_hooks(  # an intervention whose value stays on the CPU
                obs.to(standin.device), fwd_hooks=[("embedder.block2.res1.resadd_out", cpu_value)]
            )
        logits[torch.tensor([1, 0])]  # CPU index tensors index a GPU tensor, as in CUDA
        logits + torch.tensor(2.0)  # and 0-d CPU tensors mix
    assert not mode.is_elsewhere(obs)


@pytest.mark.slow
# The scoreboard runs the others (and is checked at tiny size in test_scoreboard.py).
@pytest.mark.parametrize("name", [a.name for a in ANALYSES if a.name != "scoreboard"])
def test_every_analysis_builds_its_tensors_on_the_models_device(name, standin, mazes, tmp_path):
    analysis = registry.analysis(name)
    subject = model_for(analysis, standin)  # weight_diff: the fine-tuned stand-in
    mode = Elsewhere()
    with mode:
        mode.put_model(subject)
        if analysis.levels is None:
            analysis.run_on_mazes(subject, mazes, quick=True)
        else:
            options = dict(analysis.quick)
            if any(o.name == "records" for o in analysis.settable()):
                options["records"] = Records.at(tmp_path / "records")
            if name == "dictionary":  # every op goes through the check: a few steps do
                options.update(steps=10, cache=tmp_path / "dictionary")
            if name == "weight_diff":  # its reference model must live on the device too
                options["before"] = load_pretrained(subject.checkpoint.parent, device="cpu")
                mode.put_model(options["before"])
            keywords = analysis.keywords(options)  # a group's fields one by one -> its value
            analysis.run(subject, Levels("easy", range(40)), seed=0, progress=False, **keywords)
    assert mode.checked_ops > 100  # the analysis ran its tensors through the check


def test_results_agree_across_devices(mazes) -> None:
    second = _second_device()
    if second is None:
        pytest.skip("no second device here (torch sees neither CUDA nor MPS)")
    numbers = {}
    for device in ("cpu", second):
        model = load_pretrained("standin_s1", device=device, progress=False)
        result = cheese_vector.run.analysis.run_on_mazes(model, mazes, quick=True)
        numbers[device] = result.arrays()
    for key, value in numbers["cpu"].items():
        np.testing.assert_allclose(numbers[second][key], value, atol=1e-4, rtol=1e-4)
