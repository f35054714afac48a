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
