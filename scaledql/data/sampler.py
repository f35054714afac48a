"""Multi-game batches, uniform over games, then over valid rows: stacked transitions for the
Q-network, sequences of timesteps for the Decision Transformer."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Sequence

import numpy as np

from scaledql.data.run import RunData, stack_windows


class MultiGameSampler:
    """Samples batches from `runs[g]` (the runs of game g, g = 0..G-1).

    Each batch draws game ids (uniformly, or by `weights`), then for each game a uniform
    transition among the valid rows of all its runs. Returns the `RunData.get` fields plus
    game_id (B,) int32, ordered by game. Every run has frames of one kind; object grids with
    fewer channels than `channels` (default: the widest run's) are zero-padded to it, so that
    games of different widths share one state shape.
    """

    def __init__(
        self,
        runs: Sequence[Sequence[RunData]],
        batch_size: int,
        n_step: int = 1,
        discount: float = 0.99,
        weights: Sequence[float] | None = None,
        seed: int = 0,
        channels: int | None = None,
    ):
        self.runs = [list(game_runs) for game_runs in runs]
        shapes = {run.frame_shape[:2] for game_runs in self.runs for run in game_runs}
        kinds = {len(run.frame_shape) for game_runs in self.runs for run in game_runs}
        if len(shapes) > 1 or len(kinds) > 1:
            raise ValueError(
                f"the runs hold frames of different kinds ({sorted(shapes)}): a batch needs one "
                "state shape; sample ALE runs and MinAtar runs separately"
            )
        self.frame_shape = self.runs[0][0].frame_shape
        self.stack_size = self.runs[0][0].stack_size
        if len(self.frame_shape) == 3:  # object grids: pad channels to a common width
            widest = max(run.frame_shape[2] for game_runs in self.runs for run in game_runs)
            self.frame_shape = (*self.frame_shape[:2], channels or widest)
        self.batch_size = batch_size
        self.n_step = n_step
        self.discount = discount
        self.rng = np.random.default_rng(seed)
        self.valid = []  # per game, per run: valid row indices (int32 where they fit)
        for g, game_runs in enumerate(self.runs):
            if not game_runs:
                raise ValueError(f"game {g} has no runs")
            rows = [np.flatnonzero(self.row_mask(run)) for run in game_runs]
            rows = [
                r.astype(np.int32) if run.num_rows < 2**31 else r
                for r, run in zip(rows, game_runs, strict=True)
            ]
            if sum(len(r) for r in rows) == 0:
                raise ValueError(f"{game_runs[0].run_dir} holds no valid {self.unit}")
            self.valid.append(rows)
        self.counts = [np.cumsum([0] + [len(r) for r in rows]) for rows in self.valid]
        num_games = len(self.runs)
        p = np.full(num_games, 1 / num_games) if weights is None else np.asarray(weights, float)
        self.weights = p / p.sum()

    unit = "transition"  # what a valid row starts, for errors

    def row_mask(self, run: RunData) -> np.ndarray:
        """(N,) bool: the rows of `run` a batch may draw."""
        return run.valid_mask(self.n_step)

    def picks(self, rng: np.random.Generator, share: slice | None = None):
        """The rows of one batch, as (game, run, rows) in game order: games drawn by the
        weights, then rows uniform among each game's valid rows of all its runs.

        share: only these positions of the batch (a process's share of a batch split over
        several); every position is drawn all the same, so the share is that of the whole."""
        games = np.sort(rng.choice(len(self.runs), self.batch_size, p=self.weights))
        start, stop = (0, self.batch_size) if share is None else (share.start, share.stop)
        position = 0
        for game in np.unique(games):
            count = int((games == game).sum())
            picks = rng.integers(0, self.counts[game][-1], count)
            which = np.searchsorted(self.counts[game], picks, side="right") - 1
            for run_index in np.unique(which):
                rows = self.valid[game][run_index][
                    picks[which == run_index] - self.counts[game][run_index]
                ]
                first, position = position, position + len(rows)
                rows = rows[max(start - first, 0) : max(stop - first, 0)]
                if len(rows):
                    yield game, self.runs[game][run_index], rows

    def share_size(self, share: slice | None) -> int:
        """Rows of a batch's share (all of them without one)."""
        return self.batch_size if share is None else share.stop - share.start

    def read_frames(self, run: RunData, rows: np.ndarray, target: np.ndarray) -> None:
        """Writes the frames of `rows` into `target`; a grid narrower than the batch's fills
        its own channels, the rest stay as they are (0)."""
        if run.frame_shape != self.frame_shape:
            target[..., : run.frame_shape[-1]] = run.frames(rows)
        else:
            run.frames(rows, out=target)

    def sample(self, rng: np.random.Generator | None = None, share: slice | None = None) -> dict:
        """One batch, drawn with `rng` (the sampler's own generator by default); with `share`,
        only those of its rows (`picks`)."""
        rng = self.rng if rng is None else rng
        size = self.share_size(share)
        window_shape = (self.n_step + self.stack_size, size, *self.frame_shape)
        # grids may be padded, so their windows start at 0; ALE windows are filled whole
        frames = (np.zeros if len(self.frame_shape) == 3 else np.empty)(window_shape, np.uint8)
        parts, filled = [], 0
        for game, run, rows in self.picks(rng, share):
            window, fields = run.transition_rows(rows, self.n_step, self.discount)
            self.read_frames(run, window, frames[:, filled : filled + len(rows)])
            fields["game_id"] = np.full(len(rows), game, np.int32)
            parts.append(fields)
            filled += len(rows)
        batch = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        batch["state"], batch["next_state"] = stack_windows(frames, self.n_step, batch["terminal"])
        return batch

    def batch_for_step(self, seed: int, step: int, share: slice | None = None) -> dict:
        """The batch of gradient step `step`: a function of (seed, step) alone, so a resumed
        run sees exactly the batches an uninterrupted one would, and processes that each
        sample their `share` of it together hold the batch one process would sample."""
        return self.sample(np.random.default_rng([seed, step]), share)

    def prefetch(self, depth: int = 4, seed: int | None = None, start_step: int = 0):
        """An endless iterator of batches sampled in a background thread, `depth` ahead.

        With `seed`, batch i is `batch_for_step(seed, start_step + i)`.
        """
        if seed is None:
            return Prefetcher(self.sample, depth)
        steps = itertools.count(start_step)
        return Prefetcher(lambda: self.batch_for_step(seed, next(steps)), depth)


class SequenceSampler(MultiGameSampler):
    """Batches of `context` consecutive timesteps of one episode, for the Decision Transformer,
    drawn as `MultiGameSampler` draws transitions, among the rows that may start a sequence
    (`RunData.sequence_mask`).

    A batch holds frames (B, T, H, W, C) uint8 (one 84x84 ALE frame a timestep, C = 1; grids
    padded as the Q-network's batches), action (B, T) int32, reward (B, T) float32 (clipped),
    returns (B, T) float32 (returns-to-go, `RunData.returns_to_go`) and game_id (B,) int32.
    """

    unit = "sequence"

    def __init__(
        self,
        runs: Sequence[Sequence[RunData]],
        batch_size: int,
        context: int,
        weights: Sequence[float] | None = None,
        seed: int = 0,
        channels: int | None = None,
    ):
        self.context = context
        super().__init__(runs, batch_size, weights=weights, seed=seed, channels=channels)
        self.returns = {
            id(run): run.returns_to_go()[0] for game_runs in self.runs for run in game_runs
        }

    def row_mask(self, run: RunData) -> np.ndarray:
        return run.sequence_mask(self.context)

    def sample(self, rng: np.random.Generator | None = None, share: slice | None = None) -> dict:
        rng = self.rng if rng is None else rng
        frame = self.frame_shape if len(self.frame_shape) == 3 else (*self.frame_shape, 1)
        size = self.share_size(share)
        frames = np.zeros((size, self.context, *frame), np.uint8)
        parts, filled = [], 0
        for game, run, rows in self.picks(rng, share):
            window = rows[:, None] + np.arange(self.context)  # (b, T)
            target = frames[filled : filled + len(rows)]
            self.read_frames(run, window, target if len(run.frame_shape) == 3 else target[..., 0])
            parts.append(
                {
                    "action": run.action[window].astype(np.int32),
                    "reward": np.clip(run.reward[window], -1, 1).astype(np.float32),
                    "returns": self.returns[id(run)][window],
                    "game_id": np.full(len(rows), game, np.int32),
                }
            )
            filled += len(rows)
        batch = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        batch["frames"] = frames
        return batch


class Prefetcher:
    """Runs `produce()` in a daemon thread and hands out its results in order."""

    def __init__(self, produce, depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(produce,), daemon=True)
        self._thread.start()

    def _run(self, produce):
        while not self._stop.is_set():
            try:
                item = produce()
            except BaseException as error:  # hand the error to the consumer
                item = error
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
