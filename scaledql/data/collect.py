"""Collecting new DQN-Replay-format runs by playing ALE games with a behaviour policy.

`collect(...)` plays a game, writes every transition through a `ReplayWriter`, and keeps a
collection log (`collection.json`: settings, agent steps, every episode's clipped and unclipped
return) next to the checkpoints. A run interrupted at any point resumes from its last checkpoint:
the rows after it are played again.

A policy is any object with `act(stack, step) -> action` (stack: (84, 84, 4) uint8, the same
frame stack the replay stores), `observe(writer, step)` called after each step (an online
learner trains from the writer's buffer there), `state_dict()` / `load_state_dict(d)` for
resume, and a `description`. Learned policies live in `scaledql.agents`; this package stays free
of network code.
"""

from __future__ import annotations

import json
import pathlib
from typing import Protocol

import numpy as np

from scaledql import envs
from scaledql.atomic import atomic_file, exclusive, write_json
from scaledql.data import format as fmt
from scaledql.data.run import RunData, open_run
from scaledql.data.writer import ReplayWriter

LOG_NAME = "collection.json"


class Policy(Protocol):
    description: str

    def act(self, stack: np.ndarray, step: int) -> int: ...

    def observe(self, writer: ReplayWriter, step: int) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class RandomPolicy:
    """Uniform over the game's minimal action set."""

    description = "random"

    def __init__(self, num_actions: int, seed: int = 0):
        self.num_actions = num_actions
        self.rng = np.random.default_rng(seed)

    def act(self, stack: np.ndarray, step: int) -> int:
        return int(self.rng.integers(self.num_actions))

    def observe(self, writer: ReplayWriter, step: int) -> None:
        pass

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


def read_log(run_dir: pathlib.Path) -> dict | None:
    """The collection log of a run made here, or None for a run from elsewhere."""
    path = pathlib.Path(run_dir) / LOG_NAME
    return json.loads(path.read_text()) if path.exists() else None


def resumable_log(out_dir: pathlib.Path, settings: dict) -> dict | None:
    """The log of an earlier collection into `out_dir` with the same `settings` (None when
    there is none); a ValueError when the directory holds another collection, or replay files
    without a checkpoint to resume from."""
    log = read_log(out_dir)
    if log is not None and log["settings"] != settings:
        raise ValueError(
            f"{out_dir} holds a collection with other settings ({log['settings']}); "
            "choose another --out directory or delete it"
        )
    if (log is None or log["checkpoint"] is None) and any(pathlib.Path(out_dir).glob("*.gz")):
        raise ValueError(f"{out_dir} already holds replay files; choose an empty directory")
    return log


def collect(
    game: str,
    policy: Policy,
    steps: int,
    out_dir: pathlib.Path,
    *,
    capacity: int = 1_000_000,
    seed: int = 0,
    mode: int | None = None,
    difficulty: int | None = None,
    checkpoints: int | None = None,
    progress: bool = True,
) -> dict:
    """Plays `game` for `steps` agent steps in total and writes a run directory; returns its log.

    If `out_dir` already holds checkpoints of an unfinished collection with the same settings,
    collection resumes from the last checkpoint. checkpoints: stop once the first `checkpoints`
    are written, leaving the run unfinished.
    """
    out_dir = pathlib.Path(out_dir)
    with exclusive(out_dir, f"a collection of {game}"):
        return _collect(
            game, policy, steps, out_dir, capacity, seed, mode, difficulty, checkpoints, progress
        )


