"""Online fine-tuning in ALE and on the twin: the exploration schedule, a frozen pre-trained
encoder, kill and resume, the game variant played."""

import functools

import jax
import numpy as np
import pytest

from scaledql import agents, checkpoints, configs, data, learner, online, pipeline
from scaledql.agents import minatar_dqn


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path / "results"))


ONLINE = [
    "games=Breakout",
    "online.agent_steps=300",
    "online.mode=12",
    "online.difficulty=0",
    "online.warmup=50",
    "online.epsilon_decay=100",
    "online.replay_capacity=100",
]


def smoke(*settings):
    return configs.override(configs.preset("smoke"), list(settings))


def online_learner(config):
    state = learner.create_train_state(config, learner.random_params(config))
    return agents.OnlineLearner(config, state, "t")


def test_epsilon_is_one_in_the_warmup_then_falls_linearly_to_its_floor():
    config = smoke(
        *ONLINE, "online.warmup=10", "online.epsilon_decay=20", "online.epsilon_final=0.1"
    )
    schedule = online_learner(config).epsilon_at
    # by hand: 1 - 0.9 * (step - 10) / 20 between steps 10 and 30
    expected = {0: 1.0, 9: 1.0, 10: 1.0, 20: 0.55, 25: 0.325, 30: 0.1, 1000: 0.1}
    assert {step: round(schedule(step), 10) for step in expected} == expected


def test_an_online_run_plays_one_game_with_one_step_q_learning():
    with pytest.raises(ValueError, match="an online run plays one game"):
        smoke("online.agent_steps=10")
    with pytest.raises(ValueError, match="set loss.n_step=1"):
        online_learner(smoke(*ONLINE, "loss.n_step=3"))
    with pytest.raises(ValueError, match="online.agent_steps is 0"):
        online.train_online(smoke("games=Breakout"), "unused", progress=False)


def test_the_learning_curve_counts_agent_steps_and_frames_at_each_episodes_end():
    episodes = [{"return": 2.0, "length": 100}, {"return": 0.0, "length": 50}]
    assert online.learning_curve(episodes, frames_per_step=4) == [
        {"agent_steps": 100, "frames": 400, "return": 2.0},
        {"agent_steps": 150, "frames": 600, "return": 0.0},
    ]


def updates_in(config) -> int:
    """Gradient steps an online run takes, counted by hand: one at every agent step s in
    [warmup, agent_steps] that is a multiple of the update period."""
    o = config.online
    return sum(1 for s in range(1, o.agent_steps + 1) if s >= o.warmup and s % o.update_period == 0)


class Killed(Exception):
    pass


@pytest.mark.slow
def test_a_killed_online_run_resumes_from_its_checkpoint_with_the_learners_state(
    tmp_path, monkeypatch
):
    config = smoke(*ONLINE)
    real = agents.OnlineLearner.observe

    def dies_at_250(self, writer, step):
        if step == 250:
            raise Killed
        real(self, writer, step)

    monkeypatch.setattr(agents.OnlineLearner, "observe", dies_at_250)
    with pytest.raises(Killed):
        online.train_online(config, tmp_path / "run", progress=False)
    monkeypatch.setattr(agents.OnlineLearner, "observe", real)
    result = online.train_online(config, tmp_path / "run", progress=False)
    assert result.resumed_from is not None and 100 <= result.resumed_from < 250
    # the restored learner had taken the updates before its checkpoint: none lost or repeated
    assert result.gradient_steps == updates_in(config) == 63


@pytest.mark.slow
def test_online_finetuning_from_a_frozen_pretrained_encoder_moves_only_the_rest():
    pretrained = pipeline.run_or_load(smoke(), progress=False)  # Pong and Breakout, mode 0
    source = {
        jax.tree_util.keystr(p): np.asarray(v)
        for p, v in jax.tree.leaves_with_path(checkpoints.load_params(smoke()))
    }
    config = smoke(
        *ONLINE, f"finetune.pretrained={pretrained['config_hash']}", "finetune.encoder=frozen"
    )
    workdir = checkpoints.default_workdir(config)
    start = functools.partial(pipeline.initial_params, config)
    params = online.train_online(config, workdir, start, progress=False).params
    tuned = {jax.tree_util.keystr(p): np.asarray(v) for p, v in jax.tree.leaves_with_path(params)}
    encoder = [k for k in tuned if k.startswith(("['encoder']", "['readout']"))]
    assert encoder
    for key in encoder:
        np.testing.assert_array_equal(tuned[key], source[key])
    fresh = learner.random_params(config)
    assert not np.array_equal(
        tuned["['head_Breakout']['kernel']"], fresh["head_Breakout"]["kernel"]
    )

    record = pipeline.run_or_load(config, progress=False)  # resumes the finished run
    assert record["data"]["source"] == "online" and record["data"]["mode"] == 12
    assert record["data"]["frames"] == 1200 and set(record["scores"]) == {"Breakout"}
    assert record["provenance"]["wall_time_s"]["resumed_from_agent_step"] is not None
    assert record["provenance"]["command"].startswith("scaledql train --preset smoke")


