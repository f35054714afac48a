"""Run records: one JSON per run in data/results/PRESET/CONFIG_HASH.json, and their provenance.

A record holds the full config and its hash, the data it used (and how that data was made),
per-game returns and normalised scores, the learning curve, and provenance: git commit,
device, JAX version, preset, the command that reproduces it, wall times, date. This module
stores and finds records; `scaledql.pipeline` decides when to make one.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import subprocess
import warnings

import jax
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


def record_name(record: dict) -> str:
    """PRESET/HASH.json: where the record lies under data/results."""
    return f"{record['config']['name']}/{record['config_hash']}.json"


def load_record(config: Config) -> dict | None:
    path = record_path(config)
    return json.loads(path.read_text()) if path.exists() else None


def whole_seeds(configs_by_key: dict) -> dict:
    """{key: [record of each seed]} of a seeded study, cut to its whole seeds: the leading
    seeds that have a record under every key. configs_by_key: {key: [config of each seed]}.
    A study trained seed by seed and stopped part way is read as the seeds it finished."""
    found = {key: [load_record(c) for c in seeds] for key, seeds in configs_by_key.items()}
    whole = _whole_seed_count([[r is not None for r in rs] for rs in found.values()])
    return {key: rs[:whole] for key, rs in found.items()}


def _whole_seed_count(recorded: list[list[bool]]) -> int:
    """How many leading seeds are recorded under every key (recorded: per key, per seed)."""
    firsts_missing = (next((i for i, r in enumerate(rs) if not r), len(rs)) for rs in recorded)
    return min(firsts_missing, default=0)


def study_progress(configs_by_key: dict) -> dict[str, int]:
    """How far a seeded study has come (configs_by_key as `whole_seeds` takes it):
    {"recorded": runs with a record, "runs": runs planned, "whole_seeds": seeds recorded under
    every key (what `whole_seeds` reads), "planned_seeds": seeds the longest key plans}."""
    recorded = [[record_path(c).exists() for c in seeds] for seeds in configs_by_key.values()]
    return {
        "recorded": sum(map(sum, recorded)),
        "runs": sum(map(len, recorded)),
        "whole_seeds": _whole_seed_count(recorded),
        "planned_seeds": max(map(len, recorded), default=0),
    }


def find_record(config_hash: str) -> dict:
    """The record with this config hash, from any preset's folder."""
    found = sorted(results_dir().glob(f"*/{config_hash}.json"))
    if not found:
        raise FileNotFoundError(
            f"no run record has config hash {config_hash!r} under {results_dir()}; "
            "`scaledql records` lists the recorded runs and their hashes"
        )
    return json.loads(found[0].read_text())


