"""The learner: the train state, the optimiser, the Scaled QL objective and the jitted update.

It is handed its initial parameters (`create_train_state(config, params)`) and looks up no file:
where a pre-trained encoder comes from is the pipeline's business (`scaledql.pipeline`).

A batch is a dict of arrays for B transitions:
  state (B, 84, 84, 4) uint8, action (B,) int32, reward (B,) float32 (clipped; the n-step
  discounted sum when n > 1), next_state (B, 84, 84, 4) uint8, terminal (B,) bool,
  game_id (B,) int32 index into `config.games`;
or, for the Decision Transformer (`loss.kind=dt`), B sequences of T timesteps as
`data.SequenceSampler` draws them: frames (B, T, H, W, C) uint8, action, reward, returns (B, T),
game_id (B,).
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from scaledql import envs, losses, networks
from scaledql.configs import Config
from scaledql.networks import transformer


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


def random_params(config: Config) -> dict:
    """The parameters a run starts from when nothing is pre-trained: a random initialisation
    keyed by `config.seed`."""
    return networks.init_params(config, jax.random.key(config.seed))


def starting_params(config: Config, initial_params, resuming: bool) -> dict:
    """The parameters a training loop builds its state from. initial_params: a callable giving
    those of a new run, or None for `random_params(config)`. A resuming run restores its
    parameters from its checkpoint, so it only needs their structure and skips the callable
    (which may load a pre-trained run)."""
    if resuming or initial_params is None:
        return random_params(config)
    return initial_params()


def create_train_state(config: Config, params: dict) -> TrainState:
    """A state that starts from `params`; the target network starts as a copy of them."""
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        target_params=jax.tree.map(jnp.copy, params),  # own buffers: the update donates both
        opt_state=make_optimizer(config).init(params),
    )


def objective(params, target_params, batch: dict, config: Config, counts=None):
    """Scalar loss and metrics of the configured objective on one batch.

    c51: categorical TD cross-entropy + alpha * CQL on the expected Q-values (batch mean).
    hl_gauss: the same, the target a Gaussian histogram around the scalar TD target.
    mse: squared TD error + alpha * CQL, each game's mean summed over games (unitary scaling);
    counts (G,): each game's transitions in the whole batch when `batch` is a micro-batch.
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
    elif kind == "hl_gauss":
        scalar = losses.scalar_td_target(batch["reward"], discounts, target.q_values, masks)
        target_probs = losses.hl_gauss_target(network.support, scalar, config.loss.hl_gauss_sigma)
        td = losses.categorical_td_loss(online.logits, batch["action"], target_probs)
    else:
        td = losses.mse_td_loss(
            online.q_values, batch["action"], batch["reward"], discounts, target.q_values, masks
        )
    cql = losses.cql_penalty(online.q_values, batch["action"], masks)
    per_example = td + config.loss.cql_alpha * cql
    if kind == "mse":
        loss = losses.sum_of_game_means(per_example, batch["game_id"], len(config.games), counts)
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


def transformer_objective(params, batch: dict, config: Config, dropout_key: jax.Array):
    """Scalar loss and metrics of the Decision Transformer on B sequences: Lee et al.'s mean of
    three cross-entropies, of the dataset actions (every timestep, over each game's own
    actions), of the first timestep's return-to-go token, and of the rewards' signs."""
    model = networks.build_transformer(config)
    out = model.apply(
        {"params": params}, batch["frames"], batch["returns"], batch["action"], batch["reward"],
        train=True, rngs={"dropout": dropout_key},
    )  # fmt: skip
    num_actions = out.action_logits.shape[-1]
    masks = jnp.asarray(networks.action_masks(config.games))[batch["game_id"]]  # (B, A)
    masks = jnp.broadcast_to(masks[:, None], out.action_logits.shape)
    parts = {
        "action_loss": losses.bc_loss(
            out.action_logits.reshape(-1, num_actions),
            batch["action"].reshape(-1),
            masks.reshape(-1, num_actions),
        ),
        "return_loss": losses.bc_loss(
            out.return_logits[:, 0],
            transformer.return_tokens(batch["returns"][:, 0], config.dt),
            True,
        ),
        "reward_loss": losses.bc_loss(
            out.reward_logits.reshape(-1, transformer.NUM_REWARD_TOKENS),
            transformer.reward_tokens(batch["reward"]).reshape(-1),
            True,
        ),
    }
    metrics = {name: jnp.mean(values) for name, values in parts.items()}
    metrics["loss"] = sum(metrics.values()) / len(parts)
    return metrics["loss"], metrics


def autoencoder_objective(params, batch: dict, config: Config, mask_key: jax.Array):
    """Scalar loss and metrics of masked-autoencoder pre-training on the batch's states: the
    reconstruction error of the patches its encoder did not see."""
    out = networks.build_autoencoder(config).apply({"params": params}, batch["state"], mask_key)
    loss = losses.reconstruction_loss(out.predicted, out.target, out.hidden)
    return loss, {"loss": loss}


