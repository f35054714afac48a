"""The offline training loop and the pipeline around it: records, resume after a kill, data
parallelism, NaN stop, learning a known policy."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaledql import configs, data, learner, losses, networks, offline, pipeline, records
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
    record = pipeline.run_or_load(config, progress=False)
    path = records.record_path(config)
    assert path.exists() and json.loads(path.read_text()) == record
    assert record["config_hash"] == configs.config_hash(config)
    assert set(record["scores"]) == {"Pong", "Breakout"}
    assert all(len(s["returns"]) == config.eval.episodes for s in record["scores"].values())
    assert record["learning_curve"][-1]["step"] == config.train.num_steps
    assert record["provenance"]["command"] == "scaledql train --preset smoke"
    assert record["provenance"]["git_commit"] and record["provenance"]["jax"] == jax.__version__
    # what XLA:CPU's numbers depend on: the cores the process may use, its XLA flags
    assert record["provenance"]["cpus_visible"] == len(os.sched_getaffinity(0))
    assert record["provenance"]["cpu"]  # the CPU model XLA compiled for
    assert record["provenance"]["xla_flags"] == os.environ.get("XLA_FLAGS")
    assert record["data"]["source"] == "collected" and "meaningless" in record["scale"]
    assert (data.cache_root() / "train" / record["config_hash"] / "checkpoints").is_dir()

    def no_training(*args, **kwargs):
        raise AssertionError("a stored record must be reused")

    monkeypatch.setattr(offline, "train_offline", no_training)
    assert pipeline.run_or_load(config, progress=False) == record


# BC logs no TD loss or CQL term: its metrics file has empty cells to read back on resume
@pytest.mark.parametrize("loss", ["c51", "bc"])
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path, loss, killed_and_resumed):
    config = smoke(
        "train.num_steps=20", "train.checkpoint_every=10", "train.log_every=5", f"loss.kind={loss}"
    )
    killed_and_resumed(config, synthetic_runs(tmp_path))


def test_nan_stops_the_run_naming_the_step_and_last_good_checkpoint(tmp_path, monkeypatch):
    runs = synthetic_runs(tmp_path)
    config = smoke("train.num_steps=10", "train.checkpoint_every=10", "train.log_every=5")
    offline.train_offline(config, tmp_path / "run", runs, progress=False)
    real = learner.objective

    def poisoned(*args, **kwargs):
        loss, metrics = real(*args, **kwargs)
        return loss * jnp.nan, {**metrics, "loss": loss * jnp.nan}

    monkeypatch.setattr(learner, "objective", poisoned)
    longer = configs.override(config, ["train.num_steps=20"])
    with pytest.raises(
        FloatingPointError, match=r"gradient step 11.*last good checkpoint is step 10"
    ):
        offline.train_offline(longer, tmp_path / "run", runs, progress=False)


@pytest.mark.slow
def test_two_devices_match_one(tmp_path):
    code = f"""
import jax, numpy as np, pathlib, sys
sys.path.insert(0, {str(ROOT / "tests")!r})
from test_offline_training import synthetic_runs
from scaledql import configs, offline
assert jax.device_count() == int(sys.argv[1])
config = configs.override(configs.preset("smoke"), ["train.num_steps=6", "train.log_every=3",
                                                    "train.checkpoint_every=6"])
tmp = pathlib.Path(sys.argv[2])
state = offline.train_offline(config, tmp / "work", synthetic_runs(tmp), progress=False).state
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
        state = offline.train_offline(config, tmp_path / kind, runs, progress=False).state
        out = networks.build_qnetwork(config).apply({"params": state.params}, held, game_ids)
        masks = jnp.asarray(networks.action_masks(config.games))[game_ids]
        chosen = np.asarray(losses.greedy_actions(out.q_values, masks))
        np.testing.assert_array_equal(chosen, [1, 3, 1, 3], err_msg=kind)
