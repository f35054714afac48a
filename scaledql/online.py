"""Online fine-tuning (the paper's Sec. 5.2, Fig. 8): a Q-learner that keeps learning as it plays.

A run with `online.agent_steps` > 0 starts from the parameters it is handed: the pipeline gives
it the encoder of the pre-trained run that `finetune.pretrained` names, with a fresh MLP and
head, or a random network when it names none (the paper's "scratch"). An `agents.OnlineLearner`
then plays
`config.games[0]` in the variant `online.mode` / `online.difficulty`. The play goes through
`data.collect`, so the agent's experience is its replay buffer, logged in the DQN Replay format
under WORKDIR/replay; the learner's state is saved each time the buffer has been filled once,
and a killed run resumes from there.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable

from scaledql import agents, configs, data, learner
from scaledql.configs import Config

FRAMES_PER_STEP = 4  # the frame skip of the DQN Replay preprocessing


@dataclasses.dataclass
class OnlineResult:
    """The outcome of `train_online`: final state, the episodes it played, timing."""

    state: learner.TrainState
    learning_curve: list[dict]  # one row per episode: agent steps at its end, its return
    wall_time_s: float
    resumed_from: int | None  # the agent step of the checkpoint it resumed from


def learning_curve(episodes: list[dict]) -> list[dict]:
    """Rows {agent_steps, frames, return} for the episodes of a collection log, in order:
    `agent_steps` counts the steps played when the episode ended (exploration included)."""
    rows, steps = [], 0
    for episode in episodes:
        steps += episode["length"]
        rows.append(
            {"agent_steps": steps, "frames": FRAMES_PER_STEP * steps, "return": episode["return"]}
        )
    return rows


def train_online(
    config: Config,
    workdir: pathlib.Path,
    initial_params: Callable[[], dict] | None = None,
    progress: bool = True,
) -> OnlineResult:
    """Plays and learns for `config.online.agent_steps` agent steps, checkpointing into
    `workdir`; resumes from its last checkpoint.

    initial_params() gives the parameters a new run starts from (default
    `learner.random_params(config)`); a resumed run restores its own instead.
    """
    if not config.online.agent_steps:
        raise ValueError(
            "online.agent_steps is 0, which makes an offline run; set online.agent_steps=N "
            "(the paper's 3M frames are 750000 agent steps)"
        )
    replay = pathlib.Path(workdir).resolve() / "replay"
    log = data.read_log(replay)
    resumed_from = log["checkpoint"]["agent_steps"] if log and log["checkpoint"] else None
    # a resumed learner restores its state from the checkpoint: no pre-trained encoder to load
    params = learner.starting_params(config, initial_params, resumed_from is not None)
    state = learner.create_train_state(config, params)
    agent = agents.OnlineLearner(config, state, f"online {configs.config_hash(config)}")
    started = time.perf_counter()
    log = data.collect(
        config.games[0],
        agent,
        config.online.agent_steps,
        replay,
        capacity=config.online.replay_capacity,
        seed=config.seed,
        mode=config.online.mode,
        difficulty=config.online.difficulty,
        progress=progress,
    )
    return OnlineResult(
        agent.state,
        learning_curve(log["episodes"]),
        time.perf_counter() - started,
        resumed_from,
    )
