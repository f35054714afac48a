"""The training data a config names: where it lies, making it when it is collected here."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import numpy as np

from scaledql import envs
from scaledql.configs import Config
from scaledql.data import format as fmt
from scaledql.data.collect import clipped_episode_returns, read_log
from scaledql.data.run import RunData, cache_root
from scaledql.data.subsets import checkpoints_read, open_game_runs, run_dir


def dataset_root(config: Config) -> pathlib.Path:
    """`data.root`, or the default: one folder per collection recipe under the cache."""
    if config.data.root:
        return pathlib.Path(config.data.root).expanduser()
    if config.data.source == "dqn-replay":
        return cache_root() / "dqn-replay"
    return cache_root() / "datasets" / recipe(config)


def recipe(config: Config) -> str:
    """The name of a collected dataset's recipe: behaviour, steps a run, rows a checkpoint."""
    d = config.data
    return f"{d.behaviour}-{d.steps_per_game}-{d.capacity}"


def describe(config: Config) -> dict:
    """What a run record says about its data: source, recipe, subset, runs."""
    d = config.data
    about = {
        "source": d.source,
        "subset": d.subset,
        "runs": list(d.runs),
        "games": list(config.games),
    }
    if d.source == "collected" and envs.check_family(config.games) == "minatar":
        who = (
            "an online DQN learning"
            if d.behaviour == "dqn"
            else "a uniformly random policy playing"
        )
        about["collected_with"] = (
            f"{who} each game for {d.steps_per_game} frames, every transition logged, "
            f"{d.capacity}-row checkpoints, seed RUN (scaledql.agents.minatar_dqn: Dopamine's "
            "MinAtar DQN, gymnax with the original MinAtar's settings)"
        )
    elif d.source == "collected":
        about["collected_with"] = (
            f"scaledql collect --policy {d.behaviour} --steps {d.steps_per_game} "
            f"--capacity {d.capacity} --seed RUN (ale-py, DQN Replay settings)"
        )
    else:
        about["collected_with"] = (
            "the DQN Replay Dataset (Agarwal et al. 2020), gs://atari-replay-datasets/dqn"
        )
    return about


def checkpoints_needed(config: Config) -> int | None:
    """How many leading checkpoints of each collected run `config.data.subset` reads (None:
    all of them): `initial:20` of a 5M-frame twin run in 100,000-row checkpoints needs 10."""
    d = config.data
    return checkpoints_read(d.subset, d.steps_per_game // d.capacity)


def missing_runs(config: Config) -> list[tuple[str, int]]:
    """(game, run) of every run of a `collected` config's recipe that is neither fully
    collected nor holds the checkpoints its subset reads."""
    if config.data.source != "collected":
        return []
    needed = checkpoints_needed(config)
    missing = []
    for game in config.games:
        for run in config.data.runs:
            where = run_dir(dataset_root(config), game, run)
            log = read_log(where)
            # add_count is a checkpoint's last file written: with it, the checkpoint is whole
            enough = log and needed and fmt.scalar_path(where, "add_count", needed - 1).exists()
            if not (log and (log.get("complete") or enough)):
                missing.append((game, run))
    return missing


def collect_missing(
    config: Config, collect_run: Callable[[str, int, pathlib.Path, int | None], None]
) -> None:
    """Collects every run of a `collected` config's recipe that `missing_runs` lists, as far as
    the config's subset reads.

    collect_run(game, run, out_dir, checkpoints) plays one run into out_dir, stopping once its
    first `checkpoints` are written (None: the whole run); a factory, because the `dqn`
    behaviour is a learner, which lives above this package, as do the family's collectors.
    """
    needed = checkpoints_needed(config)
    for game, run in missing_runs(config):
        collect_run(game, run, run_dir(dataset_root(config), game, run), needed)


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
