"""Writing files atomically: a reader sees the old file or the new one,
never half of one, and a failed write leaves nothing behind."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; when the block
    ends without an error, flush it to disk and rename it over ``path``,
    else remove it."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent,
                                         prefix=path.name + ".",
                                         suffix=".part")
    try:
        with os.fdopen(handle, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
