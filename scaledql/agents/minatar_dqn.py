"""The MinAtar twin's behaviour policy and data: an online DQN that learns a game from scratch,
every transition it sees logged in the DQN Replay format, as DQN Replay itself was made.

The agent is Dopamine's MinAtar DQN (dopamine/labs/environments/minatar/dqn_*.gin): one 3x3
convolution of 16 filters, a linear head, Adam (lr 2.5e-4, eps 3.125e-4), batch 32, a replay of
the last 100,000 transitions, learning from 1,000 steps on, one gradient step every 4 frames, a
target copy every 1,000 frames (250 gradient steps), epsilon 1 for the first 1,000 frames, then
linearly down to 0.01 over 250,000; discount 0.99. Where it differs from Dopamine: each game's
minimal action set and the original's sticky actions (0.1; Dopamine plays all 6 actions without
them), the package's MSE TD loss, rewards clipped to [-1, 1] as the DQN Replay format stores
them, and 5M frames a game (the MinAtar paper's budget; Dopamine runs 10M).

Environments, acting, the replay and the gradient steps all run in one jitted `lax.scan` of
`BLOCK` frames; between blocks, the block's transitions are appended to a `data.ReplayWriter`
whose buffer has the replay's capacity, so each checkpoint is exactly the agent's replay at that
moment (one MinAtar frame is one agent step, no frame skip). At each checkpoint the agent's
state (network, optimiser, game, random key) is saved beside it, and a killed collection resumes
from the last one, bit for bit.

The same loop fine-tunes online (`learn_online`): any package config that plays one twin game
in place of the behaviour DQN, starting from the parameters it is handed.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import time
from collections.abc import Callable

import flax.serialization
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from scaledql import configs, envs, learner, networks
from scaledql.agents.policies import load_qnetwork, save_qnetwork
from scaledql.atomic import atomic_file, exclusive, write_json
from scaledql.configs import Config
from scaledql.data import ReplayWriter
from scaledql.data.collect import LOG_NAME, resumable_log

BEHAVIOUR_SETTINGS = (
    "network.encoder=minatar_dqn",
    "network.width=1",
    "network.readout=flatten",
    "network.mlp_sizes=",
    "network.feature_norm=false",
    "network.dtype=float32",
    "loss.kind=mse",
    "loss.cql_alpha=0",
    "train.batch_size=32",
    "train.learning_rate=2.5e-4",
    "train.adam_eps=3.125e-4",
    "train.target_update_period=250",
    "online.warmup=1000",
    "online.epsilon_decay=250000",
    "online.epsilon_final=0.01",
    "online.update_period=4",
    "online.replay_capacity=100000",
)
# The MinAtar paper's own DQN (Young & Tian 2019, its examples/dqn.py), where it differs from
# the settings above: one gradient step a frame, a 128-unit hidden layer, a target copy every
# 1,000 frames, 5,000 random frames, epsilon down to 0.1 over 100,000 frames. (It also uses
# RMSProp and the Huber loss, which the package does not have; Adam and MSE stay.) Applied on
# top of BEHAVIOUR_SETTINGS by `scaledql collect --set`, to find out where the behaviour DQN
# falls short of the published curves.
MINATAR_PAPER_SETTINGS = (
    "online.update_period=1",
    "train.target_update_period=1000",
    "network.mlp_sizes=128",
    "online.warmup=5000",
    "online.epsilon_decay=100000",
    "online.epsilon_final=0.1",
)
BLOCK = 10_000  # frames a jitted call plays; the replay capacity is a multiple of it
STATE_FILE = "agent_state.msgpack"


def behaviour_config(
    game: str, seed: int, capacity: int = 100_000, learn: bool = True, overrides: tuple = ()
) -> Config:
    """The DQN that collects `game`'s run `seed`, as a package config (one head, one game),
    with `overrides` (key=value settings) applied on top of `BEHAVIOUR_SETTINGS`.
    learn=False gives the `random` behaviour: epsilon stays 1 and no gradient step is taken."""
    settings = [f"seed={seed}", *BEHAVIOUR_SETTINGS, *overrides]
    never = [] if learn else [f"online.warmup={2**31 - 1}"]
    # the smoke preset's name and defaults on the twin's game (an override may not change a
    # preset's game family), evaluated as the twin's runs are (sticky actions, episode cap)
    smoke = configs.preset("smoke")
    base = dataclasses.replace(smoke, games=(game,), eval=configs.TWIN_EVAL)
    return configs.override(base, [*settings, f"online.replay_capacity={capacity}", *never])


class Carry(flax.struct.PyTreeNode):
    """Everything the jitted loop carries from frame to frame."""

    train: learner.TrainState
    game: envs.minatar.TwinState
    obs: jax.Array  # (10, 10, K) uint8, the observation to act on
    key: jax.Array  # a raw uint32 PRNG key, so that the state serialises
    frame: jax.Array  # () int32, frames played so far (= rows logged, no padding)
    episode_return: jax.Array  # () float32, unclipped
    episode_clipped: jax.Array  # () float32, of rewards clipped to [-1, 1]
    replay_obs: jax.Array  # (capacity, 10, 10, K) uint8
    replay_action: jax.Array  # (capacity,) int32
    replay_reward: jax.Array  # (capacity,) float32, clipped
    replay_terminal: jax.Array  # (capacity,) uint8


@functools.lru_cache(maxsize=8)
def _block_fn(config: Config, mode: int | None):
    """The jitted `(carry, length) -> (carry, outputs)` of `length` frames for `config`."""
    env = envs.minatar.TwinEnv(config.games[0], mode)
    network = networks.build_qnetwork(config)
    channels = envs.state_shape(config.games)[-1]
    online, capacity = config.online, config.online.replay_capacity
    batch_size = config.train.batch_size
    update = functools.partial(learner.update_step, config=config)

    def pad(obs):
        return jnp.pad(obs, [(0, 0)] * (obs.ndim - 1) + [(0, channels - obs.shape[-1])])

    def epsilon(frame):
        decayed = (
            1.0 - (1.0 - online.epsilon_final) * (frame - online.warmup) / online.epsilon_decay
        )
        return jnp.where(frame < online.warmup, 1.0, jnp.maximum(online.epsilon_final, decayed))

    def sample(carry: Carry, key):
        """A uniform batch of the replay's transitions whose next row is logged."""
        oldest = jnp.maximum(0, carry.frame - capacity)
        rows = oldest + jax.random.randint(key, (batch_size,), 0, carry.frame - 1 - oldest)
        here, after = rows % capacity, (rows + 1) % capacity
        return {
            "state": pad(carry.replay_obs[here]),
            "action": carry.replay_action[here],
            "reward": carry.replay_reward[here],
            "next_state": pad(carry.replay_obs[after]),
            "terminal": carry.replay_terminal[here].astype(bool),
            "game_id": jnp.zeros(batch_size, jnp.int32),
        }

    def one_frame(carry: Carry, _):
        key, explore_key, random_key, env_key, batch_key = jax.random.split(carry.key, 5)
        q = network.apply({"params": carry.train.params}, pad(carry.obs)[None], jnp.zeros(1, int))
        greedy = jnp.argmax(q.q_values[0, : env.num_actions]).astype(jnp.int32)
        random = jax.random.randint(random_key, (), 0, env.num_actions)
        action = jnp.where(jax.random.uniform(explore_key) < epsilon(carry.frame), random, greedy)
        next_obs, game, reward, terminal, truncated = env.step(env_key, carry.game, action)
        done = jnp.logical_or(terminal, truncated)
        position = carry.frame % capacity
        carry = carry.replace(
            replay_obs=carry.replay_obs.at[position].set(carry.obs),
            replay_action=carry.replay_action.at[position].set(action),
            replay_reward=carry.replay_reward.at[position].set(jnp.clip(reward, -1.0, 1.0)),
            replay_terminal=carry.replay_terminal.at[position].set(done.astype(jnp.uint8)),
            frame=carry.frame + 1,
        )
        learn = (carry.frame >= online.warmup) & (carry.frame % online.update_period == 0)
        # the batch is gathered outside the cond: a cond that closed over the replay would
        # copy the whole buffer on every frame
        batch = sample(carry, batch_key)
        train = jax.lax.cond(
            learn, lambda s, b: update(s, b)[0], lambda s, b: s, carry.train, batch
        )
        episode_return = carry.episode_return + reward
        episode_clipped = carry.episode_clipped + jnp.clip(reward, -1.0, 1.0)
        returns = jnp.where(done, jnp.stack([episode_return, episode_clipped]), jnp.nan)
        out = (carry.obs, action, reward, done, returns)
        carry = carry.replace(
            train=train,
            game=game,
            obs=next_obs,
            key=key,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_clipped=jnp.where(done, 0.0, episode_clipped),
        )
        return carry, out

    @functools.partial(jax.jit, static_argnums=1, donate_argnums=0)
    def block(carry: Carry, length: int):
        return jax.lax.scan(one_frame, carry, None, length)

    return block


