"""Files: the one error for a file that cannot be used, and atomic writes.

``FileFormatError`` is raised for every data, model or network2 JSON file
that is missing, truncated, foreign or inconsistent, naming the file and
the problem.  ``atomic_write`` makes a reader see the old file or the new
one, never half of one, and a failed write leaves nothing behind.
"""

import contextlib
import os
import tempfile
from pathlib import Path


class FileFormatError(ValueError):
    """A data, model or network file is missing, truncated, foreign or
    inconsistent.  ``path`` is the file, ``problem`` what is wrong."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


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
