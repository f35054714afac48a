"""The MinAtar twin's games: gymnax's JAX MinAtar, run with the original package's settings.

MinAtar (Young & Tian, 2019) plays five Atari-like games on a 10x10 grid of C object channels.
gymnax implements all five as pure JAX functions; its defaults differ from the original
`minatar` package in three places, and `make` restores the original's behaviour in each:

- sticky actions: the original repeats the previous action with probability 0.1 (its
  `Environment(sticky_action_prob=0.1)`; the previous action carries over episode ends, as
  there); gymnax has none;
- episode length: gymnax truncates four games at 1000 steps; the original never does. Here an
  episode ends only at the game's own terminal, with `MAX_EPISODE_STEPS` as a safety cap that a
  learning agent never reached in our runs (a capped episode is logged as truncated);
- Freeway: the original ends the game with a terminal state once its 2500-frame timer has run
  out (after the 2501st step); gymnax ends it by its step limit instead, after 2500 steps.

Actions are each game's minimal set, in the original's order, with one head per game. Games are
named `minatar/Breakout` and so on, so that a name says its family.

This module knows names, action sets, channels and variants without importing JAX; `make`
imports gymnax when called.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    import jax

PREFIX = "minatar/"
# game -> (gymnax id, minimal action set size, observation channels), checked against the
# original package by tests/test_minatar.py
_GAMES: dict[str, tuple[str, int, int]] = {
    "Asterix": ("Asterix-MinAtar", 5, 4),
    "Breakout": ("Breakout-MinAtar", 3, 4),
    "Freeway": ("Freeway-MinAtar", 3, 7),
    "Seaquest": ("Seaquest-MinAtar", 6, 10),
    "SpaceInvaders": ("SpaceInvaders-MinAtar", 4, 6),
}
ALL_GAMES: tuple[str, ...] = tuple(PREFIX + game for game in _GAMES)
NUM_ACTIONS: dict[str, int] = {PREFIX + g: n for g, (_, n, _) in _GAMES.items()}
CHANNELS: dict[str, int] = {PREFIX + g: c for g, (_, _, c) in _GAMES.items()}
# What the Q-network reads: one observation, its channels zero-padded to the widest game's.
STATE_SHAPE: tuple[int, int, int] = (10, 10, max(CHANNELS.values()))

STICKY_ACTION_PROB = 0.1  # the original `minatar.Environment`'s default
MAX_EPISODE_STEPS = 100_000  # a safety cap only: the original has no time limit
FREEWAY_TIME_LIMIT = 2500  # the original's `time_limit`: terminal once it has run out


@dataclasses.dataclass(frozen=True)
class Variant:
    """A twin game variant, the counterpart of an ALE game mode: changed game parameters
    (gymnax's `EnvParams` fields) and, for Breakout, an observation transform."""

    description: str
    params: tuple[tuple[str, int], ...] = ()
    hide_bricks: bool = False  # Breakout: the brick channel shows only on a step that hits one


# game -> mode -> Variant; mode 0 is the default game everywhere.
VARIANTS: dict[str, dict[int, Variant]] = {
    "minatar/Asterix": {
        1: Variant(
            "enemies and treasure spawn twice as often and move faster from the start "
            "(init_spawn_speed 10 -> 5, init_move_interval 5 -> 3)",
            (("init_spawn_speed", 5), ("init_move_interval", 3)),
        )
    },
    "minatar/Breakout": {
        1: Variant(
            "the bricks are invisible except on the step the ball hits one (the twin of ALE "
            "Breakout mode 12)",
            hide_bricks=True,
        )
    },
    "minatar/Freeway": {
        1: Variant(
            "the chicken moves every 5 frames instead of every 3 (player_speed 3 -> 5)",
            (("player_speed", 5),),
        )
    },
    "minatar/SpaceInvaders": {
        1: Variant(
            "the aliens move and shoot twice as often (enemy_move_interval 12 -> 6, "
            "enemy_shot_interval 10 -> 5)",
            (("enemy_move_interval", 6), ("enemy_shot_interval", 5)),
        )
    },
}


def is_twin(game: str) -> bool:
    """Whether a game name belongs to the MinAtar twin (`minatar/...`)."""
    return game.startswith(PREFIX)


def check_game(game: str) -> str:
    """Returns `game` if it is a twin game, else raises a ValueError listing the valid names."""
    if game not in NUM_ACTIONS:
        raise ValueError(f"unknown MinAtar game {game!r}; valid games: {', '.join(ALL_GAMES)}")
    return game


def game_variants(game: str) -> list[int]:
    """The modes of a twin game: 0 (the default) and those of `VARIANTS`."""
    return [0, *VARIANTS.get(check_game(game), {})]


def variant(game: str, mode: int | None) -> Variant:
    """The variant `mode` of `game` (None or 0: the default game); a ValueError names the
    valid modes."""
    if not mode:
        return Variant("the default game")
    modes = VARIANTS.get(check_game(game), {})
    if mode not in modes:
        described = "; ".join(f"mode {m}: {v.description}" for m, v in modes.items())
        raise ValueError(
            f"{game} has no mode {mode}; valid modes: 0 (default)"
            + (f"; {described}" if described else "")
        )
    return modes[mode]


class TwinState(typing.NamedTuple):
    """One environment's state: gymnax's game state, the previous action (for sticky actions)
    and the agent steps of the episode so far."""

    game: typing.Any
    last_action: jax.Array  # () int32, minimal-set index
    steps: jax.Array  # () int32


class TwinEnv:
    """One twin game, as pure functions for `jax.jit`, `jax.vmap` and `lax.scan`.

    `reset(key) -> (obs, state)`; `step(key, state, action) -> (obs, state, reward, terminal,
    truncated)`, which resets by itself when an episode ends and then returns the new
    episode's first observation. obs: (10, 10, C) uint8 in {0, 1}; reward: () float32.
    """

    def __init__(self, game: str, mode: int | None = None, sticky_action_prob=STICKY_ACTION_PROB):
        import gymnax  # JAX: imported only when a twin game is played

        self.game = check_game(game)
        self.variant = variant(game, mode)
        self.sticky_action_prob = sticky_action_prob
        self._env, defaults = gymnax.make(_GAMES[game.removeprefix(PREFIX)][0])
        # gymnax's step limit becomes the safety cap; Freeway's timer is handled in `step`
        self._params = defaults.replace(
            max_steps_in_episode=MAX_EPISODE_STEPS, **dict(self.variant.params)
        )
        self.num_actions = NUM_ACTIONS[game]
        self.channels = CHANNELS[game]

    def _observe(self, obs, reward):
        import jax.numpy as jnp

        obs = obs.astype(jnp.uint8)
        if self.variant.hide_bricks:  # Breakout's brick channel is channel 3
            obs = obs.at[..., 3].multiply((reward > 0).astype(jnp.uint8))
        return obs

    def reset(self, key: jax.Array):
        import jax.numpy as jnp

        obs, game = self._env.reset_env(key, self._params)
        state = TwinState(game, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
        return self._observe(obs, jnp.zeros(())), state

    def step(self, key: jax.Array, state: TwinState, action: jax.Array):
        import jax
        import jax.numpy as jnp

        sticky_key, step_key, reset_key = jax.random.split(key, 3)
        repeat = jax.random.bernoulli(sticky_key, self.sticky_action_prob)
        action = jnp.where(repeat, state.last_action, jnp.asarray(action, jnp.int32))
        obs, game, reward, terminal, _ = self._env.step_env(
            step_key, state.game, action, self._params
        )
        steps = state.steps + 1
        if self.game == "minatar/Freeway":
            terminal = jnp.logical_or(terminal, game.time > FREEWAY_TIME_LIMIT)
        truncated = jnp.logical_and(~terminal, steps >= MAX_EPISODE_STEPS)
        done = jnp.logical_or(terminal, truncated)
        first_obs, first_game = self._env.reset_env(reset_key, self._params)
        game = jax.tree.map(lambda new, old: jnp.where(done, new, old), first_game, game)
        next_obs = jnp.where(
            done, self._observe(first_obs, jnp.zeros(())), self._observe(obs, reward)
        )
        state = TwinState(game, action, jnp.where(done, 0, steps))
        return next_obs, state, reward.astype(jnp.float32), terminal, truncated


def frame_after(game: str, steps: int, mode: int | None = None):
    """(10, 10, K) uint8: the observation after `steps` steps of one fixed random action
    sequence from a key-0 reset, without sticky actions, in the given variant: the same
    actions and random streams in every variant, so what differs is what the mode changes."""
    import jax

    env = TwinEnv(game, mode, sticky_action_prob=0.0)
    obs, state = env.reset(jax.random.key(0))
    step = jax.jit(env.step)
    actions = jax.random.randint(jax.random.key(2), (steps,), 0, env.num_actions)
    for key, action in zip(jax.random.split(jax.random.key(1), steps), actions, strict=True):
        obs, state, *_ = step(key, state, action)
    return obs
