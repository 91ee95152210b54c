"""A sweep's results file: JSON lines appended one whole line at a time,
locked against a second sweep, read back with a torn last line cut off.
"""

import json
import os

from ..files import FileFormatError
from .plan import run_id, settings_from_dict


class ResultsExist(ValueError):
    """A new sweep would write to a file that holds another's results."""


class ResultsFile:
    """A sweep's JSON-lines results file, open for appending.

    Each ``append`` writes one whole line at the end and fsyncs it, so a
    crash or Ctrl-C leaves every earlier line intact; a kill in the
    middle of a write can leave a torn last line, which opening reports
    (``torn_bytes``) and cuts off before appending.  A lock keeps a
    second sweep from writing the same file."""

    def __init__(self, path, resume=False):
        self.path = os.fspath(path)
        self.records = {}           # run id -> latest record
        self.torn_bytes = 0
        # A file made here and never written is removed on close, so that
        # a sweep refused or failing before its first run leaves nothing.
        self._created = not os.path.exists(self.path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND,
                           0o666)
        try:
            _lock(self._fd, self.path)
            self._read(resume)
        except BaseException:
            os.close(self._fd)
            raise

    def _read(self, resume):
        os.lseek(self._fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(self._fd), "rb") as file:
            text = file.read()
        if text and not resume:
            raise ResultsExist(f"{self.path} already holds results: resume "
                               f"that sweep, or name another file")
        self.records, complete = _parse_records(self.path, text)
        if complete < len(text):        # a write cut short by a kill
            self.torn_bytes = len(text) - complete
            os.ftruncate(self._fd, complete)
        elif text and not text.endswith(b"\n"):
            # A whole record whose newline was never written: end its
            # line, so that the next record starts a line of its own.
            _write_all(self._fd, b"\n")

    def done(self, settings):
        """Whether ``settings`` already ran (ok or failed; a lost run runs
        again)."""
        record = self.records.get(run_id(settings))
        return record is not None and record["status"] != "lost"

    def append(self, record):
        _write_all(self._fd, (json.dumps(record) + "\n").encode())
        os.fsync(self._fd)
        self.records[record["id"]] = record
        self._created = False

    def close(self):
        if self._fd is not None:
            if self._created and os.fstat(self._fd).st_size == 0:
                os.unlink(self.path)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()


def _write_all(fd, data):
    """Write all of ``data``: ``os.write`` may write less than it is
    given (a signal, a full disk, a pipe), and says how much it wrote."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _lock(fd, path):
    try:
        import fcntl
    except ImportError:                 # Windows: no advisory locks
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise ValueError(f"{path} is being written by another sweep") \
            from None


def read_results(path):
    """The records of a results file, the latest of each run, in file
    order; a torn last line is ignored."""
    with open(path, "rb") as file:
        return list(_parse_records(path, file.read())[0].values())


def _parse_records(path, text):
    """``({run id: latest record}, length of the whole records)`` of a
    results file's bytes.  A last line without its newline counts if it
    is a whole record (a writer can stop between the two), else it is
    torn and left out."""
    *lines, tail = text.split(b"\n")     # tail: after the last newline
    records = {}
    for number, line in enumerate(lines + [tail], 1):
        if not line.strip():
            continue
        try:
            record = _record(path, number, line)
        except FileFormatError:
            if number <= len(lines):
                raise
            return records, len(text) - len(tail)
        records.pop(record["id"], None)     # the latest counts, in order
        records[record["id"]] = record
    return records, len(text)


def _record(path, number, line):
    """The record on line ``number``, its id set from its settings;
    ``FileFormatError`` if it is not one."""
    try:
        record = json.loads(line)
        record["id"] = run_id(settings_from_dict(record["settings"]))
        if record["status"] not in ("ok", "failed", "lost"):
            raise ValueError(f"unknown status {record['status']!r}")
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise FileFormatError(path, f"line {number} is not a fastnet "
                              f"sweep record ({error})") from None
    return record
