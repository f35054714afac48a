"""The games, in two families: the paper's Atari games (ALE, `envs.ale`) and the MinAtar twin
(`envs.minatar`, named `minatar/Breakout` and so on).

The rest of the package asks this module about a game (`check_game`, `num_actions`,
`state_shape`) and does not branch on its family; only the modules that play games (data
collection, evaluation) open the family's own module.
"""

from __future__ import annotations

from scaledql.envs import ale, minatar
from scaledql.envs.ale import (
    ABLATION_GAMES,
    ALL_GAMES,
    HELD_OUT_GAMES,
    NUM_ACTIONS,
    STATE_SHAPE,
    TRAIN_GAMES,
    frame_after_noops,
    game_variants,
    make_env,
)

FAMILIES = ("ale", "minatar")

__all__ = [
    "ABLATION_GAMES",
    "ALL_GAMES",
    "FAMILIES",
    "HELD_OUT_GAMES",
    "NUM_ACTIONS",
    "STATE_SHAPE",
    "TRAIN_GAMES",
    "check_family",
    "check_game",
    "family",
    "frame_after_noops",
    "frames_per_step",
    "game_variants",
    "make_env",
    "minatar",
    "num_actions",
    "state_shape",
]


def family(game: str) -> str:
    """ "minatar" for a twin game name, else "ale"."""
    return "minatar" if minatar.is_twin(game) else "ale"


def check_game(game: str) -> str:
    """Returns `game` if it is known in its family, else raises a ValueError listing the valid
    names of that family."""
    if minatar.is_twin(game):
        return minatar.check_game(game)
    return ale.check_game(game)


def check_family(games) -> str:
    """The one family of `games`; a ValueError when they mix ALE and twin games."""
    families = {family(check_game(game)) for game in games}
    if len(families) > 1:
        twin = [g for g in games if minatar.is_twin(g)]
        raise ValueError(
            f"games mixes ALE games with MinAtar twin games ({', '.join(twin)}); a run trains "
            "one network on one family, whose observations have one shape (84x84 frame stacks "
            "or 10x10 object grids): choose the games of one family"
        )
    return families.pop()


def num_actions(game: str) -> int:
    """Size of `game`'s minimal action set."""
    check_game(game)
    return minatar.NUM_ACTIONS[game] if minatar.is_twin(game) else NUM_ACTIONS[game]


def state_shape(games) -> tuple[int, int, int]:
    """(H, W, C) of what the Q-network reads for `games`: ALE's 84x84 stack of 4 frames, or the
    twin's 10x10 grid padded to its widest game's channels."""
    return minatar.STATE_SHAPE if check_family(games) == "minatar" else STATE_SHAPE


def frames_per_step(game: str) -> int:
    """Emulator frames an agent step advances `game`: ALE's frame skip of 4 (DQN Replay's
    preprocessing), or 1 on the twin, which has none."""
    return 1 if minatar.is_twin(check_game(game)) else ale.FRAME_SKIP
