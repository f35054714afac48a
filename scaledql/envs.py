"""The Atari games of the paper and their minimal action sets.

This module knows game names, game lists and action counts; it imports no learning code. The
ALE environment itself (created with the DQN Replay preprocessing) is built by `make_env`, which
imports gymnasium and ale-py only when called, so configs and networks can use the tables without
loading the emulator.
"""

from __future__ import annotations

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


def check_game(game: str) -> str:
    """Returns `game` if it is known, else raises a ValueError that lists the valid names."""
    if game not in NUM_ACTIONS:
        raise ValueError(
            f"unknown game {game!r}; valid games (CamelCase, as in DQN Replay): "
            + ", ".join(ALL_GAMES)
        )
    return game


def num_actions(game: str) -> int:
    """Size of `game`'s minimal action set."""
    return NUM_ACTIONS[check_game(game)]