def write_record(record: dict, path: pathlib.Path) -> None:
    """Writes atomically: a temp file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record)


def list_records() -> list[dict]:
    """Every record under the results directory, newest first."""
    records = [json.loads(p.read_text()) for p in results_dir().glob("*/*.json")]
    return sorted(records, key=lambda r: r["provenance"]["date"], reverse=True)


def collections_dir() -> pathlib.Path:
    """Where collection summaries lie: data/collections of the repository, or
    $SCALEDQL_COLLECTIONS."""
    default = REPO_ROOT / "data" / "collections"
    return pathlib.Path(os.environ.get("SCALEDQL_COLLECTIONS", default))


def collection_path(recipe: str, game: str, run: int) -> pathlib.Path:
    """data/collections/RECIPE/GAME/runN.json (a twin game's name makes two folders)."""
    return collections_dir() / recipe / game / f"run{run}.json"


# What a summary says of the data itself: a collection that reproduces a run agrees on these.
COLLECTION_CONTENT = ("settings", "frames", "episodes", "learning_curve", "random_returns")


def collection_differences(stored: dict, summary: dict) -> list[str]:
    """The fields of `COLLECTION_CONTENT` in which a new collection's summary differs from
    the one stored for the same run: empty when it reproduced the stored run's data. An
    unfinished collection's summary (`complete` false) is compared on what it has played so
    far: its settings and the stretches of the learning curve it holds."""
    if summary.get("complete", True):
        return [key for key in COLLECTION_CONTENT if stored.get(key) != summary.get(key)]
    curve = summary["learning_curve"]
    return [
        key
        for key, same in (
            ("settings", stored.get("settings") == summary["settings"]),
            ("frames", stored.get("frames") == summary["frames"]),
            ("learning_curve", stored.get("learning_curve", [])[: len(curve)] == curve),
        )
        if not same
    ]


def write_collection(summary: dict, recipe: str, game: str, run: int, command: str) -> dict | None:
    """Stores a collection's summary with its provenance; returns what is stored. An
    unfinished collection's summary is only checked against the stored one (None when none
    is stored): a machine that does not reproduce the data is told at its first checkpoints.

    Where a summary of the same run is stored already and the new collection did not
    reproduce its data, the stored one stays (the committed records were trained on the data
    it describes) and a warning says what differs: XLA:CPU's numbers depend on the CPU and on
    the threads it may use (a `taskset` to one core changes them), and a learning behaviour
    policy carries the first rounding difference through every later frame."""
    path = collection_path(recipe, game, run)
    existing = load_collection(recipe, game, run)
    if existing is not None and (differs := collection_differences(existing, summary)):
        warnings.warn(
            f"{game} run {run}: this collection does not reproduce the stored one in {path} "
            f"(they differ in {', '.join(differs)}{_first_difference(existing, summary)}). "
            "The stored summary stays; the records were "
            "trained on the data it describes, and runs trained on this machine's data will "
            "not reproduce them. The committed twin data was collected with 2 CPU cores "
            "visible (no taskset); delete the summary to store this collection's instead.",
            stacklevel=2,
        )
        return existing
    if not summary.get("complete", True):
        return existing
    stored = {
        **summary,
        "provenance": {**code_version(), **cpu_setting(), "command": command, "date": now()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, stored)
    return stored


def _first_difference(stored: dict, summary: dict) -> str:
    """Where two collections' learning curves part: '; first at frame F: E episodes with mean
    return R there, E' with R' here' (empty when the curves agree)."""
    for old, new in zip(stored.get("learning_curve", []), summary["learning_curve"], strict=False):
        if old != new:
            return (
                f"; first at frame {old['frames']:,}: {old['episodes']} episodes with mean return "
                f"{old['mean_return']} there, {new['episodes']} with {new['mean_return']} here"
            )
    return ""


def load_collection(recipe: str, game: str, run: int) -> dict | None:
    path = collection_path(recipe, game, run)
    return json.loads(path.read_text()) if path.exists() else None


def collection_curve(summary: dict) -> list[tuple[int, float]]:
    """[(frames, mean episode return)] of a collection summary's learning curve, the stretches
    in which no episode ended left out."""
    return [
        (row["frames"], row["mean_return"])
        for row in summary["learning_curve"]
        if row["mean_return"] is not None
    ]


def made_before(record: dict, instant: str) -> bool:
    """Whether the record was written before `instant` (an ISO date with time zone)."""
    made = datetime.datetime.fromisoformat(record["provenance"]["date"])
    return made < datetime.datetime.fromisoformat(instant)


def now() -> str:
    """The current instant as records write it (ISO, seconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


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


def cpu_setting() -> dict:
    """What XLA:CPU's numbers depend on besides the code: the CPU (XLA compiles for its vector
    extensions, so two CPU models can round differently), the cores this process may use
    (`taskset` narrows them) and the XLA flags it was started with."""
    return {
        "cpu": _cpu_model(),
        "cpus_visible": len(os.sched_getaffinity(0)),
        "xla_flags": os.environ.get("XLA_FLAGS"),
    }


def _cpu_model() -> str:
    """The host CPU's model name and the widest vector extension it has, e.g. 'AMD EPYC (avx2)'."""
    try:
        lines = pathlib.Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = fields.get("flags", "").split()
    isa = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), None)
    model = fields.get("model name", platform.machine())
    return f"{model} ({isa})" if isa else model


def provenance(config: Config, wall_times: dict, code: dict) -> dict:
    return {
        **code,
        "device": f"{jax.devices()[0].device_kind} x{jax.device_count()} ({jax.default_backend()})",
        **cpu_setting(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "preset": config.name,
        "command": configs.command(config),
        "wall_time_s": wall_times,
        "date": now(),
    }


def scale(preset: str) -> str:
    """What a record's numbers can be read as, by the preset that made them."""
    if preset in ("smoke", "twin-smoke"):
        return "smoke test: numbers are meaningless"
    return "the paper's scale" if preset == "paper" else f"reduced scale ({preset})"


def build_record(
    config: Config,
    learning_curve: list[dict],
    returns: dict,
    data_about: dict,
    wall_times: dict,
    code: dict,
    evaluations: list[dict] | None = None,
) -> dict:
    """The record of a finished run. data_about: what it learned from (`data.describe` and
    the behaviour's mean returns for an offline run; the play for an online one).
    evaluations: its returns along the budget (`eval.at_fractions`), each {step, passes,
    mean_return {game: mean}, returns {game: [returns]}}, the last the final one."""
    human, missing_human = scores.normalize(returns, "human")
    dqn, _ = scores.normalize(returns, "dqn")
    behaviour = data_about.get("behaviour_mean_return") or {}
    record = {
        "schema": SCHEMA_VERSION,
        "config": configs.to_dict(config),
        "config_hash": configs.config_hash(config),
        "scale": scale(config.name),
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
    if evaluations:
        record["evaluations"] = evaluations
    return json.loads(json.dumps(record))  # exactly what a later load of the file returns
