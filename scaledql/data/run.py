"""Reading one DQN Replay run directory: checks, a memory-mapped cache, chronological rows.

`open_run(run_dir)` checks every checkpoint's files and add_counts, decompresses each checkpoint
once into a cache directory (streamed, never a whole observation array in memory), and returns
a `RunData` that indexes rows chronologically across checkpoints:

- checkpoint k contributes rows [first_row, add_count): first_row is the previous checkpoint's
  add_count, so suffix 0's unwritten last position, the rolled order of full checkpoints and the
  stale tail of the final partial checkpoint all come out right from add_counts alone;
- when consecutive add_counts differ by more than the capacity, the block in between was never
  written (an episode start that jumped over a checkpoint boundary); this is reported with the
  missing rows, and no stack or transition is formed across the gap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import pathlib
import shutil
import tempfile
import warnings

import numpy as np

from scaledql.data import format as fmt

CACHE_VERSION = 1
DataFormatError = fmt.DataFormatError


def cache_root() -> pathlib.Path:
    """Where decompressed checkpoints live: $SCALEDQL_CACHE or ~/.cache/scaledql."""
    return pathlib.Path(os.environ.get("SCALEDQL_CACHE", pathlib.Path.home() / ".cache/scaledql"))


def read_checkpoint_infos(run_dir: pathlib.Path, suffixes=None) -> list[fmt.CheckpointInfo]:
    """Checks the files of each checkpoint and works out the rows each one contributes.

    Raises a DataFormatError naming the missing or damaged file; warns, naming the missing
    rows, when a block between two checkpoints was never written.
    """
    run_dir = pathlib.Path(run_dir)
    present = fmt.find_suffixes(run_dir)
    if suffixes is None:
        suffixes = present
    missing = sorted(set(suffixes) - set(present))
    if missing:
        raise DataFormatError(
            f"{run_dir} has no checkpoint {missing[0]}; "
            f"present suffixes: {present[0]}..{present[-1]}"
        )
    infos = []
    for suffix in sorted(suffixes):
        for path in fmt.checkpoint_files(run_dir, suffix):
            if not path.exists():
                raise DataFormatError(f"{path} is missing: checkpoint {suffix} is incomplete")
        add_path = fmt.scalar_path(run_dir, "add_count", suffix)
        add_count = fmt.read_array(add_path)
        fmt.check_array(add_path, add_count.dtype, add_count.shape, np.dtype(np.int64), ())
        obs_path = fmt.store_path(run_dir, "observation", suffix)
        stream, dtype, shape = fmt._open_npy(obs_path)
        stream.close()
        frame_shape = _frame_shape(obs_path, dtype, shape)
        if infos and frame_shape != infos[0].frame_shape:
            raise DataFormatError(
                f"{obs_path} holds frames of shape {frame_shape}, checkpoint "
                f"{infos[0].suffix}'s hold {infos[0].frame_shape}; the directory mixes two runs"
            )
        capacity, add_count = shape[0], int(add_count)
        first_row = 0 if suffix == 0 else max(0, add_count - capacity)
        previous = infos[-1] if infos else None
        # compare with the checkpoint before unless the caller chose to skip those in between
        skipped = previous is not None and any(
            k in present for k in range(previous.suffix + 1, suffix)
        )
        if previous is not None and not skipped:
            if add_count <= previous.add_count:
                raise DataFormatError(
                    f"{add_path}: add_count {add_count:,} is not above checkpoint "
                    f"{previous.suffix}'s {previous.add_count:,}; the directory mixes two runs"
                )
            if add_count - previous.add_count > capacity:
                warnings.warn(
                    f"{run_dir}: rows {previous.add_count:,}..{add_count - capacity - 1:,} "
                    f"between checkpoints {previous.suffix} and {suffix} are not in the data "
                    f"(add_counts {previous.add_count:,} and {add_count:,} differ by more than "
                    f"the capacity {capacity:,}: a checkpoint is missing or was never written); "
                    "no transition is sampled across this gap",
                    stacklevel=2,
                )
            else:
                first_row = previous.add_count
        infos.append(fmt.CheckpointInfo(suffix, add_count, capacity, first_row, frame_shape))
    return infos


def _frame_shape(path: pathlib.Path, dtype: np.dtype, shape: tuple) -> tuple:
    """The frame shape of an observation file: (84, 84) ALE frames or (H, W, K) grids."""
    if len(shape) == 4 and dtype == np.uint8:
        return tuple(shape[1:])
    fmt.check_array(path, dtype, shape, np.dtype(np.uint8), ("C", *fmt.FRAME_SHAPE))
    return fmt.FRAME_SHAPE


def _fingerprint(run_dir: pathlib.Path, info: fmt.CheckpointInfo) -> dict:
    files = fmt.checkpoint_files(run_dir, info.suffix)
    return {
        "version": CACHE_VERSION,
        "files": {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files},
        "first_row": info.first_row,
        "add_count": info.add_count,
        "frame_shape": list(info.frame_shape),
    }


def _cache_dir(run_dir: pathlib.Path, suffix: int) -> pathlib.Path:
    key = hashlib.sha256(str(pathlib.Path(run_dir).resolve()).encode()).hexdigest()[:16]
    return cache_root() / "runs" / key / f"ckpt_{suffix}"


def _cache_is_valid(directory: pathlib.Path, fingerprint: dict) -> bool:
    """True when the cache's meta.json matches the source files and every array is whole."""
    try:
        meta = json.loads((directory / "meta.json").read_text())
        if meta["fingerprint"] != fingerprint:
            return False
        rows = fingerprint["add_count"] - fingerprint["first_row"]
        for name, dtype in fmt.STORE_ARRAYS.items():
            array = np.load(directory / f"{name}.npy", mmap_mode="r")
            row = fmt.row_shape(name, tuple(fingerprint["frame_shape"]))
            if array.dtype != dtype or array.shape != (rows, *row):
                return False
        return True
    except (OSError, ValueError, KeyError):
        return False


