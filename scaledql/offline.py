"""The offline training loop: batches from the multi-game sampler through the jitted update,
data-parallel over every device of every process (`scaledql.distributed`), with checkpoints,
resume and a progress bar.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import itertools
import pathlib
import time
from collections.abc import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from scaledql import checkpoints, configs, data, distributed, envs, learner
from scaledql.atomic import atomic_file, exclusive
from scaledql.configs import Config


def check_batch_split(config: Config) -> None:
    """Stops, before anything is written, a run whose batch does not split evenly over every
    device of every process and into its micro-batches."""
    tc, devices = config.train, jax.device_count()
    parts = devices * tc.micro_batches
    if tc.batch_size % parts == 0:
        return
    over = f"{devices} devices" + (
        f" of {distributed.count()} processes" if distributed.count() > 1 else ""
    )
    if tc.micro_batches > 1:
        over += f" times {tc.micro_batches} micro-batches"
    raise ValueError(
        f"{distributed.where()}: train.batch_size={tc.batch_size} does not split over {over}; "
        f"set train.batch_size to a multiple of {parts} (e.g. --set train.batch_size="
        f"{max(parts, tc.batch_size // parts * parts)}) or change the process count"
    )


@dataclasses.dataclass
class TrainResult:
    """The outcome of `train`: final state, where it lives, the metrics log, timing."""

    state: learner.TrainState
    workdir: pathlib.Path
    metrics: list[dict]
    wall_time_s: float
    resumed_from: int | None
    num_steps: int  # the budget's gradient steps (`configs.gradient_steps`)
    transitions: int  # the valid transitions (sequences) the batches were drawn from


METRIC_FIELDS = (
    "step", "loss", "td_loss", "cql_penalty", "q_data", "action_loss", "return_loss",
    "reward_loss", "grad_norm", "steps_per_s",
)  # fmt: skip


def _read_metrics(path: pathlib.Path, up_to_step: int) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        # a loss without a term (BC has no TD loss) leaves its cell empty
        rows = [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]
    return [row for row in rows if row["step"] <= up_to_step]


def _write_metrics(path: pathlib.Path, rows: list[dict]) -> None:
    with atomic_file(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def train_offline(
    config: Config,
    workdir: pathlib.Path,
    runs: list[list[data.RunData]],
    initial_params: Callable[[], dict] | None = None,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    evaluate: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Trains `config` offline on `runs`, checkpointing into `workdir`; resumes from its last
    checkpoint.

    runs[g]: the opened data of game g (`data.open_dataset(config)`). initial_params() gives
    the parameters a new run starts from (default `learner.random_params(config)`); it is not
    called when the run resumes, since the checkpoint holds them. The batch of step k depends
    only on (seed, k), so a run killed at any point and resumed ends exactly where an
    uninterrupted run does. A NaN or Inf loss stops the run with an error naming the step and
    the last good checkpoint. callback(step, metrics) is called at every log step.
    evaluate(step, params) is called at each of `configs.evaluation_steps` but the last,
    before that step's checkpoint is saved (so a run killed while evaluating evaluates again).
    """
    workdir = pathlib.Path(workdir).resolve()
    check_batch_split(config)
    distributed.check_shared(
        workdir,
        "processes write one checkpoint together, so give --workdir on storage every host "
        "reaches (a shared disk)",
    )
    # every process holds its own lock: one other run on any of them stops at once
    lock = ".lock" if distributed.count() == 1 else f".lock-process{distributed.index()}"
    with exclusive(workdir, f"training ({config.name} preset)", lock):
        return _train(config, workdir, runs, initial_params, progress, callback, evaluate)


def make_sampler(config: Config, runs: list[list[data.RunData]]) -> data.MultiGameSampler:
    """The sampler of the config's batches: transitions for a Q-network, sequences of
    `dt.context` timesteps for the Decision Transformer."""
    channels = envs.state_shape(config.games)[-1]  # object grids: the network's width
    if config.loss.kind == "dt":
        return data.SequenceSampler(
            runs, config.train.batch_size, config.dt.context, seed=config.seed, channels=channels
        )
    return data.MultiGameSampler(
        runs, config.train.batch_size, config.loss.n_step, config.loss.discount,
        seed=config.seed, channels=channels,
    )  # fmt: skip