def _initial_carry(config: Config, mode: int | None, frame_shape: tuple, params: dict) -> Carry:
    env = envs.minatar.TwinEnv(config.games[0], mode)
    key, reset_key = jax.random.split(jax.random.PRNGKey(config.seed))
    obs, game = env.reset(reset_key)
    capacity = config.online.replay_capacity
    return Carry(
        train=learner.create_train_state(config, params),
        game=game,
        obs=obs,
        key=key,
        frame=jnp.zeros((), jnp.int32),
        episode_return=jnp.zeros((), jnp.float32),
        episode_clipped=jnp.zeros((), jnp.float32),
        replay_obs=jnp.zeros((capacity, *frame_shape), jnp.uint8),
        replay_action=jnp.zeros(capacity, jnp.int32),
        replay_reward=jnp.zeros(capacity, jnp.float32),
        replay_terminal=jnp.zeros(capacity, jnp.uint8),
    )


@dataclasses.dataclass
class Collection:
    """What `collect` returns: the collection log and the behaviour DQN's final parameters."""

    log: dict
    config: Config
    params: dict


def collect(
    game: str,
    frames: int,
    out_dir: pathlib.Path,
    *,
    capacity: int = 100_000,
    seed: int = 0,
    mode: int | None = None,
    learn: bool = True,
    overrides: tuple = (),
    checkpoints: int | None = None,
    progress: bool = True,
) -> Collection:
    """Plays and learns `game` for `frames` frames, logging every transition into `out_dir` in
    the DQN Replay format (observation (C, 10, 10, K) uint8, stack size 1), and the final
    network into out_dir/policy; resumes an unfinished collection with the same settings from
    its last checkpoint, and finds a finished one again. learn=False plays uniformly at random
    (the `random` behaviour); overrides: key=value settings of the DQN (`behaviour_config`),
    recorded in the log's settings. checkpoints: stop once the first `checkpoints` are written,
    leaving the run unfinished (its log's `complete` false) to resume later into the same files.
    """
    out_dir = pathlib.Path(out_dir)
    _block_frames(capacity)  # refused before anything is written
    with exclusive(out_dir, f"a collection of {game}"):
        return _collect(
            game, frames, out_dir, capacity, seed, mode, learn, overrides, checkpoints, progress
        )