def _build_cache(run_dir, info: fmt.CheckpointInfo, directory: pathlib.Path, fingerprint) -> None:
    """Decompresses checkpoint `info` into chronological .npy files, atomically.

    Writes into a temporary sibling directory and renames it into place, so a killed build
    never leaves a half-built cache that could be mistaken for a whole one.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        capacity, rows = info.capacity, info.num_rows
        start = info.first_row % capacity  # position of the first new row
        first_len = min(rows, capacity - start)  # rows at positions start..C-1, then 0..
        for name, dtype in fmt.STORE_ARRAYS.items():
            # Plain positioned writes, not a writable memory map: written pages then belong to
            # the page cache, not to this process (a 7 GB map would count fully in its RSS).
            row = fmt.row_shape(name, info.frame_shape)
            row_bytes = int(np.prod(row, dtype=np.int64)) * dtype.itemsize
            with open(tmp / f"{name}.npy", "wb") as out:
                header = {"descr": dtype.str, "fortran_order": False, "shape": (rows, *row)}
                np.lib.format.write_array_header_1_0(out, header)
                data_start = out.tell()
                path = fmt.store_path(run_dir, name, info.suffix)
                for pos, chunk in fmt.stream_rows(path, dtype, row):
                    end = pos + len(chunk)
                    # positions [start, start + first_len) -> rows [0, first_len)
                    lo, hi = max(pos, start), min(end, start + first_len)
                    if lo < hi:
                        out.seek(data_start + (lo - start) * row_bytes)
                        out.write(chunk[lo - pos : hi - pos].tobytes())
                    # positions [0, rows - first_len) -> rows [first_len, rows)
                    lo, hi = pos, min(end, rows - first_len)
                    if lo < hi:
                        out.seek(data_start + (first_len + lo) * row_bytes)
                        out.write(chunk[: hi - lo].tobytes())
        (tmp / "meta.json").write_text(json.dumps({"fingerprint": fingerprint}))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclasses.dataclass
class RunData:
    """A run's rows in chronological order, memory-mapped from the cache.

    observation (N, *frame_shape) is one memory map per checkpoint (looked up per row); action,
    reward, terminal (N,) are small and held in memory. `segment_starts` lists the first row of
    every contiguous stretch: a new one begins after a gap in the data or a subset's cut.
    """

    run_dir: pathlib.Path
    checkpoints: list[fmt.CheckpointInfo]
    observations: list[np.ndarray]
    action: np.ndarray
    reward: np.ndarray
    terminal: np.ndarray
    offsets: np.ndarray  # (num_checkpoints + 1,) first row of each checkpoint, then num_rows
    segment_starts: np.ndarray

    @property
    def num_rows(self) -> int:
        return int(self.offsets[-1])

    @property
    def frame_shape(self) -> tuple:
        """(84, 84) for ALE frames, (H, W, K) for object grids."""
        return self.checkpoints[0].frame_shape

    @property
    def stack_size(self) -> int:
        return fmt.stack_size(self.frame_shape)

    def frames(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(*rows.shape, *frame_shape) uint8 observations of chronological rows (into `out` if
        given)."""
        rows = np.asarray(rows)
        if out is None:
            out = np.empty((*rows.shape, *self.frame_shape), np.uint8)
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        for ckpt in np.unique(which):
            mask = which == ckpt
            out[mask] = self.observations[ckpt][rows[mask] - self.offsets[ckpt]]
        return out

    def valid_mask(self, n_step: int = 1) -> np.ndarray:
        """(num_rows,) bool: rows that may be sampled as the start of an n-step transition.

        As Dopamine: the stack_size - 1 rows before t hold no terminal (so the stack is one
        episode, with zero padding before its first frame); rows t..t+n-1 and, unless a terminal
        comes first,
        the next-state row t+n exist. In addition no stack or transition crosses a segment start.
        """
        n = self.num_rows
        valid = np.ones(n, bool)
        terminal = self.terminal.astype(bool)
        for lag in range(1, self.stack_size):  # no terminal among the stack's earlier rows
            valid[lag:] &= ~terminal[:-lag]
        # rows t .. t+n_step must lie in the same segment, unless a terminal ends it sooner
        segment_end = np.empty(n, np.int64)  # first row of the next segment
        bounds = np.append(self.segment_starts, n)
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            segment_end[start:end] = end
            valid[start : start + self.stack_size - 1] = False  # stack would reach before start
        rows = np.arange(n)
        first_terminal = _next_terminal(terminal)  # first terminal row >= t (n if none)
        needed = np.where(first_terminal < rows + n_step, first_terminal, rows + n_step)
        valid &= needed < segment_end
        return valid

    def episodes(self) -> tuple[np.ndarray, np.ndarray]:
        """(episode (N,) int64, last_row (E,) int64): the episode index of every row, and each
        episode's last row. An episode ends at a terminal row or where its segment does (a
        subset's cut or a gap), so no episode spans two segments."""
        n = self.num_rows
        starts = np.zeros(n, bool)
        starts[0] = True
        starts[1:] |= self.terminal[:-1].astype(bool)
        starts[self.segment_starts] = True
        first_rows = np.flatnonzero(starts)
        return np.cumsum(starts) - 1, np.append(first_rows[1:] - 1, n - 1)

    def returns_to_go(self) -> tuple[np.ndarray, np.ndarray]:
        """(returns (N,) float32, finished (N,) bool): the sum of the clipped rewards from each
        row to its episode's last row, and whether that episode ends with a terminal (the
        return-to-go of an episode cut by its segment's end is only a partial sum)."""
        episode, last_row = self.episodes()
        totals = np.cumsum(np.clip(self.reward, -1, 1).astype(np.float64))
        ends = last_row[episode]
        returns = totals[ends] - totals + np.clip(self.reward, -1, 1)
        return returns.astype(np.float32), self.terminal[ends].astype(bool)

    def sequence_mask(self, context: int) -> np.ndarray:
        """(N,) bool: rows that may start a sequence of `context` timesteps: rows t .. t +
        context - 1 lie in one episode, and that episode ends with a terminal in the data, so
        every return-to-go in the sequence is whole."""
        episode, _ = self.episodes()
        _, finished = self.returns_to_go()
        valid = finished.copy()
        last = np.arange(self.num_rows) + context - 1
        valid[last >= self.num_rows] = False
        inside = last < self.num_rows
        valid[inside] &= episode[last[inside]] == episode[inside]
        return valid

    def transition_rows(self, indices: np.ndarray, n_step: int = 1, discount: float = 0.99):
        """The rows to read for transitions at `indices` (B,), and their small fields.

        Returns (rows (n_step + S, B): rows t-S+1 .. t+n_step for stack size S, clamped to the
        run; fields dict with action, reward (discounted n-step sum, cut at a terminal),
        terminal).
        """
        indices = np.asarray(indices, np.int64)
        steps = np.arange(n_step)
        window = np.minimum(indices[:, None] + steps[None, :], self.num_rows - 1)  # (B, n)
        terminals = self.terminal[window].astype(bool)
        alive = np.cumsum(terminals, axis=1) - terminals == 0  # up to the first terminal
        rewards = np.clip(self.reward[window], -1, 1) * alive
        rows = indices[None, :] + np.arange(-(self.stack_size - 1), n_step + 1)[:, None]
        fields = {
            "action": self.action[indices].astype(np.int32),
            "reward": (rewards * discount ** steps[None, :]).sum(axis=1).astype(np.float32),
            "terminal": terminals.any(axis=1),
        }
        return np.minimum(rows, self.num_rows - 1), fields

    def get(self, indices: np.ndarray, n_step: int = 1, discount: float = 0.99) -> dict:
        """Transitions starting at chronological rows `indices` (B,).

        Returns state (B, 84, 84, 4) uint8 (one (H, W, K) frame for object grids), action (B,)
        int32, reward (B,) float32 (clipped; the discounted n-step sum, cut at a terminal),
        next_state like state (zeros after a terminal), terminal (B,) bool (a terminal within
        the n steps).
        """
        rows, fields = self.transition_rows(indices, n_step, discount)
        state, next_state = stack_windows(self.frames(rows), n_step, fields["terminal"])
        return {"state": state, "next_state": next_state, **fields}


