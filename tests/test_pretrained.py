"""Checkpoints: three formats, clear errors, parity with the original forward pass
(implemented independently below). Downloads: ``test_pretrained_downloads.py``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from constructed import random_state_dict

from hooked_impala import (
    CheckpointError,
    HookedImpala,
    ImpalaConfig,
    load_pretrained,
)
from hooked_impala.policy import evaluation
from hooked_impala.pretrained import (
    REGISTRY,
    cache_dir,
)

# --- the original forward, written from the architecture description, not from the package ---


def original_forward(
    sd: dict[str, torch.Tensor], rgb_uint8: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x = rgb_uint8.permute(0, 3, 1, 2).float() / 255.0
    for b in (1, 2, 3):
        p = f"embedder.block{b}."
        x = F.conv2d(x, sd[p + "conv.weight"], sd[p + "conv.bias"], padding=1)
        x = F.max_pool2d(x, 3, 2, 1)
        for r in (1, 2):
            q = f"{p}res{r}."
            h = F.conv2d(F.relu(x), sd[q + "conv1.weight"], sd[q + "conv1.bias"], padding=1)
            h = F.conv2d(F.relu(h), sd[q + "conv2.weight"], sd[q + "conv2.bias"], padding=1)
            x = x + h
    x = F.relu(x).reshape(x.shape[0], -1)
    x = F.relu(F.linear(x, sd["embedder.fc.weight"], sd["embedder.fc.bias"]))
    logits = F.linear(x, sd["fc_policy.weight"], sd["fc_policy.bias"])
    value = F.linear(x, sd["fc_value.weight"], sd["fc_value.bias"]).reshape(-1)
    return logits, value


def assert_matches_original(model: HookedImpala, sd: dict[str, torch.Tensor], rgb_uint8) -> None:
    """``model`` and ``original_forward`` on the weights ``sd`` agree on the observations."""
    obs = torch.from_numpy(rgb_uint8)
    with torch.no_grad():
        out = model(obs)
        logits, value = original_forward(sd, obs)
    assert torch.allclose(out.logits, logits, atol=1e-5)
    assert torch.allclose(out.value, value, atol=1e-5)


@pytest.mark.parametrize("scale", [1, 4])
def test_parity_with_original_forward_in_the_papers_format(tmp_path, scale, procgen_obs) -> None:
    sd = random_state_dict(scale, seed=scale)
    path = tmp_path / "model_rand_region_5.pth"
    torch.save(
        {"model_state_dict": sd, "optimizer_state_dict": {"state": {}, "param_groups": []}}, path
    )
    model = load_pretrained(path)
    assert model.cfg == ImpalaConfig.from_scale(scale)
    assert_matches_original(model, sd, procgen_obs)


def test_parity_on_the_real_s1_agent(ppo_s1, shared_checkpoints, procgen_obs) -> None:
    sd = torch.load(
        shared_checkpoints / "model_160022528.pth", map_location="cpu", weights_only=True
    )["state_dict"]
    assert sum(v.numel() for v in sd.values()) == sum(p.numel() for p in ppo_s1.parameters())
    assert_matches_original(ppo_s1, sd, procgen_obs)
    assert ppo_s1.checkpoint.sha256 == REGISTRY["model_160022528"].sha256


def test_real_agent_by_name_and_by_path(shared_checkpoints, monkeypatch) -> None:
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    assert cache_dir() == shared_checkpoints
    by_name = load_pretrained("model_160022528", progress=False)
    by_alias = load_pretrained("ppo_s1", progress=False)
    by_path = load_pretrained(shared_checkpoints / "model_160022528.pth")
    for a, b in zip(by_name.parameters(), by_path.parameters()):
        assert torch.equal(a, b)
    assert by_alias.checkpoint.name == "model_160022528"
    assert not by_name.training


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model_state_dict"])
def test_all_three_formats_load(tmp_path, wrap) -> None:
    sd = random_state_dict(1, seed=3)
    obj = sd if wrap == "bare" else {wrap: sd}
    torch.save(obj, tmp_path / "m.pth")
    model = load_pretrained(tmp_path / "m.pth")
    assert torch.equal(model.state_dict()["fc_policy.weight"], sd["fc_policy.weight"])


def test_widths_are_read_from_the_weights(tmp_path) -> None:
    cfg = ImpalaConfig(channels=(8, 24, 16), fc_features=64, num_actions=15)
    torch.save(HookedImpala(cfg).state_dict(), tmp_path / "odd.pth")
    assert load_pretrained(tmp_path / "odd.pth").cfg == cfg


# --- bad files ---------------------------------------------------------------------------


def test_truncated_file(tmp_path, shared_checkpoints) -> None:
    data = (shared_checkpoints / "model_160022528.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth: cannot be read as a PyTorch checkpoint"):
        load_pretrained(tmp_path / "cut.pth")


def test_not_a_checkpoint(tmp_path) -> None:
    (tmp_path / "notes.pth").write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.pth: cannot be read"):
        load_pretrained(tmp_path / "notes.pth")


class Sneaky:
    def __init__(self) -> None:
        self.payload = "arbitrary object"


def test_pickle_that_is_not_plain_tensors(tmp_path) -> None:
    torch.save({"state_dict": random_state_dict(1, 0), "extra": Sneaky()}, tmp_path / "pickle.pth")
    with pytest.raises(
        CheckpointError, match=r"pickle\.pth: holds objects other than plain tensors"
    ):
        load_pretrained(tmp_path / "pickle.pth")


def test_missing_unexpected_and_misshapen_keys_are_all_listed(tmp_path) -> None:
    sd = random_state_dict(1, 0)
    del sd["embedder.block3.res2.conv2.bias"]
    sd["embedder.block4.conv.weight"] = torch.zeros(3)
    sd["fc_value.weight"] = torch.zeros(2, 256)
    torch.save({"state_dict": sd}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_pretrained(tmp_path / "bad.pth")
    message = str(err.value)
    assert "bad.pth" in message
    assert "missing keys: ['embedder.block3.res2.conv2.bias']" in message
    assert "unexpected keys: ['embedder.block4.conv.weight']" in message
    assert "fc_value.weight: shape (2, 256), expected (1, 256)" in message


def test_not_an_impala_state_dict(tmp_path) -> None:
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"other\.pth: not an IMPALA.*missing keys"):
        load_pretrained(tmp_path / "other.pth")
    torch.save({"model_state_dict": {"a": 1}}, tmp_path / "scalars.pth")
    with pytest.raises(CheckpointError, match=r"scalars\.pth: .*not tensors: \['a'\]"):
        load_pretrained(tmp_path / "scalars.pth")


def test_non_finite_weights_are_refused_naming_the_tensors(tmp_path, capsys) -> None:
    nan = {k: torch.full_like(v, float("nan")) for k, v in random_state_dict(1, 0).items()}
    torch.save({"state_dict": nan}, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match=r"nan\.pth: .*NaN or infinite.*embedder\.block1"):
        load_pretrained(tmp_path / "nan.pth")
    one_inf = random_state_dict(1, 0)
    one_inf["embedder.block2.res1.conv2.weight"][3, 1, 0, 2] = float("inf")
    torch.save(one_inf, tmp_path / "inf.pth")
    with pytest.raises(CheckpointError) as err:
        load_pretrained(tmp_path / "inf.pth")
    assert "embedder.block2.res1.conv2.weight (1 of 9216 values" in str(err.value)
    assert str(err.value).count(" of ") == 1  # only the broken tensor is named
    # The evaluation command stops there, with the message and a failing exit status.
    assert evaluation.main(["--checkpoint", str(tmp_path / "inf.pth"), "--mazes", "1"]) == 1
    said = capsys.readouterr()
    assert "embedder.block2.res1.conv2.weight" in said.err and "success" not in said.out


def test_unknown_name_or_missing_path() -> None:
    with pytest.raises(
        FileNotFoundError,
        match=r"'model_nope' is neither a file nor a known checkpoint name.*model_160022528",
    ):
        load_pretrained("model_nope")


# --- bad inputs ---------------------------------------------------------------------------


def test_policy_head_of_another_size_fails_at_load_not_at_the_first_forward(tmp_path) -> None:
    sd = random_state_dict(1, 0)
    sd["fc_policy.weight"], sd["fc_policy.bias"] = torch.zeros(7, 256), torch.zeros(7)
    torch.save({"state_dict": sd}, tmp_path / "seven.pth")
    with pytest.raises(
        CheckpointError, match=r"seven\.pth: fc_policy has 7 actions; the maze policy has 15"
    ):
        load_pretrained(tmp_path / "seven.pth")


def test_load_errors_never_pass_on_torchs_weights_only_false_advice(tmp_path) -> None:
    # torch's own message for any file it cannot load says to retry with weights_only=False,
    # i.e. to run whatever code the file holds.
    (tmp_path / "page.pth").write_text("<!DOCTYPE html><html>Sign in</html>")
    torch.save({"state_dict": random_state_dict(1, 0), "extra": Sneaky()}, tmp_path / "obj.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    for name, why in [
        ("page.pth", "cannot be read as a PyTorch checkpoint"),
        ("obj.pth", "a pickled test_pretrained.Sneaky"),
        ("empty.pth", "the file is empty"),
    ]:
        with pytest.raises(CheckpointError) as err:
            load_pretrained(tmp_path / name)
        assert f"{name}: " in str(err.value) and why in str(err.value)
        assert "weights_only" not in str(err.value)
