"""Online evaluation: roll out the epsilon-greedy policy of a trained Q-network, or a trained
Decision Transformer as Lee et al. play theirs (`TransformerAgent`).

An ALE game is played with the preprocessing the data was logged with (`envs.make_env`: sticky
actions 0.25, frame skip 4, 84x84 grayscale max-pool, 108,000-frame cap), several episodes in
parallel (a gymnasium vector env; one batched forward pass per step for all of them). A MinAtar
twin game is played with the original's settings (`envs.minatar.TwinEnv`: sticky actions 0.1,
an evaluation cap of `eval.max_frames` steps), every episode at once (`twin_returns`).
"""

from __future__ import annotations

import functools
import itertools

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from scaledql import distributed, envs, losses, networks
from scaledql.configs import Config
from scaledql.networks import transformer


@functools.lru_cache(maxsize=8)
def _transformer_chooser(config: Config):
    """`choose(params, frames, actions, rewards, valid, key) -> actions (E,)`, jitted."""
    model = networks.build_transformer(config)
    dt = config.dt

    @jax.jit
    def choose(params, frames, actions, rewards, valid, key):
        return_key, action_key = jax.random.split(key)
        returns = jnp.zeros(actions.shape, jnp.float32)
        # the first return is predicted before its token is read, so any placeholder will do
        first = model.apply({"params": params}, frames, returns, actions, rewards)
        logits = transformer.expert_return_logits(first.return_logits[:, 0], dt.expert_weight)
        chosen = jax.random.categorical(return_key, logits) + dt.return_min
        returns = returns.at[:, 0].set(chosen)
        out = model.apply({"params": params}, frames, returns, actions, rewards)
        valid = jnp.broadcast_to(valid, out.action_logits[:, -1].shape)
        return jax.random.categorical(action_key, losses.masked(out.action_logits[:, -1], valid))

    return choose


class TransformerAgent:
    """Plays a trained Decision Transformer in E environments at once, as Lee et al. play
    theirs: each environment keeps its last `dt.context` timesteps (zero frames, action 0 and
    reward 0 before an episode's start); at every step the first timestep's return-to-go is
    sampled from the return distribution tilted towards high returns (`dt.expert_weight`), then
    the action from the action distribution over the game's actions (no epsilon: the
    transformer samples its own actions)."""

    def __init__(self, config: Config, params, game_id: int, num_envs: int, seed: int = 0):
        self.params = params
        self.choose = _transformer_chooser(config)
        steps = config.dt.context
        self.frames = np.zeros((num_envs, steps, *transformer.frame_shape(config.games)), np.uint8)
        self.actions = np.zeros((num_envs, steps), np.int32)
        self.rewards = np.zeros((num_envs, steps), np.float32)
        self.valid = jnp.asarray(networks.action_masks(config.games)[game_id])
        self.key = jax.random.key(seed)

    def act(self, obs: np.ndarray, num_actions: int) -> np.ndarray:
        """(E,) int actions < `num_actions` for the observations obs (E, H, W) of ALE or (E,
        10, 10, K) of the twin, which become the newest timestep."""
        for history in (self.frames, self.actions, self.rewards):
            history[:, :-1] = history[:, 1:]
        self.actions[:, -1], self.rewards[:, -1] = 0, 0.0  # not yet known: after its token
        newest = self.frames[:, -1]
        newest[...] = 0
        obs = np.asarray(obs)
        newest[..., : obs.shape[-1]] = obs if obs.ndim == 4 else obs[..., None]
        self.key, key = jax.random.split(self.key)
        valid = self.valid & (jnp.arange(len(self.valid)) < num_actions)
        actions = np.asarray(
            self.choose(self.params, self.frames, self.actions, self.rewards, valid, key)
        )
        self.actions[:, -1] = actions
        return actions

    def observe(self, rewards: np.ndarray, done: np.ndarray) -> None:
        """The rewards (E,) of the actions just taken; a done environment starts afresh."""
        self.rewards[:, -1] = rewards
        for history in (self.frames, self.actions, self.rewards):
            history[done] = 0


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
    progress: bool = False,
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
    if envs.family(game) == "minatar":
        if difficulty:
            raise ValueError(f"{game} has no difficulties; choose a mode (online.mode)")
        returns = twin_returns(
            config, params, game, episodes, head, mode, ec.epsilon, seed, progress
        )
        return [float(r) for r in returns]
    num_envs = min(num_envs or episodes, episodes)
    game_id = config.games.index(head)
    mask = networks.action_masks(config.games)[game_id][: envs.num_actions(game)]
    agent = None
    if config.loss.kind == "dt":
        agent = TransformerAgent(config, params, game_id, num_envs, seed)
    else:
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
        if agent is not None:
            actions = agent.act(frames, len(mask))
        else:
            q = q_fn(params, jnp.asarray(stacks), ids)[:, : len(mask)]
            actions = np.asarray(losses.greedy_actions(q, valid))
            explore = rng.random(num_envs) < ec.epsilon
            actions = np.where(explore, rng.integers(0, len(mask), num_envs), actions)
        frames, rewards, terminated, truncated, _ = vec.step(actions)
        running += rewards
        done = terminated | truncated
        if agent is not None:
            agent.observe(rewards, done)
        stacks = np.roll(stacks, -1, axis=-1)
        stacks[done] = 0  # a new episode: its first state is [0, 0, 0, o_0]
        stacks[..., -1] = frames
        for i in np.flatnonzero(done):
            returns.append(float(running[i]))
            running[i] = 0
    vec.close()
    return returns[:episodes]


