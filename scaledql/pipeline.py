"""The one module that wires the steps together: collect the data if it is missing, load a
pre-trained encoder, train offline or online, evaluate, write the record, or load the record
when one exists.

Everything below it is handed what it needs: the data layer gets a factory for behaviour
policies (`data.collect_missing`), the training loops get a factory for their initial
parameters. Chapters, the CLI and the tests call `run_or_load(config)` or `run_all(runs)`.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time

from scaledql import (
    agents,
    atomic,
    checkpoints,
    configs,
    data,
    distributed,
    envs,
    evaluate,
    learner,
    networks,
    offline,
    online,
    records,
)
from scaledql.configs import Config


def open_training_data(config: Config, progress: bool = True) -> list[list[data.RunData]]:
    """runs[g]: the opened subset of every run of game g, collected first where missing (only
    as far as the subset reads: the first 20 % of each run for `initial:20`); a finished
    collection that leaves a summary (the twin's) stores it under data/collections."""
    d = config.data

    def collect_run(game: str, run: int, out_dir: pathlib.Path, checkpoints: int | None) -> None:
        summary = agents.collect_run(
            game, d.behaviour, d.steps_per_game, out_dir, capacity=d.capacity, seed=run,
            checkpoints=checkpoints, progress=progress,
        )  # fmt: skip
        if summary is not None:
            where = out_dir.relative_to(data.cache_root())  # the cache's own path is the machine's
            command = (
                f"scaledql collect --game {game} --policy {d.behaviour} --steps "
                f"{d.steps_per_game} --capacity {d.capacity} --seed {run} "
                f"--out $SCALEDQL_CACHE/{where}"
            )
            records.write_collection(summary, data.recipe(config), game, run, command)

    if distributed.count() > 1:
        return _open_on_every_host(config)
    data.collect_missing(config, collect_run)
    return data.open_dataset(config)


def _open_on_every_host(config: Config) -> list[list[data.RunData]]:
    """The opened data of a run over several processes, which never collect (each would write
    its own copy, maybe into one shared folder at once): every process stops if one host
    cannot open its data, with that host's reason."""
    runs, problem = None, None
    missing = data.missing_runs(config)
    if missing:
        games = ", ".join(f"{game} run {run}" for game, run in missing)
        problem = (
            f"no data for {games} under {data.dataset_root(config)}; collect it on this host "
            f"first with one process (`{configs.command(config)}` collects what is missing), "
            "or copy that folder from a host that has it"
        )
    else:
        try:
            runs = data.open_dataset(config)
        except (FileNotFoundError, data.DataFormatError) as error:
            problem = str(error)
    distributed.stop_if_any(problem)
    return runs


def pretrained_config(config: Config) -> Config:
    """The config of the recorded run that `config.finetune.pretrained` names."""
    return configs.from_dict(records.find_record(config.finetune.pretrained)["config"])


def pretrained_params(config: Config) -> dict:
    """The online parameters of the final checkpoint of the run `finetune.pretrained` names.

    A clone holds that run's record but not its checkpoints (they live in this machine's
    cache), so a run whose checkpoint is gone is trained again first and its record rewritten
    from the new run: record and checkpoint then agree, and `git diff` shows whether more than
    its provenance changed."""
    source = pretrained_config(config)
    workdir = checkpoints.default_workdir(source)
    if checkpoints.latest_step(workdir) is None:
        print(
            f"the pre-trained run {config.finetune.pretrained} has a record but no checkpoint "
            f"here; training it again: {configs.command(source)}",
            flush=True,
        )
        run_or_load(source, fresh=True)
    return checkpoints.load_params(source, workdir)


def initial_params(config: Config) -> dict:
    """The parameters a new run of `config` starts from: a random network, whose encoder and
    spatial embedding come from the pre-trained run when `finetune.pretrained` names one."""
    params = learner.random_params(config)
    if config.finetune.pretrained:
        configs.check_pretrained(config, pretrained_config(config))
        params = networks.transfer_encoder(pretrained_params(config), params)
    return params


def run_or_load(
    config: Config,
    fresh: bool = False,
    since: str | None = None,
    progress: bool = True,
    workdir: pathlib.Path | None = None,
) -> dict:
    """The record of `config`: loaded if one exists, else trained, evaluated and written.

    fresh: train again even where a record exists; with `since` (an ISO date), only where the
    record was made before it, so that a run two chapters of one build share trains once.
    """
    # several processes follow process 0's record, where their own clones might differ
    record = distributed.leader_json(records.load_record(config))
    retrain = fresh and (
        since is None or (record is not None and records.made_before(record, since))
    )
    if record is not None and not retrain:
        return record
    code = records.code_version()
    started = time.perf_counter()
    workdir = pathlib.Path(workdir or checkpoints.default_workdir(config))
    # A retrained record's checkpoints would be resumed as if finished; a run without a record
    # (killed before it wrote one) resumes from its last checkpoint instead.
    if record is not None and workdir.exists() and distributed.is_leader():
        shutil.rmtree(workdir)
    distributed.barrier("the old checkpoints are gone")
    learn = _learn_online if config.online.agent_steps else _learn_offline
    learning_curve, params, data_about, wall, evaluations = learn(config, workdir, progress)
    eval_started = time.perf_counter()
    # an autoencoder has no policy to play: its record holds its learning curve alone
    returns = {}
    if config.loss.kind != "mae":
        returns = evaluate.evaluate(config, params, seed=config.seed, progress=progress)
    wall["evaluate"] = time.perf_counter() - eval_started
    wall["total"] = time.perf_counter() - started
    if evaluations:  # the run evaluated along its budget: its last point is the final play
        budget = data_about["budget"]
        evaluations.append(_evaluation(budget["gradient_steps"], budget, config, returns))
    record = records.build_record(
        config, learning_curve, returns, data_about, wall, code, evaluations
    )
    if distributed.is_leader():
        records.write_record(record, records.record_path(config))
    return record


def run_all(
    runs: dict[str, Config], fresh: bool = False, since: str | None = None, progress: bool = True
) -> dict[str, dict]:
    """{name: record} of `run_or_load` for each named config, in order."""
    return {name: run_or_load(c, fresh, since, progress) for name, c in runs.items()}


def seed_records(
    configs_by_key: dict, train: bool, fresh: bool = False, since: str | None = None
) -> dict:
    """{key: [record of each seed]} of a seeded study (configs_by_key: {key: [config of each
    seed]}). train: make every missing record (`run_or_load`); otherwise read the records
    there are, cut to the study's whole seeds (`records.whole_seeds`)."""
    if not train:
        return records.whole_seeds(configs_by_key)
    return {
        key: [run_or_load(c, fresh, since) for c in seeds] for key, seeds in configs_by_key.items()
    }


def _evaluation(step: int, budget: dict, config: Config, returns: dict) -> dict:
    """One point of a run's return against its budget: its step, passes and returns."""
    return {
        "step": step,
        "passes": step * config.train.batch_size / budget["transitions"],
        "mean_return": {game: float(sum(r) / len(r)) for game, r in returns.items()},
        "returns": returns,
    }


def _learn_offline(config: Config, workdir: pathlib.Path, progress: bool):
    """(learning curve, final params, what it learned from, wall times, evaluations along the
    budget) of offline training. The evaluations at `eval.at_fractions` are kept in the
    workdir as they are played, so a resumed run keeps those it played before."""
    started = time.perf_counter()
    runs = open_training_data(config, progress)
    data_s = time.perf_counter() - started
    played_path = workdir / "evaluations.json"

    def evaluate_at(step: int, params) -> None:
        played = json.loads(played_path.read_text()) if played_path.exists() else {}
        if str(step) not in played:
            params = distributed.local_copy(params)
            played[str(step)] = evaluate.evaluate(config, params, seed=config.seed)
            if distributed.is_leader():
                atomic.write_json(played_path, played)

    result = offline.train_offline(
        config, workdir, runs, lambda: initial_params(config), progress=progress,
        evaluate=evaluate_at if config.loss.kind != "mae" else None,
    )  # fmt: skip
    budget = {
        "transitions": result.transitions,
        "gradient_steps": result.num_steps,
        "passes": result.num_steps * config.train.batch_size / result.transitions,
    }
    played = json.loads(played_path.read_text()) if played_path.exists() else {}
    evaluations = [
        _evaluation(step, budget, config, played[str(step)])
        for step in configs.evaluation_steps(config, result.num_steps)[:-1]
        if str(step) in played
    ]
    about = {
        **data.describe(config),
        "behaviour_mean_return": data.behaviour_returns(config, runs),
        "budget": budget,
    }
    wall = {
        "resumed_from_step": result.resumed_from,  # train time counts this process's steps only
        "data": data_s,
        "train": result.wall_time_s,
    }
    # evaluation plays on each process's own device, away from the training mesh
    params = distributed.local_copy(result.state.params)
    return result.metrics, params, about, wall, evaluations


def _learn_online(config: Config, workdir: pathlib.Path, progress: bool):
    """The same for online learning: the curve holds the return of every episode played."""
    if distributed.count() > 1:
        raise ValueError(
            f"{distributed.where()}: online learning (online.agent_steps="
            f"{config.online.agent_steps}) acts in one environment loop; run it as one process"
        )
    result = online.train_online(config, workdir, lambda: initial_params(config), progress)
    steps = config.online.agent_steps
    about = {
        "source": "online",
        "games": list(config.games),
        "mode": config.online.mode,
        "difficulty": config.online.difficulty,
        "agent_steps": steps,
        "frames": envs.frames_per_step(config.games[0]) * steps,
        "episodes": len(result.learning_curve),
        # how it played at the end: one action in nearly every row means a greedy action that
        # no longer depends on the state
        "final_action_shares": data.final_action_shares(workdir / "replay").tolist(),
    }
    wall = {"resumed_from_agent_step": result.resumed_from, "train": result.wall_time_s}
    return result.learning_curve, result.params, about, wall, []
