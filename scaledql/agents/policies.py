"""Behaviour policies for `scaledql collect`: random, greedy-eps:DIR (a saved network), dqn.

The `dqn` policy is how DQN Replay was made, at a smaller scale: an online DQN whose replay is
the very buffer being logged. Epsilon is 1 for the first `warmup` steps, then falls linearly to
0.01 over `decay` steps (Dopamine: 20k and 250k of 50M steps; here capped at 1/20 and 1/4 of the
run so that short runs also reach the greedy phase). Dopamine's Nature-CNN DQN trained with
RMSProp and a Huber loss; this one uses the package's MSE TD loss (CQL alpha 0) with Adam at
Dopamine's JAX settings (lr 6.25e-5, eps 1.5e-4), one gradient step every 4 agent steps, a
target copy every 2000 gradient steps (8000 agent steps), batch 32.
"""

from __future__ import annotations

import json
import pathlib

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from scaledql import configs, envs, learner, losses, networks
from scaledql.atomic import atomic_file, write_json
from scaledql.data import RandomPolicy

BEHAVIOUR_DQN_SETTINGS = [
    "network.encoder=nature",
    "network.width=1",
    "network.readout=flatten",
    "network.mlp_sizes=512",
    "network.feature_norm=false",
    "network.dtype=float32",
    "loss.kind=mse",
    "loss.cql_alpha=0",
    "train.batch_size=32",
    "train.learning_rate=6.25e-5",
    "train.adam_eps=1.5e-4",
    "train.target_update_period=2000",
]


def save_qnetwork(directory: pathlib.Path, config: configs.Config, params) -> None:
    """Saves a Q-network as `config.json` + `params.msgpack` (what greedy-eps:DIR loads)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "config.json", configs.to_dict(config))
    with atomic_file(directory / "params.msgpack") as f:
        f.write(flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))


def load_qnetwork(directory: pathlib.Path):
    """(config, params) of a Q-network saved with `save_qnetwork`."""
    directory = pathlib.Path(directory)
    for name in ("config.json", "params.msgpack"):
        if not (directory / name).exists():
            raise FileNotFoundError(
                f"{directory / name} is missing; greedy-eps:DIR needs a directory written by "
                "`scaledql collect --policy dqn` (its policy/ folder) or by training"
            )
    config = configs.from_dict(json.loads((directory / "config.json").read_text()))
    params = flax.serialization.msgpack_restore((directory / "params.msgpack").read_bytes())
    return config, params


class GreedyPolicy:
    """Epsilon-greedy in the head of `game` of a saved multi-game Q-network."""

    def __init__(self, config, params, game: str, epsilon: float = 0.01, seed: int = 0):
        if game not in config.games:
            raise ValueError(f"the network has no head for {game}; its games: {config.games}")
        self.description = f"greedy-eps({epsilon})"
        self.config, self.params, self.epsilon = config, params, epsilon
        self.game_id = jnp.array([config.games.index(game)], jnp.int32)
        self.num_actions = envs.num_actions(game)
        self.rng = np.random.default_rng(seed)
        network = networks.build_qnetwork(config)
        mask = jnp.asarray(networks.action_masks(config.games))[self.game_id]

        @jax.jit
        def greedy(params, stack, game_id):
            q_values = network.apply({"params": params}, stack[None], game_id).q_values
            return losses.greedy_actions(q_values, mask)[0]

        self._greedy = greedy

    def epsilon_at(self, step: int) -> float:
        return self.epsilon

    def act(self, stack: np.ndarray, step: int) -> int:
        if self.rng.random() < self.epsilon_at(step):
            return int(self.rng.integers(self.num_actions))
        return int(self._greedy(self.params, stack, self.game_id))

    def observe(self, writer, step: int) -> None:
        pass

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


class OnlineLearner(GreedyPolicy):
    """An online Q-learner that trains from the replay buffer it logs (`config.online`).

    Epsilon-greedy in its one game's head with `config.online`'s schedule; every
    `online.update_period` agent steps after the warmup it takes one gradient step of the
    configured loss on a uniform batch of the buffer. Its state (train state and RNG) is saved
    at every checkpoint of the collection, so a killed run resumes exactly.
    """

    def __init__(self, config: configs.Config, state: learner.TrainState, description: str):
        if config.loss.n_step != 1 or config.loss.kind == "bc":
            raise ValueError(
                "an online learner uses 1-step Q-learning from its replay: set loss.n_step=1 "
                f"and loss.kind=c51 or mse (got n_step={config.loss.n_step}, "
                f"kind={config.loss.kind})"
            )
        online = config.online
        super().__init__(config, state.params, config.games[0], online.epsilon_final, config.seed)
        self.state = state
        self.description = description
        self.warmup, self.decay = online.warmup, online.epsilon_decay
        self.update_period = online.update_period
        self.update = learner.make_update(config)

    def epsilon_at(self, step: int) -> float:
        if step < self.warmup:
            return 1.0
        drop = (1.0 - self.epsilon) * (step - self.warmup) / max(self.decay, 1)
        return max(self.epsilon, 1.0 - drop)

    def act(self, stack: np.ndarray, step: int) -> int:
        self.params = self.state.params
        return super().act(stack, step)

    def observe(self, writer, step: int) -> None:
        if step < self.warmup or step % self.update_period:
            return
        batch = writer.sample(self.config.train.batch_size, self.rng)
        batch["game_id"] = np.zeros(len(batch["action"]), np.int32)
        self.state, _ = self.update(self.state, batch)

    def state_dict(self) -> dict:
        blob = flax.serialization.to_bytes(jax.tree.map(np.asarray, self.state))
        return {"rng": self.rng.bit_generator.state, "train_state": np.frombuffer(blob, np.uint8)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.state = flax.serialization.from_bytes(self.state, state["train_state"].tobytes())


class DQNPolicy(OnlineLearner):
    """The behaviour policy `dqn`: a Nature-CNN DQN learning from scratch (see the module doc)."""

    def __init__(self, game: str, total_steps: int, seed: int = 0, update_period: int = 4):
        schedule = [
            f"online.warmup={min(20_000, total_steps // 20)}",
            f"online.epsilon_decay={min(250_000, total_steps // 4)}",
            f"online.update_period={update_period}",
        ]
        config = configs.override(
            configs.preset("smoke"),
            [f"games={game}", f"seed={seed}", *BEHAVIOUR_DQN_SETTINGS, *schedule],
        )
        state = learner.create_train_state(config, learner.random_params(config))
        super().__init__(config, state, "dqn")


def make_policy(spec: str, game: str, total_steps: int, seed: int = 0, epsilon: float = 0.01):
    """The policy a `--policy` string names: random, greedy-eps:DIR or dqn."""
    if spec == "random":
        return RandomPolicy(envs.num_actions(game), seed)
    if spec == "dqn":
        return DQNPolicy(game, total_steps, seed)
    if spec.startswith("greedy-eps:"):
        config, params = load_qnetwork(pathlib.Path(spec.partition(":")[2]))
        return GreedyPolicy(config, params, game, epsilon, seed)
    raise ValueError(f"unknown policy {spec!r}; use random, dqn or greedy-eps:DIR")
