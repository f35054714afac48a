"""Online evaluation: roll out the epsilon-greedy policy of a trained Q-network in ALE.

Each game is played with the preprocessing the data was logged with (`envs.make_env`: sticky
actions 0.25, frame skip 4, 84x84 grayscale max-pool, 108,000-frame cap), several episodes in
parallel (a gymnasium vector env; one batched forward pass per step for all of them).
"""

from __future__ import annotations

import functools

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from scaledql import envs, losses, networks
from scaledql.configs import Config


@functools.lru_cache(maxsize=8)
def _policy_fn(config: Config):
    network = networks.build_qnetwork(config)

    @jax.jit
    def q_values(params, stacks, game_ids):
        return network.apply({"params": params}, stacks, game_ids).q_values

    return q_values


def evaluate_game(
    config: Config,
    params,
    game: str,
    episodes: int | None = None,
    *,
    head: str | None = None,
    mode: int | None = None,
    difficulty: int | None = None,
    num_envs: int | None = None,
    seed: int = 0,
) -> list[float]:
    """Unclipped returns of `episodes` episodes of `game`, acting with the head of `head`.

    head: the network head to act with (default `game`; it must be one of `config.games`).
    Episodes run `num_envs` at a time (default: all of them); only the first `episodes` to
    finish are counted, started in a fixed order, so the result depends on the seed alone.
    """
    ec = config.eval
    episodes = episodes or ec.episodes
    head = head or game
    if head not in config.games:
        raise ValueError(f"the network has no head for {head}; its games: {config.games}")
    num_envs = min(num_envs or episodes, episodes)
    game_id = config.games.index(head)
    mask = networks.action_masks(config.games)[game_id][: envs.num_actions(game)]
    q_fn = _policy_fn(config)
    rng = np.random.default_rng(seed)

    make = functools.partial(
        envs.make_env,
        game,
        mode=mode,
        difficulty=difficulty,
        sticky_action_prob=ec.sticky_action_prob,
        max_frames=ec.max_frames,
    )
    vec = gym.vector.SyncVectorEnv(
        [make] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    frames, _ = vec.reset(seed=[seed * 1000 + i for i in range(num_envs)])
    stacks = np.zeros((num_envs, *envs.STATE_SHAPE), np.uint8)
    stacks[..., -1] = frames
    running = np.zeros(num_envs)
    returns: list[float] = []
    ids = jnp.full((num_envs,), game_id, jnp.int32)
    valid = jnp.asarray(np.broadcast_to(mask, (num_envs, len(mask))))
    while len(returns) < episodes:
        q = q_fn(params, jnp.asarray(stacks), ids)[:, : len(mask)]
        actions = np.asarray(losses.greedy_actions(q, valid))
        explore = rng.random(num_envs) < ec.epsilon
        actions = np.where(explore, rng.integers(0, len(mask), num_envs), actions)
        frames, rewards, terminated, truncated, _ = vec.step(actions)
        running += rewards
        done = terminated | truncated
        stacks = np.roll(stacks, -1, axis=-1)
        stacks[done] = 0  # a new episode: its first state is [0, 0, 0, o_0]
        stacks[..., -1] = frames
        for i in np.flatnonzero(done):
            returns.append(float(running[i]))
            running[i] = 0
    vec.close()
    return returns[:episodes]


def evaluate(config: Config, params, games=None, episodes: int | None = None, seed: int = 0):
    """{game: [returns]} for each of `games` (default: all the network's games), played in
    the variant `config.online.mode` / `config.online.difficulty`."""
    variant = {"mode": config.online.mode, "difficulty": config.online.difficulty}
    return {
        game: evaluate_game(config, params, game, episodes, seed=seed, **variant)
        for game in (games or config.games)
    }