def _stepper(config: Config, runs, share: slice, mesh):
    """(advance, transitions, close): advance(state, step) -> (state, metrics) takes the
    `train.steps_per_call` gradient steps from `step`; transitions: the valid transitions
    (or sequences) the batches are drawn from; close() stops any background sampling."""
    k = config.train.steps_per_call
    if config.train.sampler == "memory" and config.loss.kind != "dt":
        if jax.device_count() > 1:
            raise ValueError(
                f"train.sampler=memory trains on one device, and this run sees "
                f"{jax.device_count()}; set train.sampler=host to split batches over them"
            )
        data.check_fits(runs, f"data.subset={config.data.subset} of {len(runs)} games")
        channels = envs.state_shape(config.games)[-1]  # the network's width, as the host pads
        packed = data.pack_transitions(runs, config.loss.n_step, config.loss.discount, channels)
        shape = data.in_memory.grid_shape(runs, channels)
        sample = functools.partial(
            data.sample_packed, batch_size=config.train.batch_size, shape=shape
        )
        update = learner.make_sampled_update(config, sample)
        on_device = jax.device_put(packed)
        return (lambda state, step: update(state, on_device)), packed.num_transitions, lambda: None

    sampler = make_sampler(config, runs)
    update = learner.make_update(config)
    transitions = int(sum(counts[-1] for counts in sampler.counts))
    producer = {}

    def advance(state, step):
        if producer.get("next") != step:  # the first call, from wherever the run starts
            close()
            steps = itertools.count(step, k)

            def produce():
                s = next(steps)
                batches = [sampler.batch_for_step(config.seed, s + i, share) for i in range(k)]
                if k == 1:
                    return batches[0]
                return {key: np.stack([b[key] for b in batches]) for key in batches[0]}

            producer["batches"] = data.Prefetcher(produce, depth=4)
        producer["next"] = step + k
        return update(state, distributed.global_batch(next(producer["batches"]), mesh, k))

    def close():
        if "batches" in producer:
            producer.pop("batches").close()

    return advance, transitions, close


def _train(config, workdir, runs, initial_params, progress, callback, evaluate) -> TrainResult:
    """`train_offline` in a workdir this process holds."""
    # imported where a bar is drawn: in a kernel without ipywidgets, tqdm.auto warns on import
    from tqdm.auto import tqdm

    tc = config.train
    mesh = distributed.data_mesh()
    share = distributed.local_rows(mesh, tc.batch_size)  # the rows this process samples
    manager = checkpoints.manager(workdir)
    resumed_from = manager.latest_step()
    # a resumed run restores into this state, so it needs no pre-trained encoder loaded
    params = learner.starting_params(config, initial_params, resumed_from is not None)
    state = distributed.replicated(learner.create_train_state(config, params), mesh)
    if resumed_from is not None:
        state = manager.restore(resumed_from, args=ocp.args.StandardRestore(state))
    start = int(state.step)
    metrics_path = workdir / "metrics.csv"
    rows = _read_metrics(metrics_path, start)

    advance, transitions, close = _stepper(config, runs, share, mesh)
    total = configs.gradient_steps(config, transitions)
    k = tc.steps_per_call
    if tc.log_every % k or tc.checkpoint_every % k or (tc.passes == 0 and tc.num_steps % k):
        raise ValueError(
            "train.num_steps, log_every and checkpoint_every must be multiples of steps_per_call"
        )
    evaluate_at = set(configs.evaluation_steps(config, total)[:-1])
    pending: list[tuple[int, dict]] = []  # (step, device metrics) not yet checked
    last_good = resumed_from
    bar = tqdm(
        total=total, initial=start, desc=f"train {config.name}",
        disable=not (progress and distributed.is_leader()),
    )  # fmt: skip
    started = time.perf_counter()
    interval_start, interval_steps = time.perf_counter(), 0

    def flush(step: int) -> None:
        """Checks the pending steps' losses; logs their mean at `step`."""
        nonlocal interval_start, interval_steps
        if not pending:
            return
        values = jax.device_get([m for _, m in pending])
        for (s, _), m in zip(pending, values, strict=True):
            if not np.isfinite(m["loss"]):
                raise FloatingPointError(
                    f"the loss is {float(m['loss'])} at gradient step {s}; training stopped. "
                    f"The last good checkpoint is step {last_good} in {workdir / 'checkpoints'}. "
                    "Lower train.learning_rate or set train.grad_clip_norm."
                )
        now = time.perf_counter()
        row = {key: float(np.mean([m[key] for m in values])) for key in values[0]}
        row["step"] = step
        row["steps_per_s"] = interval_steps / max(now - interval_start, 1e-9)
        rows.append(row)
        interval_start, interval_steps = now, 0
        pending.clear()
        bar.set_postfix(loss=f"{row['loss']:.3f}", steps_per_s=f"{row['steps_per_s']:.1f}")
        if callback is not None:
            callback(step, row)

    try:
        step = start
        while step < total:
            state, metrics = advance(state, step)
            step += k
            interval_steps += k
            pending.append((step, metrics))
            bar.update(k)
            save = step % tc.checkpoint_every == 0 or step == total or step in evaluate_at
            if step % tc.log_every == 0 or save:
                flush(step)
                if distributed.is_leader():
                    _write_metrics(metrics_path, rows)
            if step in evaluate_at and evaluate is not None:
                evaluate(step, state.params)
            if save:
                manager.save(step, args=ocp.args.StandardSave(state))
                manager.wait_until_finished()
                last_good = step
    finally:
        close()
        bar.close()
        manager.close()
    return TrainResult(
        state, workdir, rows, time.perf_counter() - started, resumed_from, total, transitions
    )