def gradients(state: TrainState, batch: dict, config: Config) -> tuple[dict, dict]:
    """The gradients and metrics of the configured objective at `state` on `batch`. The
    Decision Transformer's dropout and the autoencoder's masks differ at every step, as a
    function of (seed, step). With `train.micro_batches` = M > 1 a Q-network's batch is
    taken M micro-batches at a time and their gradients summed: the same gradients up to
    float rounding."""
    key = jax.random.fold_in(jax.random.key(config.seed), state.step)
    if config.loss.kind == "dt":
        return jax.grad(transformer_objective, has_aux=True)(state.params, batch, config, key)
    if config.loss.kind == "mae":
        return jax.grad(autoencoder_objective, has_aux=True)(state.params, batch, config, key)
    micro = config.train.micro_batches
    if micro == 1:
        return q_gradients(state, batch, config)
    # mse weighs each game by its count in the whole batch, so its micro-batches' losses add
    # up; the other objectives are batch means, so equal micro-batches' means average
    counts, weight = None, 1.0 / micro
    if config.loss.kind == "mse":
        counts, weight = losses.game_counts(batch["game_id"], len(config.games)), 1.0
    total_grads, all_metrics = None, []
    for part in micro_batches(batch, micro):  # unrolled: XLA:CPU runs a rolled scan 4x slower
        grads, metrics = q_gradients(state, part, config, counts)
        grads = jax.tree.map(lambda g: weight * g, grads)
        total_grads = grads if total_grads is None else jax.tree.map(jnp.add, total_grads, grads)
        all_metrics.append(metrics)
    metrics = jax.tree.map(lambda *m: jnp.mean(jnp.stack(m)), *all_metrics)
    if config.loss.kind == "mse":  # its micro-batches' losses add up to the batch's
        metrics["loss"] = sum(m["loss"] for m in all_metrics)
    return total_grads, metrics


def micro_batches(batch: dict, micro: int) -> list[dict]:
    """The M micro-batches of `batch`: each takes an equal share of every device's rows, so
    that a batch split over D devices along its first axis is split on each device alone."""
    devices = jax.device_count()

    def part(x, m):
        shaped = x.reshape(devices, micro, x.shape[0] // (devices * micro), *x.shape[1:])
        return shaped[:, m].reshape(-1, *x.shape[1:])

    return [jax.tree.map(lambda x, m=m: part(x, m), batch) for m in range(micro)]


def q_gradients(state: TrainState, batch: dict, config: Config, counts=None):
    """The gradients and metrics of a Q-network objective (`objective`) at `state`."""
    if config.finetune.encoder != "frozen":
        return jax.grad(objective, has_aux=True)(
            state.params, state.target_params, batch, config, counts
        )
    # Differentiating the trained entries alone spares the frozen encoder's backward pass
    # (a frozen ViT's fine-tuning step: 8.6 GFLOP with it); its gradient is zero.
    frozen = {n: p for n, p in state.params.items() if networks.is_encoder_entry(n)}
    trained = {n: p for n, p in state.params.items() if n not in frozen}
    grads, metrics = jax.grad(
        lambda t: objective({**frozen, **t}, state.target_params, batch, config, counts),
        has_aux=True,
    )(trained)
    return {**jax.tree.map(jnp.zeros_like, frozen), **grads}, metrics


def update_step(state: TrainState, batch: dict, config: Config) -> tuple[TrainState, dict]:
    """One gradient step; the target network is copied every `target_update_period` steps."""
    grads, metrics = gradients(state, batch, config)
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


SAMPLER_STREAM = 1  # folded into a step's key for its batch, apart from the objective's keys


def batch_key(seed: int, step: jax.Array) -> jax.Array:
    """The key that draws the batch of gradient step `step` inside a jitted loop: a function
    of (seed, step) alone, so a resumed run draws what an uninterrupted one would."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), step), SAMPLER_STREAM)


def make_sampled_update(config: Config, sample):
    """`update(state, data) -> (state, metrics)`, jitted: `train.steps_per_call` gradient
    steps in one call, the batch of each drawn inside it by `sample(data, key)` with the
    step's `batch_key`; metrics are the means over the call's steps (a NaN in any step makes
    its mean NaN). One device; the state's buffers are donated."""

    def steps(state, data):
        def one(state, _):
            return update_step(state, sample(data, batch_key(config.seed, state.step)), config)

        state, metrics = jax.lax.scan(one, state, None, length=config.train.steps_per_call)
        return state, jax.tree.map(jnp.mean, metrics)

    return jax.jit(steps, donate_argnums=0)


def random_batch(config: Config, seed: int = 0) -> dict:
    """A batch of `config.train.batch_size` random transitions (valid actions) for benchmarks;
    of random sequences for the Decision Transformer."""
    rng = np.random.default_rng(seed)
    size = config.train.batch_size
    counts = np.array([envs.num_actions(game) for game in config.games])
    game_id = rng.integers(0, len(config.games), size)
    if config.loss.kind == "dt":
        steps = (size, config.dt.context)
        frame = transformer.frame_shape(config.games)
        return {
            "frames": rng.integers(0, 256, (*steps, *frame), dtype=np.uint8),
            "action": (rng.integers(0, 1 << 30, steps) % counts[game_id, None]).astype(np.int32),
            "reward": rng.choice(np.array([-1.0, 0.0, 1.0], np.float32), steps),
            "returns": rng.integers(0, 50, steps).astype(np.float32),
            "game_id": game_id.astype(np.int32),
        }
    return {
        "state": rng.integers(0, 256, (size, *envs.state_shape(config.games)), dtype=np.uint8),
        "action": (rng.integers(0, 1 << 30, size) % counts[game_id]).astype(np.int32),
        "reward": rng.choice(np.array([-1.0, 0.0, 1.0], np.float32), size),
        "next_state": rng.integers(0, 256, (size, *envs.state_shape(config.games)), dtype=np.uint8),
        "terminal": rng.random(size) < 0.01,
        "game_id": game_id.astype(np.int32),
    }
