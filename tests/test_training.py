"""Training end to end: records, resume after a kill, data parallelism, NaN stop, learning."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaledql import configs, data, losses, networks, results, scores, train
from scaledql.data import format as fmt

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path / "results"))


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def half_bright(left: bool, rng) -> np.ndarray:
    frame = rng.integers(0, 30, fmt.FRAME_SHAPE, dtype=np.uint8)
    frame[:, :42] += 200 if left else 0
    frame[:, 42:] += 0 if left else 200
    return frame


def synthetic_runs(tmp_path, games=("Pong", "Breakout"), episodes=6, length=40):
    """Runs whose behaviour policy is fixed and known: action 1 when the left half of the
    screen is bright, 3 when the right half is (a spatial cue: GroupNorm erases brightness)."""
    rng = np.random.default_rng(0)
    runs = []
    for game in games:
        writer = data.ReplayWriter(tmp_path / "synthetic" / game, capacity=64)
        for _ in range(episodes):
            for t in range(length):
                left = rng.random() < 0.5
                writer.add(half_bright(left, rng), 1 if left else 3, 0.0, t == length - 1)
        writer.close()
        runs.append([data.open_run(tmp_path / "synthetic" / game)])
    return runs


def smoke(*settings):
    return configs.override(configs.preset("smoke"), list(settings))


def test_smoke_preset_trains_checkpoints_evaluates_and_records(monkeypatch):
    config = smoke()
    record = results.run_or_load(config, progress=False)
    path = results.record_path(config)
    assert path.exists() and json.loads(path.read_text()) == record
    assert record["config_hash"] == configs.config_hash(config)
    assert set(record["scores"]) == {"Pong", "Breakout"}
    assert all(len(s["returns"]) == config.eval.episodes for s in record["scores"].values())
    assert record["learning_curve"][-1]["step"] == config.train.num_steps
    assert record["provenance"]["command"] == "scaledql train --preset smoke"
    assert record["provenance"]["git_commit"] and record["provenance"]["jax"] == jax.__version__
    assert record["data"]["source"] == "collected" and "meaningless" in record["scale"]
    assert (data.cache_root() / "train" / record["config_hash"] / "checkpoints").is_dir()

    def no_training(*args, **kwargs):
        raise AssertionError("a stored record must be reused")

    monkeypatch.setattr(train, "train", no_training)
    assert results.run_or_load(config, progress=False) == record


class Killed(Exception):
    pass


# BC logs no TD loss or CQL term: its metrics file has empty cells to read back on resume
@pytest.mark.parametrize("loss", ["c51", "bc"])
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path, loss):
    runs = synthetic_runs(tmp_path)
    config = smoke(
        "train.num_steps=20", "train.checkpoint_every=10", "train.log_every=5", f"loss.kind={loss}"
    )
    whole = train.train(config, tmp_path / "whole", runs=runs, progress=False)

    def kill_at_15(step, metrics):
        if step == 15:
            raise Killed

    with pytest.raises(Killed):
        train.train(config, tmp_path / "killed", runs=runs, progress=False, callback=kill_at_15)
    resumed = train.train(config, tmp_path / "killed", runs=runs, progress=False)
    assert resumed.resumed_from == 10
    for a, b in zip(leaves(whole.state), leaves(resumed.state), strict=True):
        np.testing.assert_array_equal(a, b)
    strip = [{k: v for k, v in row.items() if k != "steps_per_s"} for row in whole.metrics]
    assert strip == [{k: v for k, v in r.items() if k != "steps_per_s"} for r in resumed.metrics]


def test_nan_stops_the_run_naming_the_step_and_last_good_checkpoint(tmp_path, monkeypatch):
    runs = synthetic_runs(tmp_path)
    config = smoke("train.num_steps=10", "train.checkpoint_every=10", "train.log_every=5")
    train.train(config, tmp_path / "run", runs=runs, progress=False)
    real = train.objective

    def poisoned(*args, **kwargs):
        loss, metrics = real(*args, **kwargs)
        return loss * jnp.nan, {**metrics, "loss": loss * jnp.nan}

    monkeypatch.setattr(train, "objective", poisoned)
    longer = configs.override(config, ["train.num_steps=20"])
    with pytest.raises(
        FloatingPointError, match=r"gradient step 11.*last good checkpoint is step 10"
    ):
        train.train(longer, tmp_path / "run", runs=runs, progress=False)


@pytest.mark.slow
def test_two_devices_match_one(tmp_path):
    code = f"""
