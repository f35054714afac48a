"""A subset of MinAtar grids held in memory, bit-packed, and batches drawn from it inside a
jitted loop (`train.sampler=memory`).

The host sampler (`MultiGameSampler`) reads rows from memory maps and stacks them in numpy, a
thread ahead of the update. Here every valid transition is worked out once: its state row, its
next-state row, its action, its n-step reward and terminal flag, exactly as
`RunData.transition_rows` gives them. The grids are binary, so each frame's H x W x C cells
pack into H * W * C / 8 bytes (125 for the twin's 10 x 10 x 10) and are unpacked inside the
jitted step. A batch draws its games uniformly, then a valid transition of each uniformly, as
the host sampler does, from a key the caller derives from (seed, step).
"""

from __future__ import annotations

import pathlib
import typing
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from scaledql.data.run import RunData

ROWS_A_CHUNK = 100_000  # frames unpacked from the memory maps at once while packing


class PackedTransitions(typing.NamedTuple):
    """Every valid transition of a multi-game subset (a pytree of arrays).

    frames (R, P) uint8: the grid of every row of every run, games one after another, each
      zero-padded to the widest game's channels and bit-packed (P = ceil(H * W * C / 8)).
    state_row, next_row (M,) int32: the rows of each transition's state and next state.
    action (M,) int32; reward (M,) float32 (the clipped, discounted n-step sum, cut at a
      terminal); terminal (M,) bool (a terminal within the n steps: the next state is zeros).
    game_start (G + 1,) int32: game g's transitions are game_start[g] to game_start[g + 1].
    """

    frames: np.ndarray
    state_row: np.ndarray
    next_row: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    terminal: np.ndarray
    game_start: np.ndarray

    @property
    def num_transitions(self) -> int:
        return int(self.game_start[-1])


def grid_shape(runs: Sequence[Sequence[RunData]], channels: int | None = None):
    """(H, W, C) of the batches: the runs' grid, `channels` wide (default: the widest
    game's)."""
    shapes = {run.frame_shape for game_runs in runs for run in game_runs}
    if any(len(shape) != 3 for shape in shapes):
        raise ValueError(
            "train.sampler=memory packs MinAtar object grids; these runs hold ALE frames: set "
            "train.sampler=host"
        )
    height, width, _ = next(iter(shapes))
    return height, width, channels or max(shape[2] for shape in shapes)


def packed_bytes(runs: Sequence[Sequence[RunData]]) -> int:
    """Bytes `pack_transitions` will hold for `runs`: the packed frames and 17 bytes a row."""
    height, width, channels = grid_shape(runs)
    rows = sum(run.num_rows for game_runs in runs for run in game_runs)
    return rows * (-(-height * width * channels // 8) + 17)


def available_bytes() -> int:
    """Memory this machine can still give (Linux's MemAvailable; else all of it)."""
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def check_fits(runs: Sequence[Sequence[RunData]], what: str) -> None:
    """Stops, before anything is packed, a subset that would take more than half the memory
    this machine has free. what: the run's data settings, for the message."""
    needed, free = packed_bytes(runs), available_bytes()
    if needed > free // 2:
        raise MemoryError(
            f"train.sampler=memory would hold {what} in memory packed: {needed / 2**30:.1f} GiB, "
            f"but this machine has {free / 2**30:.1f} GiB free; choose a smaller data.subset "
            "(e.g. initial:20) or set train.sampler=host, which reads the runs from disk"
        )


def _pack_frames(run: RunData, channels: int) -> np.ndarray:
    """(N, P) uint8: every frame of `run`, padded to `channels` and bit-packed."""
    height, width, own = run.frame_shape
    out = np.empty((run.num_rows, -(-height * width * channels // 8)), np.uint8)
    for start in range(0, run.num_rows, ROWS_A_CHUNK):
        rows = np.arange(start, min(start + ROWS_A_CHUNK, run.num_rows))
        grids = np.zeros((len(rows), height, width, channels), np.uint8)
        grids[..., :own] = run.frames(rows)
        if grids.max(initial=0) > 1:
            raise ValueError(f"{run.run_dir}: its grids are not binary, so they cannot be packed")
        out[start : start + len(rows)] = np.packbits(grids.reshape(len(rows), -1), axis=1)
    return out


def pack_transitions(
    runs: Sequence[Sequence[RunData]],
    n_step: int = 1,
    discount: float = 0.99,
    channels: int | None = None,
) -> PackedTransitions:
    """The valid transitions of runs[g] (game g's runs), as `MultiGameSampler` would draw
    them, packed into memory, each grid zero-padded to `channels` (default: the widest)."""
    channels = grid_shape(runs, channels)[2]
    frames, fields, starts, offset = [], [], [0], 0
    for game_runs in runs:
        count = 0
        for run in game_runs:
            rows = np.flatnonzero(run.valid_mask(n_step))
            window, small = run.transition_rows(rows, n_step, discount)
            fields.append(
                {
                    "state_row": (offset + window[run.stack_size - 1]).astype(np.int32),
                    "next_row": (offset + window[-1]).astype(np.int32),
                    **small,
                }
            )
            frames.append(_pack_frames(run, channels))
            offset += run.num_rows
            count += len(rows)
        if count == 0:
            raise ValueError(f"{game_runs[0].run_dir} holds no valid transition")
        starts.append(starts[-1] + count)
    joined = {key: np.concatenate([f[key] for f in fields]) for key in fields[0]}
    return PackedTransitions(
        frames=np.concatenate(frames),
        game_start=np.asarray(starts, np.int32),
        **joined,
    )


def sample_packed(
    packed: PackedTransitions, key: jax.Array, batch_size: int, shape: tuple[int, int, int]
) -> dict:
    """One batch of `batch_size` transitions drawn with `key` (traceable, for a jitted loop):
    state, next_state (B, H, W, C) uint8, action (B,) int32, reward (B,) float32, terminal
    (B,) bool and game_id (B,) int32, games drawn uniformly, then transitions uniformly."""
    packed = jax.tree.map(jnp.asarray, packed)  # numpy arrays index no traced values
    game_key, row_key = jax.random.split(key)
    num_games = packed.game_start.shape[0] - 1
    game_id = jax.random.randint(game_key, (batch_size,), 0, num_games)
    first, last = packed.game_start[game_id], packed.game_start[game_id + 1]
    index = jax.random.randint(row_key, (batch_size,), first, last)
    terminal = packed.terminal[index]

    def unpack(rows):
        bits = jnp.unpackbits(packed.frames[rows], axis=-1, count=int(np.prod(shape)))
        return bits.reshape(batch_size, *shape)

    return {
        "state": unpack(packed.state_row[index]),
        "action": packed.action[index],
        "reward": packed.reward[index],
        "next_state": unpack(packed.next_row[index]) * ~terminal[:, None, None, None],
        "terminal": terminal,
        "game_id": game_id.astype(jnp.int32),
    }
