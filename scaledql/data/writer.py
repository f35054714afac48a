"""Writes a run directory in the DQN Replay layout, transition by transition.

`ReplayWriter` is a circular buffer of `capacity` rows with Dopamine's rules: before every
episode's first frame it adds stack_size - 1 all-zero padding rows (3 for ALE frames, none for
object grids); each time add_count reaches k * C - 1 it
writes checkpoint suffix k - 1 (so suffix 0 has add_count C - 1 and its last position unwritten,
and later full suffixes hold their oldest row at position C - 1); `close()` writes the final
partial checkpoint, whose positions after the cursor still hold the previous checkpoint's rows.

Unlike batch_rl's logger, the checkpoint test runs after every row rather than after every
`add` call, so an episode start (4 rows at once) never skips a checkpoint block.
"""

from __future__ import annotations

import pathlib

import numpy as np

from scaledql.data import format as fmt
from scaledql.data.run import read_checkpoint_infos


class ReplayWriter:
    """A DQN Replay run directory being written; the buffer is also the online learner's replay."""

    def __init__(
        self, run_dir: pathlib.Path, capacity: int = 1_000_000, frame_shape=fmt.FRAME_SHAPE
    ):
        self.frame_shape = tuple(frame_shape)
        self.stack_size = fmt.stack_size(self.frame_shape)
        if capacity < 2 * fmt.STACK_SIZE:
            raise ValueError(f"capacity {capacity} is too small; use at least {2 * fmt.STACK_SIZE}")
        self.run_dir = pathlib.Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.capacity = capacity
        self.observation = np.zeros((capacity, *self.frame_shape), np.uint8)
        self.action = np.zeros(capacity, np.int32)
        self.reward = np.zeros(capacity, np.float32)
        self.terminal = np.zeros(capacity, np.uint8)
        self.add_count = 0
        self.last_checkpoint_add_count = 0
        self.on_checkpoint = None  # called with the suffix after each checkpoint is written
        self._episode_open = False
        self._padding_added = 0  # padding rows of the coming episode already in the buffer

    @property
    def cursor(self) -> int:
        return self.add_count % self.capacity

    def add(self, observation: np.ndarray, action: int, reward: float, terminal: bool) -> None:
        """Adds one transition (o_t, a_t, clipped r_t, terminal_t); pads before a new episode."""
        if not self._episode_open:
            for _ in range(self.stack_size - 1 - self._padding_added):
                self._add_row(np.zeros(self.frame_shape, np.uint8), 0, 0.0, False)
            self._episode_open, self._padding_added = True, 0
        self._add_row(observation, action, float(np.clip(reward, -1.0, 1.0)), terminal)
        if terminal:
            self._episode_open = False

    def add_many(self, observations, actions, rewards, terminals) -> None:
        """Adds a block of transitions in order: `add` row by row, in whole slices where no
        padding is due (object grids have none), so a block of 10,000 rows costs a few copies.
        """
        if self.stack_size > 1:
            for row in zip(observations, actions, rewards, terminals, strict=True):
                self.add(*row)
            return
        rewards = np.clip(np.asarray(rewards, np.float32), -1.0, 1.0)
        start, total = 0, len(actions)
        while start < total:
            # rows up to and including the one that completes the next checkpoint
            to_checkpoint = (self.capacity - 1 - self.cursor) % self.capacity or self.capacity
            count = min(total - start, to_checkpoint, self.capacity - self.cursor)
            here, rows = slice(self.cursor, self.cursor + count), slice(start, start + count)
            self.observation[here] = observations[rows]
            self.action[here] = actions[rows]
            self.reward[here] = rewards[rows]
            self.terminal[here] = terminals[rows]
            self.add_count += count
            start += count
            if self.add_count % self.capacity == self.capacity - 1:
                self.write_checkpoint((self.add_count + 1) // self.capacity - 1)
        self._episode_open = not bool(terminals[-1]) if total else self._episode_open

    def end_episode(self) -> None:
        """Marks the last added row terminal (a truncation, e.g. collection interrupted)."""
        if self._episode_open and self.add_count:
            self.terminal[(self.add_count - 1) % self.capacity] = 1
            self._episode_open = False

    def _add_row(self, observation, action, reward, terminal) -> None:
        position = self.cursor
        self.observation[position] = observation
        self.action[position] = action
        self.reward[position] = reward
        self.terminal[position] = terminal
        self.add_count += 1
        if self.add_count % self.capacity == self.capacity - 1:
            self.write_checkpoint((self.add_count + 1) // self.capacity - 1)

    def holds_checkpoints(self, count: int | None) -> bool:
        """Whether the first `count` checkpoints are written (False for None: a whole run)."""
        return count is not None and (self.add_count + 1) // self.capacity >= count

    def write_checkpoint(self, suffix: int) -> None:
        """Writes the buffer as checkpoint `suffix`; add_count goes last, as the completion mark."""
        for name in fmt.STORE_ARRAYS:
            fmt.write_array(fmt.store_path(self.run_dir, name, suffix), getattr(self, name))
        invalid = np.array(
            [(self.cursor - 1 + i) % self.capacity for i in range(fmt.STACK_SIZE + 1)], np.int64
        )
        fmt.write_array(fmt.scalar_path(self.run_dir, "invalid_range", suffix), invalid)
        fmt.write_array(
            fmt.scalar_path(self.run_dir, "add_count", suffix), np.array(self.add_count, np.int64)
        )
        self.last_checkpoint_add_count = self.add_count
        if self.on_checkpoint is not None:
            self.on_checkpoint(suffix)

    def close(self) -> None:
        """Writes the final partial checkpoint if rows were added since the last one."""
        if self.add_count > self.last_checkpoint_add_count:
            self.write_checkpoint((self.add_count + 1) // self.capacity)

    @classmethod
    def resume(cls, run_dir: pathlib.Path, continue_episode: bool = False) -> ReplayWriter:
        """Reopens a run at its last checkpoint (whose buffer is the state to continue from).

        The episode in progress at that checkpoint cannot be continued when the emulator state
        is gone (ALE), so its last row becomes a terminal, like DQN Replay's 27,000-step
        truncation; a final partial checkpoint written by `close()` is continued the same way.
        `continue_episode=True` leaves it open, for a collector that saved its game's state.
        """
        infos = read_checkpoint_infos(run_dir)
        last = infos[-1]
        writer = cls(run_dir, last.capacity, last.frame_shape)
        for name, dtype in fmt.STORE_ARRAYS.items():
            path = fmt.store_path(run_dir, name, last.suffix)
            array = getattr(writer, name)
            for start, rows in fmt.stream_rows(path, dtype, array.shape[1:]):
                array[start : start + len(rows)] = rows
        writer.add_count = writer.last_checkpoint_add_count = last.add_count
        writer._padding_added = writer._trailing_padding()
        open_row = not writer.terminal[(last.add_count - 1) % last.capacity]
        if continue_episode:
            writer._episode_open = open_row
        elif writer._padding_added == 0 and open_row:
            writer._episode_open = True
            writer.end_episode()
            fmt.write_array(fmt.store_path(run_dir, "terminal", last.suffix), writer.terminal)
        return writer

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict:
        """A uniform batch of valid transitions from the buffer (the online learner's replay).

        Rows are those still in the buffer; a row is valid when none of the stack_size - 1 rows
        before it is terminal and its next row exists (Dopamine's rule). Same fields as
        `RunData.get`.
        """
        oldest = max(0, self.add_count - self.capacity)
        lo, hi = oldest + self.stack_size - 1, self.add_count - 1  # t in [lo, hi): t + 1 exists
        if hi - lo < 1:
            raise ValueError("the replay buffer holds no complete transition yet")
        rows = np.empty(0, np.int64)
        while len(rows) < batch_size:
            candidates = rng.integers(lo, hi, 2 * batch_size)
            history = (candidates[:, None] - np.arange(1, self.stack_size)) % self.capacity
            rows = np.concatenate([rows, candidates[~self.terminal[history].any(axis=1)]])
        rows = rows[:batch_size]
        stack = np.arange(-(self.stack_size - 1), 1)
        positions = (np.stack([rows, rows + 1])[..., None] + stack) % self.capacity
        if self.stack_size == 1:  # object grids: a state is one frame
            state, next_state = self.observation[positions[..., 0]]
        else:
            state, next_state = np.moveaxis(self.observation[positions], 2, -1)
        here = rows % self.capacity
        return {
            "state": state,
            "action": self.action[here].astype(np.int32),
            "reward": self.reward[here].copy(),
            "next_state": next_state,
            "terminal": self.terminal[here].astype(bool),
        }

    def _trailing_padding(self) -> int:
        """Padding rows at the buffer's end (a checkpoint fell inside an episode's padding)."""
        for count in range(self.stack_size - 1, 0, -1):
            rows = [(self.add_count - 1 - i) % self.capacity for i in range(count)]
            before = self.add_count - 1 - count
            starts_episode = before < 0 or self.terminal[before % self.capacity]
            if starts_episode and all(
                not self.observation[r].any() and self.action[r] == 0 and self.reward[r] == 0
                for r in rows
            ):
                return count
        return 0