def _collect(
    game, policy, steps, out_dir, capacity, seed, mode, difficulty, checkpoints, progress
) -> dict:
    """`collect` into an `out_dir` this process holds."""
    # imported where a bar is drawn: in a kernel without ipywidgets, tqdm.auto warns on import
    from tqdm.auto import tqdm

    settings = {
        "game": envs.check_game(game),
        "policy": policy.description,
        "capacity": capacity,
        "seed": seed,
        "mode": mode,
        "difficulty": difficulty,
    }
    log = resumable_log(out_dir, settings)
    if log is not None and log["checkpoint"] is not None:
        writer = ReplayWriter.resume(out_dir)
        policy.load_state_dict(_load_policy_state(out_dir))
        done = log["checkpoint"]["agent_steps"]
        episodes = log["episodes"][: log["checkpoint"]["episodes"]]
    else:
        writer = ReplayWriter(out_dir, capacity)
        done, episodes = 0, []
    log = {"settings": settings, "target_steps": steps, "checkpoint": None, "episodes": episodes}
    log["ale_py"], log["complete"] = _ale_version(), False

    state = {"done": done}

    def on_checkpoint(suffix: int) -> None:
        _save_policy_state(out_dir, policy.state_dict())
        log["checkpoint"] = {
            "suffix": suffix,
            "agent_steps": state["done"],
            "episodes": len(log["episodes"]),
        }
        write_json(out_dir / LOG_NAME, log)

    # Checkpoints are saved once the policy has learned from the step that completed them:
    # saved inside `writer.add`, a learner's state would miss that step's update on resume.
    completed: list[int] = []
    writer.on_checkpoint = completed.append

    def save_completed() -> None:
        for suffix in completed:
            on_checkpoint(suffix)
        completed.clear()

    env = envs.make_env(game, mode=mode, difficulty=difficulty, seed=seed + done)
    bar = tqdm(total=steps, initial=done, desc=f"collect {game}", disable=not progress)
    frame, _ = env.reset(seed=seed + done)
    stack = np.zeros((*fmt.FRAME_SHAPE, fmt.STACK_SIZE), np.uint8)  # ALE: 4 frames a state
    stack[..., -1] = frame
    ret = clipped = 0.0
    length = 0
    while state["done"] < steps and not writer.holds_checkpoints(checkpoints):
        action = policy.act(stack, state["done"])
        next_frame, reward, terminated, truncated, _ = env.step(action)
        ret, clipped, length = ret + reward, clipped + float(np.clip(reward, -1, 1)), length + 1
        state["done"] += 1
        episode_over = terminated or truncated
        writer.add(frame, action, reward, episode_over)
        policy.observe(writer, state["done"])
        save_completed()
        bar.update()
        if episode_over:
            log["episodes"].append({"return": ret, "clipped_return": clipped, "length": length})
            bar.set_postfix(episodes=len(log["episodes"]), last_return=ret)
            ret = clipped = 0.0
            length = 0
            frame, _ = env.reset()
            stack[:] = 0
        else:
            frame = next_frame
            stack = np.roll(stack, -1, axis=-1)
        stack[..., -1] = frame
    bar.close()
    env.close()
    if state["done"] < steps:  # stopped at `checkpoints`, the last one saved with its policy
        return log
    writer.close()
    save_completed()
    log["complete"] = True
    log["final_add_count"] = writer.add_count
    write_json(out_dir / LOG_NAME, log)
    return log


def _policy_state_path(out_dir: pathlib.Path) -> pathlib.Path:
    return out_dir / "policy_state.npz"


def _save_policy_state(out_dir: pathlib.Path, state: dict) -> None:
    """Saves a policy's state (arrays and JSON-able values) atomically."""
    with atomic_file(_policy_state_path(out_dir)) as f:
        arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
        meta = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
        np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)


def _load_policy_state(out_dir: pathlib.Path) -> dict:
    with np.load(_policy_state_path(out_dir)) as data:
        state = json.loads(str(data["__meta__"]))
        state.update({k: data[k] for k in data.files if k != "__meta__"})
    return state


def _ale_version() -> str:
    import ale_py

    return ale_py.__version__


def clipped_episode_returns(run: RunData) -> np.ndarray:
    """(E,) clipped returns of the episodes that end inside the run's rows."""
    ends = np.flatnonzero(run.terminal)
    if len(ends) == 0:
        return np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(np.clip(run.reward, -1, 1), dtype=np.float64)])
    starts = np.concatenate([[0], ends[:-1] + 1])
    # the first episode may have begun before the loaded rows: drop it unless rows start at 0
    returns = cumulative[ends + 1] - cumulative[starts]
    return returns if run.checkpoints[0].first_row == 0 else returns[1:]


def final_action_shares(run_dir: pathlib.Path) -> np.ndarray:
    """(A,) the share of each action among the rows of a run's last checkpoint, which hold how
    the behaviour policy played at the end. A learner whose greedy action no longer depends on
    the state plays one action in nearly every row (all but its exploration). A is the game's
    action count where the collection log names the game, else the largest action + 1; only
    the action file is read, never the frames."""
    run_dir = pathlib.Path(run_dir)
    suffixes = fmt.find_suffixes(run_dir)
    if not suffixes:
        raise fmt.DataFormatError(f"{run_dir} holds no DQN Replay checkpoint")
    last = suffixes[-1]
    actions = fmt.read_array(fmt.store_path(run_dir, "action", last))
    add_count = int(fmt.read_array(fmt.scalar_path(run_dir, "add_count", last)))
    actions = actions[: min(add_count, len(actions))]
    log = read_log(run_dir)
    count = envs.num_actions(log["settings"]["game"]) if log else int(actions.max()) + 1
    return np.bincount(actions, minlength=count) / len(actions)


def dataset_stats(run_dir: pathlib.Path, run: RunData | None = None) -> dict:
    """Episodes and returns of a run: unclipped from the collection log where there is one."""
    log = read_log(run_dir)
    if log is not None:
        episodes = log["episodes"]
        returns = np.array([e["return"] for e in episodes])
        clipped = np.array([e["clipped_return"] for e in episodes])
    else:
        clipped = clipped_episode_returns(run if run is not None else open_run(run_dir))
        returns = None
    summary = {
        "run_dir": str(run_dir),
        "game": log["settings"]["game"] if log else None,
        "policy": log["settings"]["policy"] if log else "unknown (not collected here)",
        "episodes": len(clipped),
        "mean_clipped_return": float(clipped.mean()) if len(clipped) else None,
        "max_clipped_return": float(clipped.max()) if len(clipped) else None,
        "mean_return": float(returns.mean()) if returns is not None and len(returns) else None,
        "max_return": float(returns.max()) if returns is not None and len(returns) else None,
        "final_action_shares": final_action_shares(run_dir).tolist(),
    }
    return summary