import jax, numpy as np, pathlib, sys
sys.path.insert(0, {str(ROOT / "tests")!r})
from test_training import synthetic_runs
from scaledql import configs, train
assert jax.device_count() == int(sys.argv[1])
config = configs.override(configs.preset("smoke"), ["train.num_steps=6", "train.log_every=3",
                                                    "train.checkpoint_every=6"])
tmp = pathlib.Path(sys.argv[2])
state = train.train(config, tmp / "work", runs=synthetic_runs(tmp), progress=False).state
np.savez(tmp / "params.npz", *[np.asarray(x) for x in jax.tree.leaves(state.params)])
"""
    outputs = []
    for devices in (1, 2):
        out = tmp_path / f"d{devices}"
        out.mkdir()
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        subprocess.run(
            [sys.executable, "-c", code, str(devices), str(out)], env=env, check=True, timeout=300
        )
        with np.load(out / "params.npz") as params:
            outputs.append([params[k] for k in params.files])
    for one, two in zip(*outputs, strict=True):
        np.testing.assert_allclose(one, two, rtol=2e-4, atol=2e-6)


@pytest.mark.slow
def test_bc_and_cql_recover_a_known_deterministic_policy(tmp_path):
    runs = synthetic_runs(tmp_path)
    rng = np.random.default_rng(99)  # new states of each kind, stacked as the replay does
    held = np.stack(
        [np.stack([half_bright(left, rng) for _ in range(4)], -1) for left in (True, False) * 2]
    )
    game_ids = jnp.array([0, 0, 1, 1])
    for kind in ("bc", "c51"):
        config = smoke(
            f"loss.kind={kind}",
            "loss.cql_alpha=1.0",
            "train.num_steps=150",
            "train.batch_size=32",
            "train.learning_rate=1e-3",
            "train.log_every=50",
            "train.checkpoint_every=150",
        )
        state = train.train(config, tmp_path / kind, runs=runs, progress=False).state
        out = networks.build_qnetwork(config).apply({"params": state.params}, held, game_ids)
        masks = jnp.asarray(networks.action_masks(config.games))[game_ids]
        chosen = np.asarray(losses.greedy_actions(out.q_values, masks))
        np.testing.assert_array_equal(chosen, [1, 3, 1, 3], err_msg=kind)


def test_aggregates_agree_with_rliable_called_directly():
    from rliable import library as rly
    from rliable import metrics

    rng = np.random.default_rng(0)
    score_dict = {"a": rng.normal(1, 0.5, (3, 10)), "b": rng.normal(0.5, 0.5, (3, 10))}
    ours = scores.aggregate(score_dict, reps=2000, seed=7)
    funcs = [metrics.aggregate_iqm, metrics.aggregate_median, metrics.aggregate_mean]
    for metric, func in zip(scores.METRICS, funcs, strict=True):
        np.random.seed(7)  # rliable resamples from numpy's global stream
        points, intervals = rly.get_interval_estimates(
            score_dict, lambda s, f=func: np.array([f(s)]), reps=2000
        )
        for method in score_dict:
            point, low, high = ours[method][metric]
            assert point == pytest.approx(points[method][0])  # point estimates: exact
            assert low <= point <= high
            # intervals: the same resamples, drawn from the same seed
            assert (low, high) == pytest.approx(tuple(intervals[method][:, 0]), rel=1e-12)
    # IQM by hand: the mean of the middle half of the 30 scores
    flat = np.sort(score_dict["a"].ravel())
    assert ours["a"]["IQM"][0] == pytest.approx(flat[7:23].mean(), rel=0.02)


def test_normalisation_and_the_missing_pooyan_score():
    assert scores.normalized_score("Pong", 14.6) == pytest.approx(1.0)
    assert scores.normalized_score("Pong", -20.7) == pytest.approx(0.0)
    assert scores.normalized_score("Breakout", 96.23, "dqn") == pytest.approx(1.0)
    human, missing = scores.normalize({"Pooyan": [400.0], "Pong": [-3.05]})
    assert missing == ["Pooyan"] and human == {"Pong": pytest.approx(0.5)}
    assert len(scores.reference_scores()) == 45


def test_performance_profile_is_the_fraction_of_scores_above_tau():
    score_dict = {"a": np.array([[0.1, 0.5, 0.9, 1.5], [0.2, 0.6, 1.1, 2.0]])}
    taus = np.array([0.0, 0.55, 1.0, 3.0])
    profiles, _ = scores.performance_profiles(score_dict, taus, reps=50)
    by_hand = [(score_dict["a"] > tau).mean() for tau in taus]  # 8/8, 5/8, 3/8, 0/8
    np.testing.assert_allclose(profiles["a"], by_hand)
