"""Training: the train state, the Scaled QL objective and the jitted update.

A batch is a dict of arrays for B transitions:
  state (B, 84, 84, 4) uint8, action (B,) int32, reward (B,) float32 (clipped; the n-step
  discounted sum when n > 1), next_state (B, 84, 84, 4) uint8, terminal (B,) bool,
  game_id (B,) int32 index into `config.games`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import itertools
import pathlib
import time

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from scaledql import envs, losses, networks
from scaledql.atomic import atomic_file, exclusive
from scaledql.configs import Config


class TrainState(flax.struct.PyTreeNode):
    """Online and target parameters, optimiser state and the gradient-step count."""

    step: jax.Array
    params: dict
    target_params: dict
    opt_state: optax.OptState


def make_optimizer(config: Config) -> optax.GradientTransformation:
    """Adam with the preset's learning rate and epsilon, after global-norm clipping if asked.

    With `finetune.encoder=frozen` the encoder's updates are zero (and Adam keeps no state
    for it), so it stays exactly as pre-trained.
    """
    optimizer = optax.adam(config.train.learning_rate, eps=config.train.adam_eps)
    if config.train.grad_clip_norm is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(config.train.grad_clip_norm), optimizer)
    if config.finetune.encoder == "frozen":

        def labels(params):  # one label per top-level entry labels its whole subtree
            return {n: "frozen" if networks.is_encoder_entry(n) else "train" for n in params}

        optimizer = optax.multi_transform(
            {"train": optimizer, "frozen": optax.set_to_zero()}, labels
        )
    return optimizer


def create_train_state(config: Config, key: jax.Array, pretrained: bool = True) -> TrainState:
    """A fresh state; the target network starts as a copy of the online one.

    With `finetune.pretrained` set (and `pretrained` True), the encoder comes from that run's
    final checkpoint; False gives a state of the same structure to restore a checkpoint into.
    """
    params = networks.init_params(config, key)
    if config.finetune.pretrained and pretrained:
        from scaledql import finetune

        params = networks.transfer_encoder(finetune.pretrained_params(config), params)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        target_params=jax.tree.map(jnp.copy, params),  # own buffers: the update donates both
        opt_state=make_optimizer(config).init(params),
    )


def objective(params, target_params, batch: dict, config: Config):
    """Scalar loss and metrics of the configured objective on one batch.

    c51: categorical TD cross-entropy + alpha * CQL on the expected Q-values (batch mean).
    mse: squared TD error + alpha * CQL, each game's mean summed over games (unitary scaling).
    bc:  cross-entropy of the dataset action (batch mean).
    """
    network = networks.build_qnetwork(config)
    masks = jnp.asarray(networks.action_masks(config.games))[batch["game_id"]]  # (B, A)
    online = network.apply({"params": params}, batch["state"], batch["game_id"])
    kind = config.loss.kind
    if kind == "bc":
        per_example = losses.bc_loss(online.q_values, batch["action"], masks)
        return jnp.mean(per_example), {"loss": jnp.mean(per_example)}

    target = network.apply({"params": target_params}, batch["next_state"], batch["game_id"])
    discounts = config.loss.discount**config.loss.n_step * (1.0 - batch["terminal"])
    if kind == "c51":
        target_probs = losses.c51_target(
            network.support, target.logits, masks, batch["reward"], discounts
        )
        td = losses.categorical_td_loss(online.logits, batch["action"], target_probs)
    else:
        td = losses.mse_td_loss(
            online.q_values, batch["action"], batch["reward"], discounts, target.q_values, masks
        )
    cql = losses.cql_penalty(online.q_values, batch["action"], masks)
    per_example = td + config.loss.cql_alpha * cql
    if kind == "mse":
        loss = losses.sum_of_game_means(per_example, batch["game_id"], len(config.games))
    else:
        loss = jnp.mean(per_example)
    data_q = jnp.take_along_axis(online.q_values, batch["action"][:, None], axis=1)
    metrics = {
        "loss": loss,
        "td_loss": jnp.mean(td),
        "cql_penalty": jnp.mean(cql),
        "q_data": jnp.mean(data_q),
    }
    return loss, metrics


def update_step(state: TrainState, batch: dict, config: Config) -> tuple[TrainState, dict]:
    """One gradient step; the target network is copied every `target_update_period` steps."""
    grads, metrics = jax.grad(objective, has_aux=True)(
        state.params, state.target_params, batch, config
    )
    updates, opt_state = make_optimizer(config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    step = state.step + 1
    target_params = optax.periodic_update(
        params, state.target_params, step, config.train.target_update_period
    )
    metrics["grad_norm"] = optax.tree.norm(grads)
    new_state = TrainState(
        step=step, params=params, target_params=target_params, opt_state=opt_state
    )
    return new_state, metrics


def make_update(config: Config):
    """`update(state, batch) -> (state, metrics)`, jitted, donating the old state's buffers.

    With `train.steps_per_call` = K > 1 the batch leaves carry a leading axis of K and the K
    gradient steps run in one call (`lax.scan`); metrics are those of the last step.
    """
    step = functools.partial(update_step, config=config)
    if config.train.steps_per_call > 1:

        def step(state, batches, single=step):
            state, metrics = jax.lax.scan(single, state, batches)
            return state, jax.tree.map(lambda m: m[-1], metrics)

    # Donation with several steps in flight deadlocks XLA:CPU's all-reduce across simulated
    # devices (seen with jax 0.10.2 on 2 cores); real accelerators and one CPU device keep it.
    cpu_multi = jax.default_backend() == "cpu" and jax.device_count() > 1
    return jax.jit(step, donate_argnums=() if cpu_multi else 0)


def random_batch(config: Config, seed: int = 0) -> dict:
    """A batch of `config.train.batch_size` random transitions (valid actions) for benchmarks."""
    rng = np.random.default_rng(seed)
    size = config.train.batch_size
    counts = np.array([envs.num_actions(game) for game in config.games])
    game_id = rng.integers(0, len(config.games), size)
    return {
        "state": rng.integers(0, 256, (size, *networks.FRAME_SHAPE), dtype=np.uint8),
        "action": (rng.integers(0, 1 << 30, size) % counts[game_id]).astype(np.int32),
        "reward": rng.choice(np.array([-1.0, 0.0, 1.0], np.float32), size),
        "next_state": rng.integers(0, 256, (size, *networks.FRAME_SHAPE), dtype=np.uint8),
        "terminal": rng.random(size) < 0.01,
        "game_id": game_id.astype(np.int32),
    }


# --- the training loop -----------------------------------------------------------------------


def data_mesh() -> jax.sharding.Mesh:
    """A 1-D mesh over every device JAX sees: batches split along it, parameters replicated."""
    return jax.sharding.Mesh(np.array(jax.devices()), ("data",))


def _shard(batch: dict, mesh, steps_per_call: int) -> dict:
    axis = (None, "data") if steps_per_call > 1 else ("data",)
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*axis))
    return jax.device_put(batch, sharding)


@dataclasses.dataclass
class TrainResult:
    """The outcome of `train`: final state, where it lives, the metrics log, timing."""

    state: TrainState
    workdir: pathlib.Path
    metrics: list[dict]
    wall_time_s: float
    resumed_from: int | None


METRIC_FIELDS = ("step", "loss", "td_loss", "cql_penalty", "q_data", "grad_norm", "steps_per_s")


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


def train(
    config: Config,
    workdir: pathlib.Path,
    runs=None,
    progress: bool = True,
    callback=None,
) -> TrainResult:
    """Trains `config` offline, checkpointing into `workdir`; resumes from its last checkpoint.

    runs: the data (`scaledql.data.open_training_data(config)` when None). The batch of step k
    depends only on (seed, k), so a run killed at any point and resumed ends exactly where an
    uninterrupted run does. A NaN or Inf loss stops the run with an error naming the step and
    the last good checkpoint. callback(step, metrics) is called at every log step.
    """
    workdir = pathlib.Path(workdir).resolve()
    with exclusive(workdir, f"training ({config.name} preset)"):
        return _train(config, workdir, runs, progress, callback)


def _train(config: Config, workdir: pathlib.Path, runs, progress: bool, callback) -> TrainResult:
    """`train` in a workdir this process holds."""
    import orbax.checkpoint as ocp
    from tqdm.auto import tqdm

    from scaledql import data

    tc = config.train
    mesh = data_mesh()
    if tc.batch_size % mesh.size:
        raise ValueError(
            f"train.batch_size={tc.batch_size} does not split over {mesh.size} devices; "
            f"use a multiple of {mesh.size}"
        )
    if runs is None:
        runs = data.open_training_data(config, progress)
    sampler = data.MultiGameSampler(
        runs, tc.batch_size, config.loss.n_step, config.loss.discount, seed=config.seed
    )
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=True)
    manager = ocp.CheckpointManager(workdir / "checkpoints", options=options)
    resumed_from = manager.latest_step()
    # a resumed run restores into this state, so it needs no pre-trained encoder loaded
    initial = create_train_state(config, jax.random.key(config.seed), resumed_from is None)
    state = jax.device_put(initial, replicated)
    if resumed_from is not None:
        state = manager.restore(resumed_from, args=ocp.args.StandardRestore(state))
    start = int(state.step)
    metrics_path = workdir / "metrics.csv"
    rows = _read_metrics(metrics_path, start)

    update = make_update(config)
    k = tc.steps_per_call
    if tc.num_steps % k or tc.log_every % k or tc.checkpoint_every % k:
        raise ValueError(
            "train.num_steps, log_every and checkpoint_every must be multiples of steps_per_call"
        )

    def produce_steps(first):
        steps = itertools.count(first, k)

        def produce():
            s = next(steps)
            batches = [sampler.batch_for_step(config.seed, s + i) for i in range(k)]
            if k == 1:
                return batches[0]
            return {key: np.stack([b[key] for b in batches]) for key in batches[0]}

        return data.Prefetcher(produce, depth=4)

    batches = produce_steps(start)
    pending: list[tuple[int, dict]] = []  # (step, device metrics) not yet checked
    last_good = resumed_from
    bar = tqdm(total=tc.num_steps, initial=start, desc=f"train {config.name}", disable=not progress)
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
        while step < tc.num_steps:
            batch = _shard(next(batches), mesh, k)
            state, metrics = update(state, batch)
            step += k
            interval_steps += k
            pending.append((step, metrics))
            bar.update(k)
            if step % tc.log_every == 0 or step % tc.checkpoint_every == 0 or step == tc.num_steps:
                flush(step)
                _write_metrics(metrics_path, rows)
            if step % tc.checkpoint_every == 0 or step == tc.num_steps:
                manager.save(step, args=ocp.args.StandardSave(state))
                manager.wait_until_finished()
                last_good = step
    finally:
        batches.close()
        bar.close()
        manager.close()
    return TrainResult(state, workdir, rows, time.perf_counter() - started, resumed_from)


def default_workdir(config: Config) -> pathlib.Path:
    """Where `scaledql train` keeps a config's checkpoints: the cache, by config hash."""
    from scaledql import configs, data

    return data.cache_root() / "train" / configs.config_hash(config)


def load_params(config: Config, workdir: pathlib.Path | None = None, step: int | None = None):
    """The online parameters of a checkpoint (the latest unless `step` is given)."""
    import orbax.checkpoint as ocp

    directory = pathlib.Path(workdir or default_workdir(config)).resolve() / "checkpoints"
    with ocp.CheckpointManager(directory) as manager:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(
                f"{directory} holds no checkpoint; train first: "
                f"scaledql train --preset {config.name}"
            )
        abstract = jax.eval_shape(lambda: create_train_state(config, jax.random.key(0), False))
        return manager.restore(step, args=ocp.args.StandardRestore(abstract)).params