def _collect(game, frames, out_dir, capacity, seed, mode, learn, overrides, checkpoints, progress):
    if overrides and not learn:
        raise ValueError(f"{game}: --set changes the learning DQN; random play has no settings")
    config = behaviour_config(game, seed, capacity, learn, tuple(overrides))
    settings = {
        "game": game,
        "policy": "dqn (Dopamine's MinAtar DQN, jitted)" if learn else "random",
        "capacity": capacity,
        "seed": seed,
        "mode": mode,
        "difficulty": None,
    }
    if overrides:
        settings["overrides"] = list(overrides)
    return _play(config, frames, out_dir, mode, settings, None, "collect", progress, checkpoints)


def learn_online(
    config: Config,
    out_dir: pathlib.Path,
    initial_params: Callable[[], dict] | None = None,
    progress: bool = True,
) -> Collection:
    """Online learning on the twin (the paper's online fine-tuning, Fig. 8): `config`'s
    Q-learner (its network, loss and `config.online` schedule) plays `config.games[0]` in the
    variant `config.online.mode` for `config.online.agent_steps` frames in the same jitted loop
    as the behaviour DQN, its replay logged into `out_dir`; resumes from the last checkpoint.
    initial_params() gives a new run's parameters (default: random); a resumed run restores
    its own."""
    online = config.online
    settings = {
        "game": config.games[0],
        "policy": f"online learner {configs.config_hash(config)}",
        "capacity": online.replay_capacity,
        "seed": config.seed,
        "mode": online.mode,
        "difficulty": None,
    }
    out_dir = pathlib.Path(out_dir)
    _block_frames(online.replay_capacity)  # refused before anything is written
    with exclusive(out_dir, f"online learning of {config.games[0]}"):
        return _play(
            config, online.agent_steps, out_dir, online.mode, settings, initial_params, "online",
            progress,
        )  # fmt: skip


