"""Online fine-tuning: the exploration schedule, a frozen pre-trained encoder, kill and resume."""

import functools

import jax
import numpy as np
import pytest

from scaledql import agents, checkpoints, configs, learner, online, pipeline


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
    assert online.learning_curve(episodes) == [
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
    assert int(result.state.step) == updates_in(config) == 63


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
    state = online.train_online(config, workdir, start, progress=False).state
    tuned = {jax.tree_util.keystr(p): np.asarray(v) for p, v in jax.tree.leaves_with_path(state)}
    encoder = [k for k in tuned if k.startswith((".params['encoder']", ".params['readout']"))]
    assert encoder
    for key in encoder:
        np.testing.assert_array_equal(tuned[key], source[key.removeprefix(".params")])
    fresh = learner.random_params(config)
    assert not np.array_equal(
        tuned[".params['head_Breakout']['kernel']"], fresh["head_Breakout"]["kernel"]
    )

    record = pipeline.run_or_load(config, progress=False)  # resumes the finished run
    assert record["data"]["source"] == "online" and record["data"]["mode"] == 12
    assert record["data"]["frames"] == 1200 and set(record["scores"]) == {"Breakout"}
    assert record["provenance"]["wall_time_s"]["resumed_from_agent_step"] is not None
    assert record["provenance"]["command"].startswith("scaledql train --preset smoke")
