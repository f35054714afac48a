"""The MinAtar twin's environments against the original `minatar` package: action sets, channels,
sticky actions, episode ends; and its variants really change the game."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from minatar import Environment

from scaledql import configs, envs
from scaledql.envs import minatar

ORIGINAL_NAMES = {
    "minatar/Asterix": "asterix",
    "minatar/Breakout": "breakout",
    "minatar/Freeway": "freeway",
    "minatar/Seaquest": "seaquest",
    "minatar/SpaceInvaders": "space_invaders",
}


@pytest.mark.parametrize("game", minatar.ALL_GAMES)
def test_action_sets_and_channels_are_the_originals(game):
    original = Environment(ORIGINAL_NAMES[game])
    assert envs.num_actions(game) == len(original.minimal_action_set())
    assert minatar.CHANNELS[game] == original.state_shape()[2]
    env = minatar.TwinEnv(game)
    # our action i is the original's minimal action i, in the original's full-set numbering
    np.testing.assert_array_equal(np.asarray(env._env.action_set), original.minimal_action_set())
    obs, _ = env.reset(jax.random.key(0))
    assert obs.shape == (10, 10, original.state_shape()[2]) and obs.dtype == jnp.uint8


def test_sticky_action_probability_is_the_originals_default():
    default = inspect.signature(Environment).parameters["sticky_action_prob"].default
    assert minatar.STICKY_ACTION_PROB == default == 0.1


def paddle(obs) -> int:
    return int(np.flatnonzero(np.asarray(obs)[9, :, 0])[0])


def repeat_rate(step, obs, actions) -> float:
    """How often Breakout's paddle moved the way of the previous move instead of the way it was
    sent, among the steps where the two differ: the sticky-action probability."""
    repeated = chances = 0
    previous = None
    for sent in actions:
        before = paddle(obs)
        obs = step(sent)
        moved = paddle(obs) - before
        if previous is not None and 1 <= before <= 8 and moved and sent != previous:
            chances += 1
            repeated += (moved > 0) == (previous == 2)
        previous = 2 if moved > 0 else 1 if moved < 0 else previous
    return repeated / chances


def test_sticky_actions_repeat_as_often_as_in_the_original():
    rng = np.random.default_rng(0)
    # keep the paddle off the walls: mostly alternate, with random runs
    actions = [int(a) for a in rng.choice([1, 2], 3000)]
    original = Environment("breakout")
    original.seed(0)
    original.reset()
    full = original.minimal_action_set()

    def step_original(a):
        _, terminal = original.act(full[a])
        if terminal:  # the original does not reset by itself
            original.reset()
        return original.state()

    theirs = repeat_rate(step_original, original.state(), actions)

    env = minatar.TwinEnv("minatar/Breakout")
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.key(0))
    keys = iter(jax.random.split(jax.random.key(1), len(actions)))

    def step_twin(a):
        nonlocal state
        next_obs, state, *_ = step(next(keys), state, a)
        return next_obs

    ours = repeat_rate(step_twin, obs, actions)
    # both estimate 0.1 from about 1,000 chances each (standard error about 0.01)
    assert ours == pytest.approx(0.1, abs=0.035) and theirs == pytest.approx(0.1, abs=0.035)


def episode_length(step, limit=6000) -> int:
    for t in range(1, limit + 1):
        if step():
            return t
    raise AssertionError(f"no terminal in {limit} steps")


def test_freeway_ends_with_a_terminal_after_as_many_steps_as_in_the_original():
    original = Environment("freeway", sticky_action_prob=0.0)
    original.seed(0)
    original.reset()
    theirs = episode_length(lambda: original.act(0)[1])
    env = minatar.TwinEnv("minatar/Freeway", sticky_action_prob=0.0)
    step = jax.jit(env.step)
    _, state = env.reset(jax.random.key(0))
    key = jax.random.key(1)

    def ours():
        nonlocal state, key
        key, sub = jax.random.split(key)
        _, state, _, terminal, truncated = step(sub, state, 0)
        assert not truncated
        return bool(terminal)

    assert episode_length(ours) == theirs == minatar.FREEWAY_TIME_LIMIT + 1


def test_no_episode_is_cut_at_gymnaxs_1000_steps():
    env = minatar.TwinEnv("minatar/Asterix")
    _, state = env.reset(jax.random.key(0))
    late = state._replace(game=state.game.replace(time=1000), steps=jnp.asarray(1000))
    _, after, _, terminal, truncated = env.step(jax.random.key(3), late, 0)
    assert not truncated and (bool(terminal) or int(after.steps) == 1001)
    assert minatar.MAX_EPISODE_STEPS >= 100 * 1000


def frames_after(env, steps, action=0):
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.key(0))
    frames = [obs]
    for key in jax.random.split(jax.random.key(1), steps):
        obs, state, *_ = step(key, state, action)
        frames.append(obs)
    return np.stack(frames)


@pytest.mark.parametrize(("game", "action"), [("minatar/Asterix", 0), ("minatar/Freeway", 1),
                                               ("minatar/SpaceInvaders", 0),
                                               ("minatar/Breakout", 0)])  # fmt: skip
def test_each_variant_changes_the_game(game, action):
    default = frames_after(minatar.TwinEnv(game), 60, action)
    changed = frames_after(minatar.TwinEnv(game, mode=1), 60, action)
    assert default.shape == changed.shape and not np.array_equal(default, changed)


def test_breakouts_variant_hides_the_bricks_unless_one_is_hit():
    frames = frames_after(minatar.TwinEnv("minatar/Breakout", mode=1), 30)
    assert frames[0, ..., 3].sum() == 0  # the default game shows 30 bricks at the start
    assert frames_after(minatar.TwinEnv("minatar/Breakout"), 0)[0, ..., 3].sum() == 30


def test_unknown_twin_games_and_modes_name_the_valid_ones():
    with pytest.raises(ValueError, match="valid games: minatar/Asterix, minatar/Breakout"):
        envs.check_game("minatar/Pong")
    with pytest.raises(ValueError, match="no mode 7; valid modes: 0 \\(default\\); mode 1"):
        minatar.TwinEnv("minatar/Freeway", mode=7)
    assert minatar.game_variants("minatar/Seaquest") == [0]


def test_a_run_cannot_mix_the_two_families():
    with pytest.raises(ValueError, match="mixes ALE games with MinAtar twin games"):
        configs.override(configs.preset("smoke"), ["games=Pong,minatar/Breakout"])
    assert envs.state_shape(["minatar/Breakout", "minatar/Seaquest"]) == (10, 10, 10)
    assert envs.state_shape(["Pong"]) == (84, 84, 4)


def test_the_twin_network_family_spans_two_orders_of_magnitude_from_shapes():
    from scaledql import networks

    twin = configs.preset("twin")
    assert twin.games == minatar.ALL_GAMES and envs.state_shape(twin.games) == (10, 10, 10)

    def encoder(name, width):
        config = configs.override(twin, [f"network.encoder={name}", f"network.width={width}"])
        return networks.param_breakdown(config)["encoder"]

    # by hand: the MinAtar DQN's one 3x3 conv from 10 (padded) channels to 16, with biases,
    # then the learned spatial embedding's (10, 10, 16, F=8) kernel over the kept 10x10 grid
    assert encoder("minatar_dqn", 1) == 3 * 3 * 10 * 16 + 16 + 10 * 10 * 16 * 8
    assert encoder("impala", 0.25) < 100_000 < 10_000_000 < encoder("resnet50", 1)


def test_twin_settings_that_cannot_work_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="nature needs 84x84 frames"):
        configs.override(configs.preset("twin"), ["network.encoder=nature"])
    with pytest.raises(ValueError, match="no difficulties; set online.difficulty=none"):
        configs.override(
            configs.preset("twin"),
            ["games=minatar/Freeway", "online.agent_steps=10", "online.difficulty=0"],
        )
    with pytest.raises(ValueError, match="DQN Replay Dataset holds ALE games only"):
        configs.override(configs.preset("twin"), ["data.source=dqn-replay"])
    with pytest.raises(ValueError, match="set eval.sticky_action_prob=0.1"):
        configs.override(configs.preset("twin"), ["eval.sticky_action_prob=0.25"])
    with pytest.raises(ValueError, match="preset 'smoke' is made for Atari"):
        configs.override(configs.preset("smoke"), ["games=minatar/Breakout"])


def test_twin_evaluation_at_random_matches_the_original_and_stops_at_its_cap():
    from minatar import Environment

    from scaledql import evaluate, learner

    config = configs.override(
        configs.preset("twin-smoke"),
        ["games=minatar/Breakout,minatar/Freeway", "eval.max_frames=500"],
    )
    params = learner.random_params(config)
    # 256 random episodes of lengths 10 to 100 or so: the batch shrinks several times
    ours = evaluate.twin_returns(config, params, "minatar/Breakout", 256, epsilon=1.0)
    env = Environment("breakout", sticky_action_prob=0.1)
    env.seed(0)
    actions, rng, original = env.minimal_action_set(), np.random.default_rng(0), []
    for _ in range(1000):
        env.reset()
        total, terminal = 0.0, False
        while not terminal:
            reward, terminal = env.act(actions[rng.integers(len(actions))])
            total += reward
        original.append(total)
    error = np.sqrt(np.var(ours) / len(ours) + np.var(original) / len(original))
    assert abs(np.mean(ours) - np.mean(original)) < 4 * error
    # Freeway's episodes last 2,501 steps: all 8 stop at the 500-step cap instead
    capped = evaluate.twin_returns(config, params, "minatar/Freeway", 8, epsilon=1.0)
    assert capped.shape == (8,) and np.all(np.isfinite(capped))


@pytest.mark.slow
def test_a_twin_smoke_run_collects_trains_evaluates_and_records(tmp_path, monkeypatch):
    from scaledql import pipeline, records

    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SCALEDQL_COLLECTIONS", str(tmp_path / "collections"))
    config = configs.override(configs.preset("twin-smoke"), ["data.behaviour=dqn"])
    record = pipeline.run_or_load(config, progress=False)
    assert set(record["scores"]) == {"minatar/Breakout", "minatar/Asterix"}
    assert all(len(s["returns"]) == 5 for s in record["scores"].values())
    behaviour = record["data"]["behaviour_mean_return"]
    assert set(behaviour) == set(config.games) and all(v is not None for v in behaviour.values())
    assert record["provenance"]["command"].startswith("scaledql train --preset twin-smoke")
    assert "online DQN" in record["data"]["collected_with"]
    summary = records.load_collection("dqn-3000-1000", "minatar/Breakout", 1)
    assert len(summary["final_returns"]) == len(summary["random_returns"]) == 100
    assert summary["provenance"]["command"].startswith("scaledql collect --game minatar/Breakout")
