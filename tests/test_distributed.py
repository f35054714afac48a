"""One run over several processes (`scaledql.distributed`): two local CPU processes, one device
each, joined through JAX's gloo collectives, against one process with two devices."""

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from scaledql import checkpoints, configs, pipeline

# the smoke preset on a small encoder, whose programs compile in seconds
SETTINGS = [
    "network.encoder=nature", "network.width=0.25", "train.checkpoint_every=2",
    "train.log_every=2", "eval.max_frames=400",
]  # fmt: skip
SMOKE = ["--preset", "smoke"] + [arg for s in SETTINGS for arg in ("--set", s)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    """A data cache holding the smoke preset's data, collected once for every process."""
    root = tmp_path_factory.mktemp("distributed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SCALEDQL_CACHE", str(root / "cache"))
        patch.setenv("SCALEDQL_COLLECTIONS", str(root / "collections"))
        pipeline.open_training_data(configs.preset("smoke"), progress=False)
    return root


def environment(storage: pathlib.Path, results: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(
        SCALEDQL_CACHE=str(storage / "cache"),
        SCALEDQL_COLLECTIONS=str(storage / "collections"),
        SCALEDQL_RESULTS=str(storage / results),
        JAX_PLATFORMS="cpu",
    )
    env.update(extra)
    return env


def run_together(commands: list[tuple[list[str], dict]], timeout: float = 240) -> list:
    """Starts every (args, env) `scaledql` process at once and waits for all of them; kills
    those still running when one fails to finish in time, or the test stops."""
    processes = []
    try:
        for args, env in commands:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "scaledql.cli", *args],
                    env=env,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        outputs = [p.communicate(timeout=timeout) for p in processes]
        return [(p.returncode, *output) for p, output in zip(processes, outputs, strict=True)]
    finally:
        for p in processes:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait()


def pair(args: list[str], envs: list[dict]) -> list[tuple[list[str], dict]]:
    """The two processes of one run: the same command, each with its own process id."""
    port = free_port()
    joined = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    return [([*args, *joined, "--process-id", str(i)], env) for i, env in enumerate(envs)]


def test_two_processes_train_and_resume_as_one_process_with_two_devices(storage):
    """The same global batches give the same parameters and scores; the pair's run, stopped at
    step 2 and resumed to step 4, ends where the uninterrupted one does; process 0 alone
    writes the record."""
    two_devices = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    reference = (
        ["train", *SMOKE, "--set", "train.num_steps=4", "--workdir", str(storage / "one")],
        environment(storage, "results-one", **two_devices),
    )
    shared = environment(storage, "results-two")

    def two_processes(steps: int):
        args = ["train", *SMOKE, "--set", f"train.num_steps={steps}"]
        return pair([*args, "--workdir", str(storage / "two")], [shared, shared])

    started = time.perf_counter()
    outcomes = run_together(two_processes(2))  # stops at step 2's checkpoint
    print(f"round 1 {time.perf_counter() - started:.1f} s")
    outcomes += run_together([reference, *two_processes(4)])  # resumes from it
    print(f"round 2 {time.perf_counter() - started:.1f} s")
    for code, _, err in outcomes:
        assert code == 0, err[-3000:]
    config = configs.override(configs.preset("smoke"), [*SETTINGS, "train.num_steps=4"])
    one = checkpoints.load_params(config, storage / "one")
    two = checkpoints.load_params(config, storage / "two")  # written by two processes
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(two), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

    name = f"{configs.config_hash(config)}.json"
    record_one = json.loads(next((storage / "results-one").rglob(name)).read_text())
    record_two = json.loads(next((storage / "results-two").rglob(name)).read_text())
    assert record_two["provenance"]["wall_time_s"]["resumed_from_step"] == 2
    assert {g: s["returns"] for g, s in record_two["scores"].items()} == {
        g: s["returns"] for g, s in record_one["scores"].items()
    }
    assert "Pong" in outcomes[-2][1] and "Pong" not in outcomes[-1][1]  # process 0 prints it


def test_an_uneven_batch_or_a_host_without_data_stops_every_process(storage, tmp_path):
    """Both processes stop with one message naming the host at fault and the fix, before
    anything is written."""
    shared = environment(storage, "results-bad")
    uneven = pair(
        ["train", *SMOKE, "--set", "train.batch_size=9", "--workdir", str(tmp_path / "uneven")],
        [shared, shared],
    )
    no_data = environment(storage, "results-bad", SCALEDQL_CACHE=str(tmp_path / "empty"))
    missing = pair(["train", *SMOKE, "--workdir", str(tmp_path / "missing")], [shared, no_data])
    outcomes = run_together(uneven + missing)
    for code, _, err in outcomes[:2]:
        assert code == 2
        assert "train.batch_size=9 does not split over 2 devices of 2 processes" in err
        assert "set train.batch_size to a multiple of 2" in err
    for code, _, err in outcomes[2:]:
        assert code == 2
        assert "process 1 of 2" in err and "no data for Pong run 1" in err
        assert "process 0 of 2" not in err
    assert not (tmp_path / "uneven").exists() and not (tmp_path / "missing").exists()
    assert not (storage / "results-bad").exists()
