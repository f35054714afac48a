"""Writing to disk safely: nothing half-written is ever left under the final name, and no two
processes write into the same run directory at once."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import tempfile


@contextlib.contextmanager
def atomic_file(path: pathlib.Path, mode: str = "wb"):
    """Yields a file opened for writing; on success it replaces `path`, on error it vanishes.

    The temporary file sits beside `path` (same filesystem), so the final rename is atomic.
    """
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: pathlib.Path, data, indent: int = 1) -> None:
    """Writes `data` as JSON (keys sorted, final newline) atomically."""
    with atomic_file(path, "w") as f:
        json.dump(data, f, indent=indent, sort_keys=True)
        f.write("\n")


@contextlib.contextmanager
def exclusive(directory: pathlib.Path, what: str, name: str = ".lock"):
    """Holds an exclusive lock on `directory` (created if missing), its file `name`, for the
    body of the block.

    Two processes resuming the same checkpoints would overwrite each other's files, so the second
    one fails at once with an error naming the holder. The kernel drops the lock when its holder
    dies, so a killed run never leaves a stale lock behind.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RuntimeError(
                f"{directory} is in use by {holder}; wait for it to finish or stop it "
                "(a stopped run resumes from its last checkpoint)"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, running {what}")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
