"""Collection with real ALE games, resume after a kill, behaviour policies, game modes."""

import json

import numpy as np
import pytest

from scaledql import agents, data, envs
from scaledql.data import format as fmt


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("game", ["Pong", "Breakout"])
def test_random_collection_writes_a_readable_run(tmp_path, game):
    log = data.collect(
        game,
        data.RandomPolicy(envs.num_actions(game)),
        400,
        tmp_path / game,
        capacity=128,
        progress=False,
    )
    run = data.open_run(tmp_path / game)
    assert log["complete"] and run.num_rows == log["final_add_count"]
    assert len(fmt.find_suffixes(tmp_path / game)) == 4
    batch = run.get(np.flatnonzero(run.valid_mask())[:64])
    assert batch["action"].max() < envs.num_actions(game)
    assert set(np.unique(batch["reward"])) <= {-1.0, 0.0, 1.0}
    first = np.flatnonzero(run.valid_mask())[0]
    state = run.get([first])["state"][0]
    assert not state[..., :3].any() and state[..., 3].any()  # [0, 0, 0, o_0]
    stats = data.dataset_stats(tmp_path / game)
    assert stats["episodes"] == len(log["episodes"]) and stats["policy"] == "random"
    # one share per action of the game's action set, random play spreading over all of them
    shares = stats["final_action_shares"]
    assert len(shares) == envs.num_actions(game) and min(shares) > 0
    assert sum(shares) == pytest.approx(1.0)


class Interrupt(Exception):
    pass


class DyingPolicy(data.RandomPolicy):
    """A random policy whose process 'dies' at a given step."""

    def __init__(self, die_at):
        super().__init__(6, seed=0)
        self.die_at = die_at

    def act(self, stack, step):
        if step == self.die_at:
            raise Interrupt
        return super().act(stack, step)


def test_killed_collection_resumes_from_its_last_checkpoint(tmp_path):
    with pytest.raises(Interrupt):
        data.collect(
            "Pong", DyingPolicy(die_at=700), 1000, tmp_path / "run", capacity=128, progress=False
        )
    log = json.loads((tmp_path / "run" / "collection.json").read_text())
    assert not log["complete"] and log["checkpoint"]["agent_steps"] <= 700
    resumed = data.collect(
        "Pong", data.RandomPolicy(6), 1000, tmp_path / "run", capacity=128, progress=False
    )
    assert resumed["complete"]
    run = data.open_run(tmp_path / "run")
    # the interrupted episode was closed by a terminal; every sampled stack is one episode
    valid = np.flatnonzero(run.valid_mask())
    batch = run.get(valid)
    for state in batch["state"]:
        zero = [not state[..., k].any() for k in range(4)]
        assert zero == sorted(zero, reverse=True)  # padding only before the episode's frames
    with pytest.raises(ValueError, match="other settings"):
        data.collect("Breakout", data.RandomPolicy(4), 10, tmp_path / "run", progress=False)


@pytest.mark.slow
def test_dqn_collection_learns_saves_and_resumes_and_greedy_eps_loads_it(tmp_path):
    policy = agents.DQNPolicy("Pong", total_steps=600, seed=0)
    assert policy.epsilon_at(0) == 1.0 and policy.epsilon_at(600) == 0.01
    data.collect("Pong", policy, 600, tmp_path / "dqn", capacity=256, progress=False)
    assert int(policy.state.step) == (600 - policy.warmup) // 4 + 1
    agents.save_qnetwork(tmp_path / "dqn" / "policy", policy.config, policy.state.params)
    greedy = agents.make_policy(f"greedy-eps:{tmp_path / 'dqn' / 'policy'}", "Pong", 100)
    stack = np.zeros((84, 84, 4), np.uint8)
    assert 0 <= greedy.act(stack, 0) < 6
    # the learner's state survives a resume exactly
    restored = agents.DQNPolicy("Pong", total_steps=600, seed=1)
    restored.load_state_dict(policy.state_dict())
    assert int(restored.state.step) == int(policy.state.step)
    np.testing.assert_array_equal(
        restored.state.params["head_Pong"]["kernel"], policy.state.params["head_Pong"]["kernel"]
    )
    with pytest.raises(ValueError, match="no head for Breakout"):
        agents.make_policy(f"greedy-eps:{tmp_path / 'dqn' / 'policy'}", "Breakout", 100)


def test_game_mode_changes_the_game_and_bad_modes_are_refused():
    default = envs.make_env("Breakout", seed=0)
    hidden = envs.make_env("Breakout", mode=12, difficulty=0, seed=0)
    frame_default, _ = default.reset(seed=0)
    frame_hidden, _ = hidden.reset(seed=0)
    # mode 12 hides the bricks: the first frames differ
    assert np.abs(frame_default.astype(int) - frame_hidden.astype(int)).sum() > 1000
    with pytest.raises(ValueError, match=r"valid modes: \[0, 4, 8"):
        envs.make_env("Breakout", mode=3)
    with pytest.raises(ValueError, match="valid difficulties"):
        envs.make_env("Pong", difficulty=9)
    with pytest.raises(ValueError, match="valid games"):
        envs.make_env("Pongg")


def test_env_matches_dqn_replay_settings():
    env = envs.make_env("Pong", seed=0)
    frame, _ = env.reset(seed=0)
    assert frame.shape == (84, 84) and frame.dtype == np.uint8
    assert env.action_space.n == 6  # minimal action set
    assert env.unwrapped._frameskip == 1 and env.noop_max == 0 and env.frame_skip == 4
    assert not env.terminal_on_life_loss
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    assert env.unwrapped.ale.getInt("max_num_frames_per_episode") == 108_000


def test_a_collection_stops_once_its_first_checkpoints_are_written_and_resumes(tmp_path):
    out = tmp_path / "run"
    log = data.collect(
        "Pong", data.RandomPolicy(6), 1000, out, capacity=128, checkpoints=2, progress=False
    )
    # checkpoint k is written at add count (k + 1) * 128 - 1, and the collection stops there
    assert not log["complete"] and log["checkpoint"]["suffix"] == 1
    assert fmt.find_suffixes(out) == [0, 1]
    assert int(fmt.read_array(fmt.scalar_path(out, "add_count", 1))) == 255
    resumed = data.collect("Pong", data.RandomPolicy(6), 1000, out, capacity=128, progress=False)
    assert resumed["complete"] and sum(e["length"] for e in resumed["episodes"]) <= 1000
