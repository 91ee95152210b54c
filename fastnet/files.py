"""Files: the one error for a file that cannot be used, safe reads and
atomic writes.

``FileFormatError`` is raised for every data, model or network2 JSON file
that is missing, truncated, foreign or inconsistent, naming the file and
the problem.  ``read_regular_file`` and ``open_regular_file`` read only
regular files, so a FIFO or a device is refused instead of blocking.
``atomic_write`` makes a reader see the old file or the new one, never
half of one; a failed, interrupted (Ctrl-C) or terminated (SIGTERM) write
leaves nothing behind, and the temporary files of writers that were
killed outright (``kill -9``) are removed at the next save of the same
file.  ``check_writable`` tells before long work whether a save can
succeed, and ``fallback_path`` where to save when it no longer can.
"""

import contextlib
import glob
import os
import re
import secrets
import signal
import stat
import tempfile
import threading
from pathlib import Path


class FileFormatError(ValueError):
    """A data, model or network file is missing, truncated, foreign or
    inconsistent.  ``path`` is the file, ``problem`` what is wrong."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


# ------------------------------------------------------------------ reading

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block "
          "device"), (stat.S_ISSOCK, "a socket"))


def open_regular_file(path, max_bytes=None):
    """``path`` opened for binary reading if it is a regular file (of at
    most ``max_bytes``); else ``FileFormatError``.  Opening never blocks:
    a FIFO is opened non-blocking, found to be one, and closed."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | \
        getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise FileFormatError(path, "no such file") from None
    except OSError as error:
        raise FileFormatError(path, f"cannot be opened "
                                    f"({error.strerror})") from None
    try:
        status = os.fstat(descriptor)
        _check_regular(path, status, max_bytes)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular_file(path, max_bytes=None):
    """The bytes of ``path`` if it is a regular file of at most
    ``max_bytes``; else ``FileFormatError`` (see ``open_regular_file``)."""
    with open_regular_file(path, max_bytes) as file:
        try:
            return file.read()
        except OSError as error:
            raise FileFormatError(path, f"cannot be read "
                                        f"({error.strerror})") from None


def _check_regular(path, status, max_bytes):
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _KINDS if test(status.st_mode)),
                    "not a regular file")
        raise FileFormatError(path, f"is {kind}, not a regular file")
    if max_bytes is not None and status.st_size > max_bytes:
        raise FileFormatError(path, f"is {status.st_size:,} bytes, more "
                                    f"than the {max_bytes:,} allowed")


# ------------------------------------------------------------------ writing

@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; when the block
    ends without an error, flush it to disk and rename it over ``path``,
    else remove it.

    The new file gets the mode a plain ``open`` would give it (0666 less
    the umask), or the mode of the file it replaces.  The temporary file,
    ``<name>.<pid>-<random>.part``, is removed on any exception, Ctrl-C
    included, and on SIGTERM (the process then ends as SIGTERM would have
    ended it); those of earlier writers of ``path`` whose process is gone
    are removed first."""
    path = Path(path)
    remove_stale_parts(path)
    with _cleanup_on_sigterm():
        temporary, descriptor = _create_part(path)
        try:
            with os.fdopen(descriptor, mode) as file:
                _keep_mode_of(path, file.fileno())
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def _part_pattern(path):
    return re.compile(re.escape(path.name) + r"\.(\d+)-[0-9a-f]+\.part")


def _create_part(path):
    """A new ``<name>.<pid>-<random>.part`` beside ``path``, created with
    mode 0666 so that the umask (and a default ACL) apply as for any new
    file; ``(its path, an open descriptor)``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = path.with_name(
            f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        try:
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:  # 1 in 2**32: draw another name
            continue


def _keep_mode_of(path, descriptor):
    """Give the new file the permission bits of the one it replaces."""
    try:
        bits = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return  # a new file: the umask already decided
    if hasattr(os, "fchmod"):
        os.fchmod(descriptor, bits)


def remove_stale_parts(path):
    """Remove the ``.part`` files that writers of ``path`` left when they
    were killed (their process no longer exists); a live writer's file is
    kept.  The process ids are this machine's: on a folder shared over a
    network, another machine's writer would look dead, so keep one writer
    per file there.  Returns the files removed."""
    path = Path(path)
    pattern = _part_pattern(path)
    removed = []
    try:
        candidates = list(path.parent.glob(glob.escape(path.name) +
                                           ".*.part"))
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match and not _process_exists(int(match.group(1))):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def _process_exists(pid):
    if pid == os.getpid() or os.name != "posix":
        return True  # (on Windows, os.kill(pid, 0) would end the process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # someone else's process, or unknowable: keep its file
    return True


class _Terminated(BaseException):
    """SIGTERM arrived while a temporary file was open."""


@contextlib.contextmanager
def _cleanup_on_sigterm():
    """While the block runs, SIGTERM raises ``_Terminated``, so that the
    writer removes its temporary file, and then ends the process as it
    would have.  A Python handler the program set runs as before (if it
    raises, the writer cleans up on the way out; if it returns, writing
    goes on).  Only in the main thread (the only one Python lets set
    handlers), and not when SIGTERM is ignored or handled in C; the
    previous handler is restored after."""
    previous = signal.getsignal(signal.SIGTERM) if \
        threading.current_thread() is threading.main_thread() else None
    if previous is None or previous is signal.SIG_IGN:
        yield  # not ours to change
        return

    def on_sigterm(signum, frame):
        if callable(previous):
            previous(signum, frame)
        else:
            raise _Terminated("terminated (SIGTERM) while writing a file")

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except _Terminated:
        # Cleaned up: now let the previous handler (SIG_DFL ends the
        # process; an outer writer's handler cleans up its own file).
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------- destinations

def writable_problem(path):
    """Why a file could not be saved at ``path`` (its folder is missing or
    not writable, it is a folder, it exists but is read-only), as one
    sentence; None if it could be.  Nothing is written."""
    path = Path(path).expanduser()
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder; give a file name"
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        return f"cannot save {path}: the folder {folder} {what}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot save {path}: the folder {folder} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"cannot save {path}: the file exists and is read-only"
    return None


def check_writable(path):
    """Raise ``ValueError`` if a file could not be saved at ``path`` (see
    ``writable_problem``); check before long work, so no work is lost."""
    problem = writable_problem(path)
    if problem:
        raise ValueError(problem)


def fallback_path(path):
    """Where to save ``path`` when its folder is gone or unwritable: the
    same file name in the current folder, else in the temporary folder,
    numbered (``m-1.npz``) so that no existing file is replaced.  None if
    neither folder can be written."""
    path = Path(path)
    try:
        original = path.absolute()
    except OSError:  # relative, and the current folder is gone
        original = None
    for folder in _fallback_folders():
        for number in range(1000):
            name = path.name if number == 0 else \
                f"{path.stem}-{number}{path.suffix}"
            candidate = folder / name
            if candidate == original or os.path.lexists(candidate):
                continue
            if writable_problem(candidate) is None:
                return candidate
            break  # this folder cannot be written
    return None


def _fallback_folders():
    with contextlib.suppress(OSError):  # the current folder may be gone
        yield Path.cwd()
    yield Path(tempfile.gettempdir())