# --- the twin: the behaviour DQN's jitted loop, playing a package config -----------------------
TWIN_ONLINE = [
    "games=minatar/Breakout",
    "online.agent_steps=2500",
    "online.mode=1",  # bricks hidden except on a hit
    "online.warmup=500",
    "online.epsilon_decay=1000",
    "online.replay_capacity=1000",
]


def twin(*settings):
    return configs.override(configs.preset("twin-smoke"), list(settings))


def test_a_twin_online_run_names_a_mode_of_its_game_and_no_difficulty(tmp_path):
    twin(*TWIN_ONLINE)  # accepted
    with pytest.raises(ValueError, match="no mode 3; valid modes: 0"):
        twin(*TWIN_ONLINE, "online.mode=3")
    with pytest.raises(ValueError, match="no difficulties; set online.difficulty=none"):
        twin(*TWIN_ONLINE, "online.difficulty=0")
    with pytest.raises(ValueError, match="multiple of 10000"):
        online.train_online(twin(*TWIN_ONLINE, "online.replay_capacity=15000"), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.slow
def test_a_killed_twin_online_run_resumes_keeps_its_frozen_encoder_and_plays_its_variant(
    monkeypatch,
):
    config = twin(*TWIN_ONLINE, "finetune.pretrained=0123456789ab", "finetune.encoder=frozen")
    source = learner.random_params(configs.override(config, ["seed=7"]))
    # copied first: the jitted loop donates the parameters it starts from
    given = {jax.tree_util.keystr(p): np.array(v) for p, v in jax.tree.leaves_with_path(source)}
    workdir = checkpoints.default_workdir(config)
    real = minatar_dqn._save_state

    def dies_after_first_checkpoint(*args):
        real(*args)
        raise Killed

    monkeypatch.setattr(minatar_dqn, "_save_state", dies_after_first_checkpoint)
    with pytest.raises(Killed):
        online.train_online(config, workdir, lambda: source, progress=False)
    monkeypatch.setattr(minatar_dqn, "_save_state", real)
    # a resumed run restores its own parameters: it must not ask for the pre-trained ones
    result = online.train_online(config, workdir, None, progress=False)
    assert result.resumed_from == 999  # checkpoints fall on add counts k * capacity - 1
    assert result.gradient_steps == updates_in(config) == 501
    last = result.learning_curve[-1]
    assert last["frames"] == last["agent_steps"] <= 2500  # the twin has no frame skip

    tuned = {
        jax.tree_util.keystr(p): np.asarray(v) for p, v in jax.tree.leaves_with_path(result.params)
    }
    encoder = [k for k in tuned if k.startswith("['encoder']")]
    assert encoder
    for key in encoder:
        np.testing.assert_array_equal(tuned[key], given[key])
    assert not np.array_equal(
        tuned["['head_minatar/Breakout']['kernel']"], given["['head_minatar/Breakout']['kernel']"]
    )

    # it played mode 1: the brick channel (3) shows only on the frames where the ball hits one,
    # where the default game shows a wall of bricks on every frame
    run = data.open_run(workdir / "replay")
    bricks = run.frames(np.arange(run.num_rows))[..., 3].sum(axis=(1, 2))
    assert run.num_rows == 2500 and (bricks == 0).mean() > 0.9

    record = pipeline.run_or_load(config, progress=False)  # finds the finished run
    assert record["data"]["mode"] == 1 and record["data"]["frames"] == 2500
    # the replay's last checkpoint (capacity 1,000, written at 2,500 rows) holds rows 1500-2499
    played = np.bincount(run.action[1500:], minlength=3) / 1000
    np.testing.assert_allclose(record["data"]["final_action_shares"], played)
    assert set(record["scores"]) == {"minatar/Breakout"}
