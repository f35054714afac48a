"""Run records: one JSON per run in data/results/, found again by the hash of its config.

A record holds the full config and its hash, the data it used (and how that data was made),
per-game returns and normalised scores, the learning curve, and provenance: git commit,
device, JAX version, preset, the command that reproduces it, wall times, date. Chapters call
`run_or_load(config)`: a committed record is reused, and `fresh=True` trains again.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import time

import numpy as np

from scaledql import configs, scores
from scaledql.atomic import write_json
from scaledql.configs import Config

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SCHEMA_VERSION = 1


def results_dir() -> pathlib.Path:
    """data/results of the repository, or $SCALEDQL_RESULTS."""
    return pathlib.Path(os.environ.get("SCALEDQL_RESULTS", REPO_ROOT / "data" / "results"))


def record_path(config: Config) -> pathlib.Path:
    return results_dir() / config.name / f"{configs.config_hash(config)}.json"


def load_record(config: Config) -> dict | None:
    path = record_path(config)
    return json.loads(path.read_text()) if path.exists() else None


def write_record(record: dict, path: pathlib.Path) -> None:
    """Writes atomically: a temp file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record)


def list_records() -> list[dict]:
    """Every record under the results directory, newest first."""
    records = [json.loads(p.read_text()) for p in results_dir().glob("*/*.json")]
    return sorted(records, key=lambda r: r["provenance"]["date"], reverse=True)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(config: Config, wall_times: dict) -> dict:
    import jax

    status = _git("status", "--porcelain", "--", "scaledql")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "code_modified": bool(status) if status is not None else None,
        "device": f"{jax.devices()[0].device_kind} x{jax.device_count()} ({jax.default_backend()})",
        "jax": jax.__version__,
        "python": platform.python_version(),
        "preset": config.name,
        "command": configs.command(config),
        "wall_time_s": wall_times,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def behaviour_returns(config: Config, runs) -> dict[str, float | None]:
    """Mean return of the behaviour policy's episodes in the data each game trained on.

    Unclipped from the collection log for data made here (the episodes that end inside the
    rows used); the mean clipped return for data from elsewhere, whose raw returns are unknown.
    """
    from scaledql.data.collect import episode_returns, read_log

    out = {}
    for game, game_runs in zip(config.games, runs, strict=True):
        values = []
        for run in game_runs:
            log = read_log(run.run_dir)
            episodes = int(run.terminal.sum())
            if log is not None and run.checkpoints[0].first_row == 0 and episodes:
                values += [e["return"] for e in log["episodes"][:episodes]]
            else:
                values += list(episode_returns(run))
        out[game] = float(np.mean(values)) if values else None
    return out


def build_record(config: Config, train_result, returns: dict, runs, wall_times: dict) -> dict:
    from scaledql import data

    human, missing_human = scores.normalize(returns, "human")
    dqn, _ = scores.normalize(returns, "dqn")
    behaviour = behaviour_returns(config, runs)
    record = {
        "schema": SCHEMA_VERSION,
        "config": configs.to_dict(config),
        "config_hash": configs.config_hash(config),
        "scale": "smoke test: numbers are meaningless"
        if config.name == "smoke"
        else ("the paper's scale" if config.name == "paper" else f"reduced scale ({config.name})"),
        "data": {**data.describe(config), "behaviour_mean_return": behaviour},
        "scores": {
            game: {
                "returns": returns[game],
                "mean_return": float(np.mean(returns[game])),
                "human_normalized": human.get(game),
                "dqn_normalized": dqn.get(game),
                "behaviour_mean_return": behaviour[game],
            }
            for game in returns
        },
        "games_without_human_score": missing_human,
        "learning_curve": train_result.metrics,
        "provenance": provenance(config, wall_times),
    }
    return json.loads(json.dumps(record))  # exactly what a later load of the file returns


def run_or_load(config: Config, fresh: bool = False, progress: bool = True, workdir=None) -> dict:
    """The record of `config`: loaded if one exists (and not `fresh`), else trained,
    evaluated and written."""
    if not fresh and (record := load_record(config)) is not None:
        return record
    from scaledql import data, evaluate, train

    started = time.perf_counter()
    runs = data.open_training_data(config, progress)
    data_s = time.perf_counter() - started
    workdir = workdir or data.cache_root() / "train" / configs.config_hash(config)
    if fresh and pathlib.Path(workdir).exists():
        shutil.rmtree(workdir)
    result = train.train(config, workdir, runs=runs, progress=progress)
    eval_started = time.perf_counter()
    returns = evaluate.evaluate(config, result.state.params, seed=config.seed)
    wall = {
        "resumed_from_step": result.resumed_from,  # train time counts this process's steps only
        "data": data_s,
        "train": result.wall_time_s,
        "evaluate": time.perf_counter() - eval_started,
        "total": time.perf_counter() - started,
    }
    record = build_record(config, result, returns, runs, wall)
    write_record(record, record_path(config))
    return record
