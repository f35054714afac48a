"""Writing files so that nothing half-written is ever left under the final name."""

from __future__ import annotations

import contextlib
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
