"""The training data a config names: where it lies, making it when it is collected here."""

from __future__ import annotations

import json
import pathlib

from scaledql import envs
from scaledql.configs import Config
from scaledql.data.collect import RandomPolicy, collect
from scaledql.data.run import RunData, cache_root
from scaledql.data.subsets import open_game_runs, run_dir


def dataset_root(config: Config) -> pathlib.Path:
    """`data.root`, or the default: one folder per collection recipe under the cache."""
    if config.data.root:
        return pathlib.Path(config.data.root).expanduser()
    if config.data.source == "dqn-replay":
        return cache_root() / "dqn-replay"
    d = config.data
    return cache_root() / "datasets" / f"{d.behaviour}-{d.steps_per_game}-{d.capacity}"


def describe(config: Config) -> dict:
    """What a run record says about its data: source, recipe, subset, runs."""
    d = config.data
    about = {
        "source": d.source,
        "subset": d.subset,
        "runs": list(d.runs),
        "games": list(config.games),
    }
    if d.source == "collected":
        about["collected_with"] = (
            f"scaledql collect --policy {d.behaviour} --steps {d.steps_per_game} "
            f"--capacity {d.capacity} --seed RUN (ale-py, DQN Replay settings)"
        )
    else:
        about["collected_with"] = (
            "the DQN Replay Dataset (Agarwal et al. 2020), gs://atari-replay-datasets/dqn"
        )
    return about


def ensure_collected(config: Config, progress: bool = True) -> None:
    """Collects every missing or unfinished run of a `collected` config's recipe."""
    if config.data.source != "collected":
        return
    from scaledql.agents import make_policy

    for game in config.games:
        for run in config.data.runs:
            out = run_dir(dataset_root(config), game, run)
            log = out / "collection.json"
            if log.exists() and json.loads(log.read_text()).get("complete"):
                continue
            steps = config.data.steps_per_game
            if config.data.behaviour == "random":
                policy = RandomPolicy(envs.num_actions(game), seed=run)
            else:
                policy = make_policy("dqn", game, steps, seed=run)
            collect(
                game, policy, steps, out, capacity=config.data.capacity, seed=run, progress=progress
            )


def open_training_data(config: Config, progress: bool = True) -> list[list[RunData]]:
    """runs[g]: the opened subset of every run of game g (collected first if need be)."""
    ensure_collected(config, progress)
    root = dataset_root(config)
    return [
        open_game_runs(root, game, config.data.runs, config.data.subset) for game in config.games
    ]