def _block_frames(capacity: int) -> int:
    """The frames a jitted call plays for a replay of `capacity` rows (a checkpoint's), or a
    ValueError when the checkpoints would not fall on a call's end."""
    block_frames = min(BLOCK, capacity)
    if capacity % block_frames:
        raise ValueError(
            f"a replay capacity of {capacity} (--capacity, or online.replay_capacity) must be a "
            f"multiple of {BLOCK} frames, or at most {BLOCK}: the jitted loop plays {BLOCK} frames "
            "between checkpoints"
        )
    return block_frames


def _play(
    config, frames, out_dir, mode, settings, initial_params, desc, progress, stop_after=None
) -> Collection:
    """Plays and learns `frames` frames of `config`'s one game into `out_dir` (held by this
    process), resuming there, or only until its first `stop_after` checkpoints are written;
    see `collect`."""
    from tqdm.auto import tqdm  # imported where a bar is drawn (tqdm.auto warns on import)

    game, capacity = config.games[0], config.online.replay_capacity
    block_frames = _block_frames(capacity)
    frame_shape = (10, 10, envs.minatar.CHANNELS[game])
    log = resumable_log(out_dir, settings)
    if log is not None and log.get("complete"):
        if log["target_steps"] != frames:
            raise ValueError(
                f"{out_dir} holds a finished collection of {log['target_steps']:,} frames, not "
                f"{frames:,}; choose another directory or delete it"
            )
        _, params = load_qnetwork(out_dir / "policy")
        return Collection(log, config, params)
    resuming = log is not None and log["checkpoint"] is not None
    params = learner.starting_params(config, initial_params, resuming)
    carry = _initial_carry(config, mode, frame_shape, params)
    if resuming:
        writer = ReplayWriter.resume(out_dir, continue_episode=True)
        restored = flax.serialization.from_bytes(
            _without_replay(carry), (out_dir / STATE_FILE).read_bytes()
        )
        if int(restored.frame) != writer.add_count:
            raise ValueError(
                f"{out_dir}: the agent's saved state is at frame {int(restored.frame):,} but the "
                f"last checkpoint holds {writer.add_count:,} rows (a run killed while closing); "
                "delete the directory and collect again"
            )
        carry = restored.replace(
            replay_obs=jnp.asarray(writer.observation),
            replay_action=jnp.asarray(writer.action),
            replay_reward=jnp.asarray(writer.reward),
            replay_terminal=jnp.asarray(writer.terminal),
        )
        episodes = log["episodes"][: log["checkpoint"]["episodes"]]
        wall = log["checkpoint"]["wall_time_s"]
    else:
        writer = ReplayWriter(out_dir, capacity, frame_shape)
        episodes, wall = [], 0.0
    saved = log["checkpoint"] if resuming else None  # what a run stopped at once holds
    log = {"settings": settings, "target_steps": frames, "checkpoint": saved, "episodes": episodes}
    log["gymnax"], log["complete"] = _gymnax_version(), False
    block = _block_fn(config, mode)
    done_frames = int(carry.frame)
    bar = tqdm(total=frames, initial=done_frames, desc=f"{desc} {game}", disable=not progress)
    started = time.perf_counter()
    while done_frames < frames and not writer.holds_checkpoints(stop_after):
        # blocks end on frames k * block_frames - 1, so that every checkpoint (at add counts
        # k * capacity - 1) falls on a block's end
        first = block_frames - 1 if done_frames == 0 else block_frames
        length = min(first, frames - done_frames)
        carry, (obs, action, reward, done, returns) = block(carry, length)
        obs, action, reward, done, returns = jax.device_get((obs, action, reward, done, returns))
        checkpoints = []
        writer.on_checkpoint = checkpoints.append
        writer.add_many(obs, action, reward, done)
        for end in np.flatnonzero(done):
            frame = done_frames + int(end) + 1  # frames played when the episode ended
            episode_length = frame - (episodes[-1]["frames"] if episodes else 0)
            episodes.append(
                {
                    "return": float(returns[end, 0]),
                    "clipped_return": float(returns[end, 1]),
                    "length": episode_length,
                    "frames": frame,
                }
            )
        done_frames += length
        bar.update(length)
        if episodes:
            recent = [e["return"] for e in episodes[-20:]]
            bar.set_postfix(episodes=len(episodes), recent_return=f"{np.mean(recent):.1f}")
        if checkpoints:
            _save_state(out_dir, carry, log, done_frames, wall + time.perf_counter() - started)
    bar.close()
    params = jax.device_get(carry.train.params)
    if done_frames < frames:  # stopped at `stop_after`; the last checkpoint's state is saved
        return Collection(log, config, params)
    writer.close()
    save_qnetwork(out_dir / "policy", config, params)  # before the log says complete
    log["complete"], log["final_add_count"] = True, writer.add_count
    log["gradient_steps"] = int(carry.train.step)
    log["wall_time_s"] = wall + time.perf_counter() - started
    write_json(out_dir / LOG_NAME, log)
    return Collection(log, config, params)


