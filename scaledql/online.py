"""Online fine-tuning (the paper's Sec. 5.2, Fig. 8): a Q-learner that keeps learning as it plays.

A run with `online.agent_steps` > 0 starts from the parameters it is handed: the pipeline gives
it the encoder of the pre-trained run that `finetune.pretrained` names, with a fresh MLP and
head, or a random network when it names none (the paper's "scratch"). It then plays
`config.games[0]` in the variant `online.mode` (and, in ALE, `online.difficulty`):

- ALE: an `agents.OnlineLearner` plays through `data.collect`;
- the twin: the jitted loop of `agents.minatar_dqn.learn_online`, the behaviour DQN's own.

Either way the agent's experience is its replay buffer, logged in the DQN Replay format under
WORKDIR/replay; the learner's state is saved each time the buffer has been filled once, and a
killed run resumes from there.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable

from scaledql import agents, configs, data, envs, learner
from scaledql.agents import minatar_dqn
from scaledql.configs import Config


@dataclasses.dataclass
class OnlineResult:
    """The outcome of `train_online`: final parameters, the episodes it played, timing."""

    params: dict
    gradient_steps: int  # taken in all, before a resume included
    learning_curve: list[dict]  # one row per episode: agent steps at its end, its return
    wall_time_s: float
    resumed_from: int | None  # the agent step of the checkpoint it resumed from


def learning_curve(episodes: list[dict], frames_per_step: int) -> list[dict]:
    """Rows {agent_steps, frames, return} for the episodes of a collection log, in order:
    `agent_steps` counts the steps played when the episode ended (exploration included)."""
    rows, steps = [], 0
    for episode in episodes:
        steps += episode["length"]
        rows.append(
            {"agent_steps": steps, "frames": frames_per_step * steps, "return": episode["return"]}
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
    game = config.games[0]
    log = data.read_log(replay)
    resumed_from = log["checkpoint"]["agent_steps"] if log and log["checkpoint"] else None
    started = time.perf_counter()
    if envs.family(game) == "minatar":
        played = minatar_dqn.learn_online(config, replay, initial_params, progress)
        log, params = played.log, played.params
        gradient_steps = log["gradient_steps"]
    else:
        state, log = _learn_in_ale(config, replay, initial_params, resumed_from, progress)
        params, gradient_steps = state.params, int(state.step)
    return OnlineResult(
        params,
        gradient_steps,
        learning_curve(log["episodes"], envs.frames_per_step(game)),
        time.perf_counter() - started,
        resumed_from,
    )


def _learn_in_ale(config, replay, initial_params, resumed_from, progress):
    """(final train state, collection log) of an `agents.OnlineLearner` playing through
    `data.collect` into `replay`."""
    # a resumed learner restores its state from the checkpoint: no pre-trained encoder to load
    params = learner.starting_params(config, initial_params, resumed_from is not None)
    state = learner.create_train_state(config, params)
    agent = agents.OnlineLearner(config, state, f"online {configs.config_hash(config)}")
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
    return agent.state, log