def stack_windows(frames: np.ndarray, n_step: int, terminal: np.ndarray):
    """States and next states from frame windows (n_step + S, B, *frame_shape): (B, 84, 84, 4)
    for ALE frames (S = 4), the frames themselves for object grids (S = 1).

    cv2.merge interleaves the 4 frame planes about 30x faster than a numpy transpose.
    """
    import cv2

    if frames.ndim == 5:  # (n_step + 1, B, H, W, K) object grids: a state is one frame
        state, next_state = frames[0].copy(), frames[n_step].copy()
        next_state[terminal] = 0
        return state, next_state
    width, batch = frames.shape[:2]
    if batch == 0:
        empty = np.zeros((0, 84, 84, fmt.STACK_SIZE), np.uint8)
        return empty, empty.copy()

    def interleave(planes):
        merged = cv2.merge([p.reshape(batch * 84, 84) for p in planes])
        return merged.reshape(batch, 84, 84, fmt.STACK_SIZE)

    state = interleave(frames[: fmt.STACK_SIZE])
    next_state = interleave(frames[n_step : n_step + fmt.STACK_SIZE])
    next_state[terminal] = 0  # masked by the terminal flag; no stack holds two episodes
    return state, next_state


def _next_terminal(terminal: np.ndarray) -> np.ndarray:
    """(N,) index of the first terminal row at or after each row (N where there is none)."""
    n = len(terminal)
    positions = np.where(terminal, np.arange(n), n)
    return np.minimum.accumulate(positions[::-1])[::-1]


