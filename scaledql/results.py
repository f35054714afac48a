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


def _read_code_version() -> dict:
    status = _git("status", "--porcelain", "--", "scaledql")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "code_modified": bool(status) if status is not None else None,
    }


# Read once, when this process imports scaledql: a process that trains several runs in a row
# keeps running the code it imported, so commits made meanwhile must not be credited with them.
_IMPORTED_CODE = _read_code_version()


def code_version() -> dict:
    """The git commit of the code this process imported and whether scaledql/ differed from
    it then."""
    return dict(_IMPORTED_CODE)


def provenance(config: Config, wall_times: dict, code: dict) -> dict:
    import jax

    return {
        **code,
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


def build_record(
    config: Config,
    learning_curve: list[dict],
    returns: dict,
    data_about: dict,
    wall_times: dict,
    code: dict,
) -> dict:
    """The record of a finished run. data_about: what it learned from (`data.describe` and
    the behaviour's mean returns for an offline run; the play for an online one)."""
    human, missing_human = scores.normalize(returns, "human")
    dqn, _ = scores.normalize(returns, "dqn")
    behaviour = data_about.get("behaviour_mean_return") or {}
    record = {
        "schema": SCHEMA_VERSION,
        "config": configs.to_dict(config),
        "config_hash": configs.config_hash(config),
        "scale": "smoke test: numbers are meaningless"
        if config.name == "smoke"
        else ("the paper's scale" if config.name == "paper" else f"reduced scale ({config.name})"),
        "data": data_about,
        "scores": {
            game: {
                "returns": returns[game],
                "mean_return": float(np.mean(returns[game])),
                "human_normalized": human.get(game),
                "dqn_normalized": dqn.get(game),
                "behaviour_mean_return": behaviour.get(game),
            }
            for game in returns
        },
        "games_without_human_score": missing_human,
        "learning_curve": learning_curve,
        "provenance": provenance(config, wall_times, code),
    }
    return json.loads(json.dumps(record))  # exactly what a later load of the file returns


def is_stale(record: dict, fresh: bool | str) -> bool:
    """Whether `fresh` asks for `record` to be made again: True always; an ISO date when the
    record is older than it (`make book FRESH=1` passes the build's start, so a run shared by
    two chapters trains once); False never."""
    if isinstance(fresh, str):
        made = datetime.datetime.fromisoformat(record["provenance"]["date"])
        return made < datetime.datetime.fromisoformat(fresh)
    return bool(fresh)


def run_or_load(
    config: Config, fresh: bool | str = False, progress: bool = True, workdir=None
) -> dict:
    """The record of `config`: loaded if one exists and `fresh` does not make it stale (see
    `is_stale`), else trained, evaluated and written."""
    record = load_record(config)
    if record is not None and not is_stale(record, fresh):
        return record
    from scaledql import evaluate, train

    code = code_version()
    started = time.perf_counter()
    workdir = pathlib.Path(workdir or train.default_workdir(config))
    # A stale record's checkpoints would be resumed as if finished; a run without a record
    # (killed before it wrote one) resumes from its last checkpoint instead.
    if record is not None and workdir.exists():
        shutil.rmtree(workdir)
    learn = _learn_online if config.online.agent_steps else _learn_offline
    learning_curve, params, data_about, wall = learn(config, workdir, progress)
    eval_started = time.perf_counter()
    returns = evaluate.evaluate(config, params, seed=config.seed)
    wall["evaluate"] = time.perf_counter() - eval_started
    wall["total"] = time.perf_counter() - started
    record = build_record(config, learning_curve, returns, data_about, wall, code)
    write_record(record, record_path(config))
    return record


def _learn_offline(config: Config, workdir: pathlib.Path, progress: bool):
    """(learning curve, final params, what it learned from, wall times) of offline training."""
    from scaledql import data, train

    started = time.perf_counter()
    runs = data.open_training_data(config, progress)
    data_s = time.perf_counter() - started
    result = train.train(config, workdir, runs=runs, progress=progress)
    about = {**data.describe(config), "behaviour_mean_return": behaviour_returns(config, runs)}
    wall = {
        "resumed_from_step": result.resumed_from,  # train time counts this process's steps only
        "data": data_s,
        "train": result.wall_time_s,
    }
    return result.metrics, result.state.params, about, wall


def _learn_online(config: Config, workdir: pathlib.Path, progress: bool):
    """The same for online learning: the curve holds the return of every episode played."""
    from scaledql import online

    result = online.train_online(config, workdir, progress)
    steps = config.online.agent_steps
    about = {
        "source": "online",
        "games": list(config.games),
        "mode": config.online.mode,
        "difficulty": config.online.difficulty,
        "agent_steps": steps,
        "frames": online.FRAMES_PER_STEP * steps,
        "episodes": len(result.learning_curve),
    }
    wall = {"resumed_from_agent_step": result.resumed_from, "train": result.wall_time_s}
    return result.learning_curve, result.state.params, about, wall


def normalized_episodes(records: list[dict], kind: str = "human") -> tuple[list[str], np.ndarray]:
    """The games with a `kind` reference score, and their normalised returns, (episodes, games).

    Each evaluation episode is one row; the records (e.g. one per seed) are stacked. Intervals
    computed over these rows show evaluation noise, and training-seed noise only when several
    seeds' records are given.
    """
    games = [g for g in records[0]["scores"] if scores.normalized_score(g, 0.0, kind) is not None]
    rows = []
    for record in records:
        table = [
            [scores.normalized_score(g, r, kind) for r in record["scores"][g]["returns"]]
            for g in games
        ]
        rows.append(np.array(table).T)
    return games, np.concatenate(rows, axis=0)


def estimates(records: list[dict], kind: str = "human", seed: int = 0) -> dict:
    """{metric: (point, low, high)} of the records' normalised episodes (`normalized_episodes`):
    IQM, median and mean with 95 % bootstrap intervals, as `scores.aggregate` gives them."""
    _, matrix = normalized_episodes(records, kind)
    return scores.aggregate({"run": matrix}, seed=seed)["run"]


def record_name(record: dict) -> str:
    """PRESET/HASH.json: where the record lies under data/results."""
    return f"{record['config']['name']}/{record['config_hash']}.json"


def caption(text: str, records: list[dict]) -> str:
    """`text` followed by the scale, preset, seeds, games and record files behind a figure."""
    first = records[0]
    seeds = sorted({r["config"]["seed"] for r in records})
    games = ", ".join(dict.fromkeys(g for r in records for g in r["config"]["games"]))
    names = ", ".join(sorted({record_name(r) for r in records}))
    return (
        f"{text} Preset `{first['config']['name']}` ({first['scale']}); "
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; games: {games}. "
        f"Run records in data/results: {names}."
    )
