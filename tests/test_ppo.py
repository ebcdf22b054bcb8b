"""PPO fine-tuning: the SB3 wiring learns a bandit, the procgen adapter (reward, cheese,
pixels, truncation), a tiny run end to end with resume, and the missing-extra message."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")  # the rl extra; the last test runs without it

from gymnasium import spaces  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.vec_env import VecEnv  # noqa: E402

from hooked_impala import HookedImpala, ImpalaConfig, load_pretrained  # noqa: E402
from hooked_impala.maze import TOP_RIGHT_5, Maze, MazeRenderer, path_to_cheese  # noqa: E402
from hooked_impala.maze.procgen_env import get_env_state  # noqa: E402
from hooked_impala.train.__main__ import main as train_main  # noqa: E402
from hooked_impala.train.cheese import cheese_cells  # noqa: E402
from hooked_impala.train.sb3 import MissingExtraError, require_sb3  # noqa: E402
from hooked_impala.train.sb3_policy import HookedImpalaPolicy  # noqa: E402
from hooked_impala.train.vec_env import ProcgenMazeVecEnv  # noqa: E402

TINY = {"channels": [2, 2, 2], "fc_features": 8}
ACTION_OF_DELTA = {(0, -1): 0, (-1, 0): 3, (1, 0): 5, (0, 1): 7}  # LEFT, DOWN, UP, RIGHT
BEST = 11


class Bandit(VecEnv):
    """One-step episodes, a constant observation; action ``BEST`` pays 1, the others 0."""

    def __init__(self, n: int) -> None:
        self.render_mode = None
        super().__init__(n, spaces.Box(0, 255, (64, 64, 3), dtype=np.uint8), spaces.Discrete(15))
        self.obs = np.full((n, 64, 64, 3), 128, dtype=np.uint8)

    def reset(self):
        return self.obs.copy()

    def step_async(self, actions):
        self.actions = np.asarray(actions)

    def step_wait(self):
        rewards = (self.actions == BEST).astype(np.float32)
        infos = [{"episode": {"r": float(r), "l": 1, "t": 0.0}} for r in rewards]
        return self.obs.copy(), rewards, np.ones(self.num_envs, dtype=bool), infos

    def close(self):
        pass

    def get_attr(self, name, indices=None):
        return [getattr(self, name)] * self.num_envs

    def set_attr(self, name, value, indices=None):
        setattr(self, name, value)

    def env_method(self, name, *args, indices=None, **kwargs):
        raise NotImplementedError

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * self.num_envs


def best_action_probability(policy: HookedImpalaPolicy, env: Bandit) -> float:
    obs = torch.from_numpy(env.obs[:1])
    with torch.no_grad():
        return float(policy.model(obs).probs[0, BEST])


def test_ppo_with_the_hooked_policy_learns_a_bandit() -> None:
    env = Bandit(8)
    ppo = PPO(
        HookedImpalaPolicy,
        env,
        n_steps=8,
        batch_size=32,
        n_epochs=4,
        learning_rate=1e-2,
        ent_coef=0.0,
        policy_kwargs={"impala_config": TINY},
        seed=0,
        device="cpu",
    )
    policy = ppo.policy
    # The policy's parameters are the HookedImpala's, nothing else.
    assert {id(p) for p in policy.parameters()} == {id(p) for p in policy.model.parameters()}
    assert isinstance(policy.model, HookedImpala)
    before = best_action_probability(policy, env)
    assert before < 0.2
    ppo.learn(512)  # 8 updates
    assert best_action_probability(policy, env) > 0.9


def test_policy_outputs_are_the_network_outputs(procgen_obs) -> None:
    env = Bandit(2)
    ppo = PPO(HookedImpalaPolicy, env, policy_kwargs={"impala_config": TINY}, device="cpu")
    policy = ppo.policy
    obs = torch.from_numpy(procgen_obs)
    channels_first = obs.permute(0, 3, 1, 2).contiguous()  # what SB3 hands the policy
    actions = torch.arange(len(obs)) % 15
    values, log_prob, entropy = policy.evaluate_actions(channels_first, actions)
    with torch.no_grad():
        out = policy.model(obs)
    torch.testing.assert_close(values[:, 0], out.value, rtol=0, atol=0)
    torch.testing.assert_close(log_prob, out.log_probs[torch.arange(len(obs)), actions])
    torch.testing.assert_close(entropy, -(out.probs * out.log_probs).sum(-1))


# --- the procgen adapter ------------------------------------------------------------------


@pytest.fixture(scope="module")
def renderer():
    with MazeRenderer() as r:
        yield r


def walk_to_cheese(env: ProcgenMazeVecEnv, i: int) -> tuple[list[float], dict]:
    """Step env ``i`` along the shortest path to its cheese (the others wait); the rewards
    of env ``i`` and the info of its last step."""
    maze = env.mazes[i]
    path = path_to_cheese(maze)
    rewards = []
    for here, there in zip(path, path[1:]):
        actions = np.full(env.num_envs, 4)
        actions[i] = ACTION_OF_DELTA[(there[0] - here[0], there[1] - here[1])]
        _, reward, done, infos = env.step(actions)
        rewards.append(float(reward[i]))
    assert done[i]
    return rewards, infos[i]


def test_adapter_pays_cheese_reward_exactly_at_the_cheese(renderer) -> None:
    env = ProcgenMazeVecEnv(2, cheese_reward=-3.5, seed=1, max_episode_steps=500)
    try:
        env.reset()
        first = env.mazes[0]
        rewards, info = walk_to_cheese(env, 0)
        assert rewards[:-1] == [0.0] * (len(rewards) - 1)
        assert rewards[-1] == -3.5
        assert info["reached_cheese"] and info["episode"]["r"] == -3.5
        assert info["episode"]["l"] == len(rewards)
        assert "TimeLimit.truncated" not in info
        assert env.episodes == env.cheese_episodes == 1
        assert env.mazes[0].seed > first.seed  # the next training level, loaded at once
    finally:
        env.close()


@pytest.mark.parametrize("option", ["outside", "top-right"])
def test_adapter_places_the_cheese_on_every_new_episode(renderer, option) -> None:
    env = ProcgenMazeVecEnv(3, cheese=option, seed=2, first_seed=2_000_000, max_episode_steps=4)
    rng = np.random.default_rng(0)
    try:
        obs = env.reset()
        seen = []
        for step in range(13):  # three episodes per env: truncated after 4 steps
            for i in range(env.num_envs):
                maze = Maze.from_state(get_env_state(env.procgen, i))
                if step % 4 == 0:  # a new episode: procgen plays exactly the adapter's maze
                    assert maze == env.mazes[i]
                    np.testing.assert_array_equal(obs[i], renderer.observe([maze])[0])
                    region = set(TOP_RIGHT_5.cells(maze))
                    assert (maze.cheese in region) == (option == "top-right")
                    assert maze.cheese in cheese_cells(maze, option)
                    seen.append(maze.seed)
            obs, rewards, dones, infos = env.step(rng.choice([0, 3, 5, 7], env.num_envs))
            if step % 4 == 3:
                assert dones.all()
                for info, before in zip(infos, seen[-3:]):
                    assert info["TimeLimit.truncated"] and info["level_seed"] == before
                    assert info["terminal_observation"].shape == (64, 64, 3)
        assert len(set(seen)) == len(seen) and min(seen) >= 2_000_000  # fresh training levels
    finally:
        env.close()


def test_same_level_gets_the_same_cheese_whatever_the_env() -> None:
    one = ProcgenMazeVecEnv(1, seed=5, first_seed=3_000_000)
    two = ProcgenMazeVecEnv(2, seed=5, first_seed=3_000_000)
    try:
        one.reset(), two.reset()
        assert one.mazes[0] == two.mazes[0]
    finally:
        one.close(), two.close()


# --- a tiny run, resumed ------------------------------------------------------------------


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = HookedImpala(ImpalaConfig(channels=(2, 2, 2), fc_features=8))
    path = tmp_path / "tiny.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    return path


RUN = ["--envs", "4", "--n-steps", "8", "--batch-size", "16", "--epochs", "1"]
RUN += ["--eval-every", "32", "--eval-mazes", "2", "--final-eval-mazes", "3"]
RUN += ["--max-episode-steps", "16", "--no-progress", "--device", "cpu"]


def test_tiny_run_resumes_and_writes_a_loadable_model(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "run"
    base = ["ppo", "--from", str(tiny_checkpoint), "--out", str(out), *RUN]
    assert train_main([*base, "--steps", "64"]) == 0
    first = json.loads((out / "progress.json").read_text())["progress"]
    assert first["num_timesteps"] == 64 and first["n_updates"] == 2
    # A second run in the same folder needs --resume; a resume cannot change the config.
    assert train_main([*base, "--steps", "128"]) == 1
    assert "--resume" in capsys.readouterr().err
    assert train_main([*base, "--steps", "128", "--resume", "--seed", "3"]) == 1
    assert "seed: 0 -> 3" in capsys.readouterr().err

    assert train_main([*base, "--steps", "128", "--resume"]) == 0
    progress = json.loads((out / "progress.json").read_text())["progress"]
    assert progress["num_timesteps"] == 128 and progress["n_updates"] == 4
    assert progress["next_level_seed"] > first["next_level_seed"]  # new levels, not replayed
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    # Every 32 steps, and at the end of each session (64 was both: recorded once).
    assert [r["step"] for r in log] == [0, 32, 64, 96, 128]
    assert [r["final"] for r in log] == [False, False, True, False, True]
    card = json.loads((out / "model_card.json").read_text())
    assert card["steps"] == 128 and card["before"] == log[0]["eval"]
    assert card["after"] == log[-1]["eval"] and card["after"]["mazes"] == 3
    assert "| after |" in (out / "model_card.md").read_text()

    model = load_pretrained(out / "model.pth", device="cpu")
    start = load_pretrained(tiny_checkpoint, device="cpu")
    assert model.cfg.channels == (2, 2, 2)
    changed = [
        k for k, v in model.state_dict().items() if not torch.equal(v, start.state_dict()[k])
    ]
    assert changed  # PPO trained it
    obs = torch.zeros(2, 64, 64, 3, dtype=torch.uint8)
    logits, cache = model.run_with_cache(obs)
    assert set(cache) >= {"embedder.block2.res1.resadd_out", "fc_policy_out", "fc_value_out"}
    torch.testing.assert_close(cache["fc_policy_out"], logits.logits)


def test_bad_flags_are_flag_errors(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        train_main(["ppo", "--from", "x", "--out", str(tmp_path), "--cheese", "left"])
    assert "--cheese: must be one of anywhere, top-right, outside" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["ppo", "--from", "x", "--out", str(tmp_path), "--first-train-seed", "10"])
    assert "overlaps the evaluation seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--help"])
    assert "python -m hooked_impala.train ppo --help" in capsys.readouterr().out


# --- without the rl extra -------------------------------------------------------------------


def test_missing_sb3_names_the_extra(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # import now fails
    with pytest.raises(MissingExtraError, match=r"hooked-impala\[rl\]"):
        require_sb3()
    assert train_main(["ppo", "--from", "standin_s1", "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: PPO fine-tuning needs stable-baselines3") and "[rl]" in err
    assert "Traceback" not in err


def test_library_imports_without_sb3() -> None:
    code = (
        "import sys; sys.modules['stable_baselines3'] = None\n"
        "import hooked_impala, hooked_impala.train, hooked_impala.train.ppo\n"
        "try:\n    import hooked_impala.train.vec_env\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("MissingExtraError PPO fine-tuning needs stable-baselines3")
