"""The Atari games of the paper (ALE), their minimal action sets and the DQN Replay
preprocessing.

This module knows game names, game lists and action counts; it imports no learning code. The
ALE environment itself is built by `make_env`, which imports gymnasium and ale-py only when
called, so configs and networks can use the tables without loading the emulator.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    import numpy as np

# Size of each game's minimal action set in ale-py 0.12 (the action space DQN Replay was logged
# in). `tests/test_envs.py` checks every entry against the emulator.
NUM_ACTIONS: dict[str, int] = {
    "Alien": 18,
    "Amidar": 10,
    "Assault": 7,
    "Asterix": 9,
    "Atlantis": 4,
    "BankHeist": 18,
    "BattleZone": 18,
    "BeamRider": 9,
    "Boxing": 18,
    "Breakout": 4,
    "Carnival": 6,
    "Centipede": 18,
    "ChopperCommand": 18,
    "CrazyClimber": 9,
    "DemonAttack": 6,
    "DoubleDunk": 18,
    "Enduro": 9,
    "FishingDerby": 18,
    "Freeway": 3,
    "Frostbite": 18,
    "Gopher": 8,
    "Gravitar": 18,
    "Hero": 18,
    "IceHockey": 18,
    "Jamesbond": 18,
    "Kangaroo": 18,
    "Krull": 18,
    "KungFuMaster": 14,
    "MsPacman": 9,
    "NameThisGame": 6,
    "Phoenix": 8,
    "Pong": 6,
    "Pooyan": 6,
    "Qbert": 6,
    "Riverraid": 18,
    "Robotank": 18,
    "Seaquest": 18,
    "SpaceInvaders": 6,
    "StarGunner": 18,
    "TimePilot": 10,
    "UpNDown": 6,
    "VideoPinball": 9,
    "WizardOfWor": 10,
    "YarsRevenge": 18,
    "Zaxxon": 18,
}

# The 40 training games of the paper (Figure 4's x-axis, the same set as Lee et al. 2022).
TRAIN_GAMES: tuple[str, ...] = (
    "Amidar",
    "Assault",
    "Asterix",
    "Atlantis",
    "BankHeist",
    "BattleZone",
    "BeamRider",
    "Boxing",
    "Breakout",
    "Carnival",
    "Centipede",
    "ChopperCommand",
    "CrazyClimber",
    "DemonAttack",
    "DoubleDunk",
    "Enduro",
    "FishingDerby",
    "Freeway",
    "Frostbite",
    "Gopher",
    "Gravitar",
    "Hero",
    "IceHockey",
    "Jamesbond",
    "Kangaroo",
    "Krull",
    "KungFuMaster",
    "NameThisGame",
    "Phoenix",
    "Pooyan",
    "Qbert",
    "Riverraid",
    "Robotank",
    "Seaquest",
    "TimePilot",
    "UpNDown",
    "VideoPinball",
    "WizardOfWor",
    "YarsRevenge",
    "Zaxxon",
)

# Held out from pre-training; used for offline fine-tuning (Figure 7).
HELD_OUT_GAMES: tuple[str, ...] = ("Alien", "MsPacman", "Pong", "SpaceInvaders", "StarGunner")

# The feature-normalisation ablation set of Table 2 (the paper says "6 games" and names these 5).
ABLATION_GAMES: tuple[str, ...] = ("Asterix", "Breakout", "Pong", "SpaceInvaders", "Seaquest")

ALL_GAMES: tuple[str, ...] = tuple(sorted(NUM_ACTIONS))

# What the Q-network reads: a stack of the last 4 preprocessed 84x84 greyscale frames, (H, W, 4)
# uint8. One frame on disk is `data.format.FRAME_SHAPE`, (84, 84).
STATE_SHAPE: tuple[int, int, int] = (84, 84, 4)
FRAME_SKIP = 4  # emulator frames an agent step advances (DQN Replay's preprocessing)


def check_game(game: str) -> str:
    """Returns `game` if it is an ALE game, else raises a ValueError that lists the valid names."""
    if game not in NUM_ACTIONS:
        raise ValueError(
            f"unknown game {game!r}; valid games (CamelCase, as in DQN Replay): "
            + ", ".join(ALL_GAMES)
        )
    return game


def make_env(
    game: str,
    *,
    mode: int | None = None,
    difficulty: int | None = None,
    sticky_action_prob: float = 0.25,
    max_frames: int = 108_000,
    seed: int | None = None,
):
    """An ALE game with the settings DQN Replay was collected under.

    Sticky actions (p = 0.25), frame skip 4 with summed rewards, grayscale max of the last two
    frames, 84x84 INTER_AREA resize, minimal action set, no life-loss terminals, no no-op starts,
    episodes capped at `max_frames` emulator frames (108,000 = 27,000 agent steps). Observations
    are (84, 84) uint8 single frames; stacking is the replay's job. Rewards are unclipped.
    `mode`/`difficulty` select a game variant (e.g. Breakout mode 12); an invalid one raises a
    ValueError listing the game's valid values.
    """
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing

    check_game(game)
    gym.register_envs(ale_py)
    variant = {}
    if mode is not None or difficulty is not None:
        modes, difficulties = game_variants(game)
        if mode is not None and mode not in modes:
            raise ValueError(f"{game} has no mode {mode}; valid modes: {modes}")
        if difficulty is not None and difficulty not in difficulties:
            raise ValueError(
                f"{game} has no difficulty {difficulty}; valid difficulties: {difficulties}"
            )
        variant = {"mode": mode, "difficulty": difficulty}
    env = gym.make(
        f"ALE/{game}-v5",
        frameskip=1,
        repeat_action_probability=sticky_action_prob,
        full_action_space=False,
        max_num_frames_per_episode=max_frames,
        **{k: v for k, v in variant.items() if v is not None},
    )
    env = AtariPreprocessing(
        env,
        noop_max=0,  # the wrapper's default of 30 no-op starts is not DQN Replay's setting
        frame_skip=FRAME_SKIP,
        screen_size=84,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def frame_after_noops(
    game: str, steps: int, *, mode: int | None = None, difficulty: int | None = None
) -> np.ndarray:
    """(84, 84) uint8: the observation after `steps` no-op agent steps from a seed-0 reset,
    without sticky actions, in the given game variant (to show what a mode changes)."""
    env = make_env(game, mode=mode, difficulty=difficulty, sticky_action_prob=0.0, seed=0)
    frame, _ = env.reset(seed=0)
    for _ in range(steps):
        frame, *_ = env.step(0)
    env.close()
    return frame


def game_variants(game: str) -> tuple[list[int], list[int]]:
    """The ALE modes and difficulties `game` offers, e.g. ([0, 4, ..., 44], [0, 1]) for Breakout."""
    import ale_py

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.loadROM(ale_py.roms.get_rom_path(_rom_name(check_game(game))))
    return [int(m) for m in ale.getAvailableModes()], [
        int(d) for d in ale.getAvailableDifficulties()
    ]


def _rom_name(game: str) -> str:
    """ale-py's ROM id: CamelCase to snake_case (`SpaceInvaders` -> `space_invaders`)."""
    return "".join("_" + c.lower() if c.isupper() else c for c in game).lstrip("_")
