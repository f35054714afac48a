"""Collecting one run of behaviour data, in either family: the one place that knows which
collector plays which family (`scaledql collect` and the pipeline both come here).

- ALE: a behaviour policy (`random`, `dqn`, `greedy-eps:DIR`) plays through `data.collect`.
- MinAtar twin: `dqn`, the jitted online DQN of `agents.minatar_dqn`, or `random` (the same
  loop with epsilon 1 and no learning); the run leaves a
  summary (episode returns against frames, the final policy's and a random policy's evaluation
  returns) for the caller to keep.
"""

from __future__ import annotations

import pathlib

from scaledql import data, envs, evaluate
from scaledql.agents import minatar_dqn
from scaledql.agents.policies import DQNPolicy, make_policy, save_qnetwork

EVALUATION_EPISODES = 100  # of a twin run's final policy and of random play


def collect_run(
    game: str,
    policy: str,
    steps: int,
    out_dir: pathlib.Path,
    *,
    capacity: int,
    seed: int,
    mode: int | None = None,
    difficulty: int | None = None,
    epsilon: float = 0.01,
    overrides: tuple = (),
    checkpoints: int | None = None,
    progress: bool = True,
) -> dict | None:
    """Plays `steps` agent steps of `game` with `policy` into `out_dir` (resuming an unfinished
    run), or only until its first `checkpoints` are written; a learned policy's final network
    is saved in out_dir/policy. Returns a twin run's summary (of the frames played so far for a
    run stopped at `checkpoints`, `complete` false), or None for an ALE run (its collection log
    holds its episodes)."""
    out_dir = pathlib.Path(out_dir)
    if envs.family(envs.check_game(game)) == "minatar":
        if policy not in ("dqn", "random") or difficulty is not None:
            raise ValueError(
                f"{game} is collected by the twin's online DQN or at random: use --policy dqn "
                f"or random (got {policy!r}) and a mode, not a difficulty"
            )
        collection = minatar_dqn.collect(
            game, steps, out_dir, capacity=capacity, seed=seed, mode=mode,
            learn=policy == "dqn", overrides=overrides, checkpoints=checkpoints, progress=progress,
        )  # fmt: skip
        summary = minatar_dqn.summary(collection)
        if not summary["complete"]:
            return summary  # of the frames played so far, without the final evaluations
        for key, eps in (("final_returns", 0.001), ("random_returns", 1.0)):
            returns = evaluate.twin_returns(
                collection.config, collection.params, game, EVALUATION_EPISODES, None, mode, eps,
                seed,
            )  # fmt: skip
            summary[key] = [float(r) for r in returns]
        return summary
    if overrides:
        raise ValueError(f"--set changes the twin's DQN collector only; {game} is an ALE game")
    agent = make_policy(policy, game, steps, seed, epsilon)
    data.collect(
        game, agent, steps, out_dir, capacity=capacity, seed=seed, mode=mode,
        difficulty=difficulty, checkpoints=checkpoints, progress=progress,
    )  # fmt: skip
    if isinstance(agent, DQNPolicy):
        save_qnetwork(out_dir / "policy", agent.config, agent.state.params)
    return None
