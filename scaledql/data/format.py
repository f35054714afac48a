"""The DQN Replay Dataset's on-disk format (Dopamine's replay checkpoints, as batch_rl logged them).

A run directory holds, for each checkpoint suffix k, six gzip files, each one `np.save` array:

    $store$_observation_ckpt.k.gz   uint8   (C, 84, 84)  single frames (or (C, H, W, K), below)
    $store$_action_ckpt.k.gz        int32   (C,)         index in the game's minimal action set
    $store$_reward_ckpt.k.gz        float32 (C,)         summed over 4 frames, clipped to [-1, 1]
    $store$_terminal_ckpt.k.gz      uint8   (C,)         1 on an episode's last row
    add_count_ckpt.k.gz             int64   ()           rows ever added to the buffer
    invalid_range_ckpt.k.gz         int64   (5,)         positions near the cursor

C is the buffer capacity (1,000,000 in the dataset). Global row g sits at position g % C.

A 2-D frame is an ALE greyscale frame, and a state stacks the last 4 (`STACK_SIZE`). A 3-D frame
(H, W, K) is a grid of K object channels, as Dopamine logs MinAtar (stack size 1): a state is one
frame. `stack_size(frame_shape)` says which.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import zlib

import numpy as np
from isal import igzip

from scaledql.atomic import atomic_file

FRAME_SHAPE = (84, 84)  # an ALE frame, as DQN Replay stores it
STACK_SIZE = 4  # ALE frames in a state

# name in the file -> dtype; each holds (C, *row_shape(name, frame_shape))
STORE_ARRAYS: dict[str, np.dtype] = {
    "observation": np.dtype(np.uint8),
    "action": np.dtype(np.int32),
    "reward": np.dtype(np.float32),
    "terminal": np.dtype(np.uint8),
}
_SUFFIX = re.compile(r"^\$store\$_observation_ckpt\.(\d+)\.gz$")


def stack_size(frame_shape: tuple) -> int:
    """Frames in a state: 4 for 2-D (ALE greyscale) frames, 1 for 3-D object grids."""
    return STACK_SIZE if len(frame_shape) == 2 else 1


def row_shape(name: str, frame_shape: tuple) -> tuple:
    """The shape of one row of store array `name` in a run of `frame_shape` frames."""
    return tuple(frame_shape) if name == "observation" else ()


class DataFormatError(ValueError):
    """A run directory or cache file is missing, corrupt, or not in the DQN Replay format."""


def store_path(run_dir: pathlib.Path, name: str, suffix: int) -> pathlib.Path:
    return pathlib.Path(run_dir) / f"$store$_{name}_ckpt.{suffix}.gz"


def scalar_path(run_dir: pathlib.Path, name: str, suffix: int) -> pathlib.Path:
    return pathlib.Path(run_dir) / f"{name}_ckpt.{suffix}.gz"


def checkpoint_files(run_dir: pathlib.Path, suffix: int) -> list[pathlib.Path]:
    """The six files checkpoint `suffix` must have (never `episode_end_indices`)."""
    return [store_path(run_dir, name, suffix) for name in STORE_ARRAYS] + [
        scalar_path(run_dir, "add_count", suffix),
        scalar_path(run_dir, "invalid_range", suffix),
    ]


def find_suffixes(run_dir: pathlib.Path) -> list[int]:
    """Checkpoint suffixes present in `run_dir` (by their observation file), ascending."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise DataFormatError(
            f"{run_dir} is not a directory; expected a DQN Replay run directory such as "
            "Pong/1/replay_logs, or one written by `scaledql collect`"
        )
    suffixes = sorted(int(m.group(1)) for p in run_dir.iterdir() if (m := _SUFFIX.match(p.name)))
    if not suffixes:
        raise DataFormatError(
            f"{run_dir} holds no $store$_observation_ckpt.K.gz file; is it a replay_logs "
            "directory of the DQN Replay Dataset?"
        )
    return suffixes


def _open_npy(path: pathlib.Path):
    """Opens a gzipped .npy; returns (file object positioned at the data, dtype, shape)."""
    try:
        stream = igzip.open(path, "rb")
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    except FileNotFoundError:
        raise DataFormatError(f"{path} is missing") from None
    except (OSError, EOFError, ValueError, zlib.error) as error:
        raise DataFormatError(f"{path} is not a readable gzipped .npy file ({error})") from None
    if fortran:
        raise DataFormatError(f"{path} holds a Fortran-ordered array; expected C order")
    return stream, np.dtype(dtype), tuple(shape)


def check_array(path, dtype, shape, want_dtype: np.dtype, want_shape: tuple) -> None:
    """Raises a DataFormatError naming `path` unless dtype and shape match."""
    if dtype != want_dtype or len(shape) != len(want_shape):
        raise DataFormatError(
            f"{path} holds {dtype} {shape}; DQN Replay stores {want_dtype} with shape {want_shape}"
        )
    for got, want in zip(shape, want_shape, strict=True):
        if not isinstance(want, str) and got != want:
            raise DataFormatError(f"{path} has shape {shape}; expected {want_shape}")


def read_array(path: pathlib.Path) -> np.ndarray:
    """Reads a whole gzipped .npy array (for the small files; frames are streamed instead)."""
    stream, dtype, shape = _open_npy(path)
    with stream:
        try:
            data = stream.read()
        except (OSError, EOFError, zlib.error) as error:
            raise DataFormatError(f"{path} is corrupt or truncated ({error})") from None
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataFormatError(f"{path} is truncated: {len(data)} of {expected} bytes")
    return np.frombuffer(data, dtype).reshape(shape).copy()


def stream_rows(path: pathlib.Path, dtype: np.dtype, row_shape: tuple, chunk_rows: int = 8192):
    """Yields (first_position, rows) chunks of a gzipped (C, *row_shape) array, never all of it.

    Checks dtype and trailing shape first; raises a DataFormatError naming the file when it is
    corrupt, truncated or of the wrong type.
    """
    stream, got_dtype, shape = _open_npy(path)
    with stream:
        check_array(path, got_dtype, shape, dtype, ("C", *row_shape))
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        position = 0
        while position < shape[0]:
            count = min(chunk_rows, shape[0] - position)
            try:
                data = stream.read(count * row_bytes)
            except (OSError, EOFError, zlib.error) as error:
                raise DataFormatError(f"{path} is corrupt or truncated ({error})") from None
            if len(data) != count * row_bytes:
                raise DataFormatError(
                    f"{path} is truncated at row {position + len(data) // row_bytes}"
                )
            yield position, np.frombuffer(data, dtype).reshape(count, *row_shape)
            position += count


def write_array(path: pathlib.Path, array: np.ndarray, compresslevel: int = 1) -> None:
    """Writes `array` as a gzipped .npy (as Dopamine does), atomically: temp file, then rename."""
    with atomic_file(path) as raw, igzip.open(raw, "wb", compresslevel=compresslevel) as gz:
        np.save(gz, array, allow_pickle=False)


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint suffix of a run: its add_count and the chronological rows it contributes.

    rows [first_row, add_count) are new in this checkpoint; they sit at positions g % capacity.
    """

    suffix: int
    add_count: int
    capacity: int
    first_row: int
    frame_shape: tuple = FRAME_SHAPE

    @property
    def num_rows(self) -> int:
        return self.add_count - self.first_row