def open_run(run_dir, suffixes=None, keep_fraction: float | None = None) -> RunData:
    """Opens a run directory: checks its files, builds or reuses the cache, indexes its rows.

    suffixes: the checkpoints to load (default all). keep_fraction: keep only the first
    fraction of each checkpoint's rows (batch_rl's "x %" subset); each kept block is its own
    segment.
    """
    run_dir = pathlib.Path(run_dir)
    infos = read_checkpoint_infos(run_dir, suffixes)
    observations, actions, rewards, terminals, offsets, segment_starts = [], [], [], [], [0], []
    for i, info in enumerate(infos):
        directory = _cache_dir(run_dir, info.suffix)
        fingerprint = _fingerprint(run_dir, info)
        if not _cache_is_valid(directory, fingerprint):
            _build_cache(run_dir, info, directory, fingerprint)
        keep = info.num_rows
        if keep_fraction is not None:
            keep = max(1, int(round(info.num_rows * keep_fraction)))
        arrays = {
            name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in fmt.STORE_ARRAYS
        }
        # Sampling reads frames at random: tell the kernel not to read ahead around each fault
        # when the cache is not in the page cache (it would read far more than it uses).
        arrays["observation"]._mmap.madvise(mmap.MADV_RANDOM)
        arrays = {name: array[:keep] for name, array in arrays.items()}
        contiguous = i > 0 and info.first_row == infos[i - 1].add_count and keep_fraction is None
        if not contiguous:
            segment_starts.append(offsets[-1])
        observations.append(arrays["observation"])
        actions.append(np.asarray(arrays["action"]))
        rewards.append(np.asarray(arrays["reward"]))
        terminals.append(np.asarray(arrays["terminal"]))
        offsets.append(offsets[-1] + keep)
    return RunData(
        run_dir=run_dir,
        checkpoints=infos,
        observations=observations,
        action=np.concatenate(actions),
        reward=np.concatenate(rewards),
        terminal=np.concatenate(terminals),
        offsets=np.array(offsets),
        segment_starts=np.array(segment_starts, np.int64),
    )