def evaluate(
    config: Config, params, games=None, episodes: int | None = None, seed: int = 0,
    progress: bool = False,
):  # fmt: skip
    """{game: [returns]} for each of `games` (default: all the network's games), played in
    the variant `config.online.mode` / `config.online.difficulty`; progress: a bar per twin
    game. Several processes share the games out (game i to process i mod P) and gather the
    returns: a game's returns depend on the seed alone, not on which process played it."""
    variant = {"mode": config.online.mode, "difficulty": config.online.difficulty}
    games = list(games or config.games)
    mine = games[distributed.index() :: distributed.count()]
    bars = progress and distributed.is_leader()
    played = {
        game: evaluate_game(config, params, game, episodes, seed=seed, progress=bars, **variant)
        for game in mine
    }
    returns = {}
    for each in distributed.all_json(played):
        returns.update(each)
    return {game: returns[game] for game in games}


def twin_returns(
    config: Config,
    params,
    game: str,
    episodes: int,
    head: str | None = None,
    mode: int | None = None,
    epsilon: float = 0.001,
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """(episodes,) returns of the first episode of `episodes` twin environments played at once
    (epsilon-greedy in the head of `head`, default `game`; epsilon=1 plays uniformly at random),
    with `config.eval.sticky_action_prob`. An episode still playing after `config.eval.max_frames`
    steps (the twin has no frame skip) stops there with the return so far.

    Each step is two jitted calls: the forward pass of the episodes still playing, and every
    environment's step. Once at most a quarter of the forward pass's rows still play, it keeps
    only those (in a batch of the next power of two), so one long episode (a policy that waits
    at Seaquest's surface) costs batch-1 forward passes. The environments' step keeps its batch:
    gymnax's games take 10-25 s each to compile on one core, the forward pass about 1 s.
    """
    from tqdm.auto import tqdm  # imported where a bar is drawn (tqdm.auto warns on import)

    game_id = config.games.index(head or game)
    valid = jnp.asarray(networks.action_masks(config.games)[game_id][: envs.num_actions(game)])
    if config.loss.kind == "dt":
        scores = _transformer_scores(config, params, game_id, episodes, seed, len(valid))
        epsilon = 0.0  # the transformer samples its own actions
    else:
        forward = _forward_rows(config, episodes)

        def scores(carry, rows):
            return forward(params, carry[0], rows, game_id)

    reset, step = _twin_player(game, mode, config.eval.sticky_action_prob, epsilon)
    rows = jnp.arange(episodes)  # the episodes the forward pass plays (the last may repeat)
    carry = reset(jax.random.key(seed), episodes)
    bar = tqdm(total=episodes, desc=f"evaluate {game}", leave=False, disable=not progress)
    for steps in itertools.count(1):
        carry = step(carry, scores(carry, rows)[:, : len(valid)], valid)
        if steps % 50 and steps < config.eval.max_frames:
            continue
        done = np.asarray(carry[4])
        bar.update(int(done.sum()) - bar.n)
        live = np.flatnonzero(~done)
        if live.size == 0 or steps >= config.eval.max_frames:
            break
        if live.size <= len(rows) // 4:
            size = 1 << int(live.size - 1).bit_length()
            rows = jnp.asarray(np.concatenate([live, np.full(size - live.size, live[-1])]))
    bar.close()
    capped = int((~np.asarray(carry[4])).sum())
    if capped and progress:
        tqdm.write(
            f"{game}: {capped} of {episodes} episodes stopped at the "
            f"{config.eval.max_frames:,}-step cap (eval.max_frames)"
        )
    return np.asarray(carry[3])


def _transformer_scores(config, params, game_id, episodes, seed, num_actions):
    """`scores(carry, rows)` for `twin_returns`: one-hot (episodes, A) of the actions a
    `TransformerAgent` samples for every episode (it keeps every row: its history is per
    episode), after telling it the rewards of its last actions (the change of the returns)."""
    agent = TransformerAgent(config, params, game_id, episodes, seed)
    previous = np.zeros(episodes)

    def scores(carry, rows):
        returns = np.asarray(carry[3])
        agent.observe(returns - previous, np.zeros(episodes, bool))
        previous[:] = returns
        return jax.nn.one_hot(agent.act(carry[0], num_actions), len(agent.valid))

    return scores


@functools.lru_cache(maxsize=8)
def _forward_rows(config: Config, episodes: int):
    """`forward(params, obs, rows, game_id) -> q` (episodes, A): the Q-values of the rows
    `rows` of obs (episodes, 10, 10, C) in the head `game_id`, zero elsewhere."""
    network = networks.build_qnetwork(config)
    channels = envs.state_shape(config.games)[-1]

    @jax.jit
    def forward(params, obs, rows, game_id):
        picked = obs[rows]
        picked = jnp.pad(picked, [(0, 0)] * 3 + [(0, channels - picked.shape[-1])])
        ids = jnp.full(rows.shape, game_id, jnp.int32)
        q = network.apply({"params": params}, picked, ids).q_values
        return jnp.zeros((episodes, q.shape[1]), q.dtype).at[rows].set(q)

    return forward


@functools.lru_cache(maxsize=16)
def _twin_player(game: str, mode, sticky_action_prob: float, epsilon: float):
    """The jitted `(reset, step)` of a batch of `game`'s environments:
    `reset(key, episodes) -> carry` = (obs, env state, key, returns, done), and
    `step(carry, q, valid) -> carry`, epsilon-greedy actions from q (B, A) among the valid
    actions, one environment step; a finished episode's return stays as it ended."""
    env = envs.minatar.TwinEnv(game, mode, sticky_action_prob)

    @functools.partial(jax.jit, static_argnums=1)
    def reset(key, episodes: int):
        reset_key, key = jax.random.split(key)
        obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, episodes))
        return obs, state, key, jnp.zeros(episodes), jnp.zeros(episodes, bool)

    @jax.jit
    def step(carry, q, valid):
        obs, state, key, returns, done = carry
        episodes = q.shape[0]
        key, explore_key, random_key, env_key = jax.random.split(key, 4)
        action = losses.greedy_actions(q, jnp.broadcast_to(valid, q.shape))
        explore = jax.random.uniform(explore_key, (episodes,)) < epsilon
        random = jax.random.randint(random_key, (episodes,), 0, env.num_actions)
        action = jnp.where(explore, random, action)
        obs, state, reward, terminal, truncated = jax.vmap(env.step)(
            jax.random.split(env_key, episodes), state, action
        )
        returns = returns + jnp.where(done, 0.0, reward)
        return obs, state, key, returns, done | terminal | truncated

    return reset, step
