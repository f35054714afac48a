"""The training data a config names: where it lies, making it when it is collected here."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import numpy as np

from scaledql.configs import Config
from scaledql.data.collect import Policy, clipped_episode_returns, collect, read_log
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


def missing_runs(config: Config) -> list[tuple[str, int]]:
    """(game, run) of every run of a `collected` config's recipe not yet fully collected."""
    if config.data.source != "collected":
        return []
    missing = []
    for game in config.games:
        for run in config.data.runs:
            log = read_log(run_dir(dataset_root(config), game, run))
            if not (log and log.get("complete")):
                missing.append((game, run))
    return missing


def collect_missing(
    config: Config, make_policy: Callable[[str, int], Policy], progress: bool = True
) -> None:
    """Collects every missing or unfinished run of a `collected` config's recipe.

    make_policy(game, run) gives the behaviour policy of one run (a factory, because the `dqn`
    behaviour is a learner, which lives above this package).
    """
    for game, run in missing_runs(config):
        out = run_dir(dataset_root(config), game, run)
        policy = make_policy(game, run)
        steps, capacity = config.data.steps_per_game, config.data.capacity
        collect(game, policy, steps, out, capacity=capacity, seed=run, progress=progress)


def open_dataset(config: Config) -> list[list[RunData]]:
    """runs[g]: the opened subset of every run of game g (`config.games` order)."""
    root = dataset_root(config)
    return [
        open_game_runs(root, game, config.data.runs, config.data.subset) for game in config.games
    ]


def behaviour_returns(config: Config, runs: list[list[RunData]]) -> dict[str, float | None]:
    """Mean return of the behaviour policy's episodes in the data each game trained on.

    Unclipped from the collection log for data made here (the episodes that end inside the
    rows used); the mean clipped return for data from elsewhere, whose raw returns are unknown.
    """
    out = {}
    for game, game_runs in zip(config.games, runs, strict=True):
        values = []
        for run in game_runs:
            log = read_log(run.run_dir)
            episodes = int(run.terminal.sum())
            if log is not None and run.checkpoints[0].first_row == 0 and episodes:
                values += [e["return"] for e in log["episodes"][:episodes]]
            else:
                values += list(clipped_episode_returns(run))
        out[game] = float(np.mean(values)) if values else None
    return out
