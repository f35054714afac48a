"""The game table against the emulator itself."""

import pytest

from scaledql import envs


@pytest.mark.slow
def test_action_counts_match_ale_minimal_action_sets():
    import ale_py

    for game in envs.ALL_GAMES:
        ale = ale_py.ALEInterface()
        ale.setLoggerMode(ale_py.LoggerMode.Error)
        snake = "".join("_" + c.lower() if c.isupper() else c for c in game).lstrip("_")
        ale.loadROM(ale_py.roms.get_rom_path(snake))
        assert len(ale.getMinimalActionSet()) == envs.NUM_ACTIONS[game], game


def test_unknown_game_lists_valid_names():
    with pytest.raises(ValueError, match="SpaceInvaders"):
        envs.check_game("Space Invaders")


def frames(game: str, mode: int | None, steps: int = 150):
    """(steps, 84, 84) observations under a fixed action sequence, without sticky actions."""
    import numpy as np

    env = envs.make_env(game, mode=mode, difficulty=0, sticky_action_prob=0.0, seed=0)
    observation, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    out = [observation]
    for _ in range(steps - 1):
        observation, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        out.append(observation)
        if terminated or truncated:
            break
    env.close()
    return np.stack(out)


@pytest.mark.parametrize("game, mode", [("Freeway", 1), ("Hero", 1), ("Breakout", 12)])
def test_the_papers_game_modes_change_the_game(game, mode):
    default, variant = frames(game, None), frames(game, mode)
    # control: the same seed and actions replay exactly, so a difference is the mode's doing
    assert (frames(game, 0) == default).all()
    length = min(len(default), len(variant))
    assert (default[:length] != variant[:length]).any(), f"{game} mode {mode} looks like mode 0"


def test_an_invalid_mode_or_difficulty_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Breakout has no mode 13; valid modes: \[0, 4"):
        envs.make_env("Breakout", mode=13)
    with pytest.raises(ValueError, match="Freeway has no difficulty 7; valid difficulties"):
        envs.make_env("Freeway", difficulty=7)