def _without_replay(carry: Carry) -> Carry:
    """The carry without its replay arrays: what is saved beside a checkpoint (which holds
    the replay itself)."""
    return carry.replace(
        replay_obs=None, replay_action=None, replay_reward=None, replay_terminal=None
    )


def _save_state(out_dir, carry: Carry, log: dict, frames: int, wall: float) -> None:
    """Saves the agent's state (everything but the replay, which the checkpoint holds), then
    the log that points at it."""
    with atomic_file(out_dir / STATE_FILE) as f:
        f.write(flax.serialization.to_bytes(jax.device_get(_without_replay(carry))))
    log["checkpoint"] = {
        "agent_steps": frames,
        "episodes": len(log["episodes"]),
        "wall_time_s": wall,
    }
    write_json(out_dir / LOG_NAME, log)


def _gymnax_version() -> str:
    from importlib.metadata import version

    return version("gymnax")


def summary(collection: Collection, bins: int = 50) -> dict:
    """The small table of a collection that goes into git: the episode returns against frames
    (mean over `bins` equal stretches of frames), settings, wall time. Of an unfinished
    collection (`complete` false), the stretches it has played to their end only."""
    log = collection.log
    frames = log["target_steps"]
    edges = np.linspace(0, frames, bins + 1)
    ends = np.array([e["frames"] for e in log["episodes"]])
    returns = np.array([e["return"] for e in log["episodes"]])
    which = np.clip(np.searchsorted(edges, ends, side="left") - 1, 0, bins - 1)
    played = frames if log["complete"] else log["checkpoint"]["agent_steps"]
    curve = [
        {"frames": int(edges[b + 1]), "episodes": int((which == b).sum()),
         "mean_return": float(returns[which == b].mean()) if (which == b).any() else None}
        for b in range(bins)
        if edges[b + 1] <= played
    ]  # fmt: skip
    return {
        "settings": log["settings"],
        "frames": frames,
        "episodes": len(returns),
        "learning_curve": curve,
        "wall_time_s": log.get("wall_time_s"),
        "gymnax": log["gymnax"],
        "complete": log["complete"],
    }
