"""fastnet.files: regular-file reads that never block, atomic writes that
keep modes and leave no litter (exceptions, SIGTERM, dead writers), and
the destination checks the command line makes before training."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from fastnet import files
from fastnet.files import FileFormatError, atomic_write

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX only")
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def parts(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".part")


# ------------------------------------------------------------------ reading

def test_regular_files_are_read(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(b"{}")
    assert files.read_regular_file(path) == b"{}"
    with files.open_regular_file(path) as file:
        assert file.read() == b"{}"
    with pytest.raises(FileFormatError, match="2 bytes, more than the 1"):
        files.read_regular_file(path, max_bytes=1)


@POSIX
def test_fifo_folder_device_and_missing_are_refused_without_blocking(
        tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    outcome = {}

    def read():  # in a thread, so a regression hangs that thread only
        try:
            files.read_regular_file(fifo)
        except FileFormatError as error:
            outcome["error"] = str(error)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "opening a FIFO blocked"
    assert "is a FIFO (named pipe), not a regular file" in outcome["error"]
    with pytest.raises(FileFormatError, match="is a folder"):
        files.read_regular_file(tmp_path)
    with pytest.raises(FileFormatError, match="is a character device"):
        files.read_regular_file("/dev/null")
    with pytest.raises(FileFormatError, match="no such file") as caught:
        files.read_regular_file(tmp_path / "absent.npz")
    assert caught.value.path == tmp_path / "absent.npz"


# ------------------------------------------------------------------ modes

@POSIX
def test_new_files_get_the_umask_mode(tmp_path, umask_022):
    path = tmp_path / "m.npz"
    with atomic_write(path) as file:
        file.write(b"new")
    # mkstemp made 0600; a plain open() with umask 022 makes 0644.
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    os.umask(0o077)
    with atomic_write(tmp_path / "private.npz") as file:
        file.write(b"new")
    assert stat.S_IMODE((tmp_path / "private.npz").stat().st_mode) == 0o600


@POSIX
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o664])
def test_overwriting_keeps_the_files_mode(tmp_path, umask_022, mode):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    path.chmod(mode)
    with atomic_write(path, "w") as file:
        file.write("new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == mode


# ----------------------------------------------------------- no litter

def test_exceptions_and_ctrl_c_leave_nothing(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    for error in (ValueError("bad"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with atomic_write(path) as file:
                file.write(b"half")
                assert parts(tmp_path)[0].startswith(f"m.npz.{os.getpid()}-")
                raise error
        assert parts(tmp_path) == [] and path.read_bytes() == b"old"


def test_the_sigterm_handler_is_set_only_while_writing(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with atomic_write(tmp_path / "m.npz") as file:
        assert signal.getsignal(signal.SIGTERM) is not before
        file.write(b"x")
    assert signal.getsignal(signal.SIGTERM) is before
    # Other threads cannot set handlers: they write without one.
    failures = []

    def write():
        try:
            with atomic_write(tmp_path / "t.npz") as file:
                file.write(b"y")
        except BaseException as error:  # noqa: B036 (report anything)
            failures.append(error)
    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert failures == [] and (tmp_path / "t.npz").read_bytes() == b"y"
    assert signal.getsignal(signal.SIGTERM) is before


WRITER = textwrap.dedent("""
    import signal, sys, time
    from fastnet.files import atomic_write
    if sys.argv[2] == "handler":
        def stop(signum, frame):
            raise SystemExit(3)
        signal.signal(signal.SIGTERM, stop)
    with atomic_write(sys.argv[1]) as file:
        chunk = bytes(1 << 20)
        file.write(chunk)
        print("writing", flush=True)
        for _ in range(6000):  # a 6 GB file, if nothing stopped it
            file.write(chunk)
            time.sleep(0.005)
""")


@POSIX
@pytest.mark.parametrize("handler, returncode", [
    ("default", -signal.SIGTERM),  # dies of SIGTERM, as without fastnet
    ("handler", 3),  # the program's own handler still runs
])
def test_sigterm_while_writing_leaves_no_part(tmp_path, handler, returncode):
    path = tmp_path / "m.npz"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path),
                               handler], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
        assert len(parts(tmp_path)) == 1
        writer.send_signal(signal.SIGTERM)
        assert writer.wait(timeout=30) == returncode
    finally:
        writer.kill()
        writer.wait()
    assert parts(tmp_path) == [] and not path.exists()


@POSIX
def test_a_writer_killed_outright_is_cleaned_up_by_the_next_save(tmp_path):
    """kill -9 cannot be caught: the .part stays until the next save of
    the same file, which finds its writer gone and removes it."""
    path = tmp_path / "m.npz"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path),
                               "default"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
    finally:
        writer.kill()
        writer.wait()
    (left,) = parts(tmp_path)
    assert left.startswith(f"m.npz.{writer.pid}-")
    with atomic_write(path) as file:
        file.write(b"new")
    assert parts(tmp_path) == [] and path.read_bytes() == b"new"


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_parts_of_dead_writers_are_removed_at_the_next_save(
        tmp_path):
    path = tmp_path / "m.npz"
    dead = tmp_path / f"m.npz.{_dead_pid()}-0123abcd.part"
    live = tmp_path / f"m.npz.{os.getppid()}-0123abcd.part"
    mine = tmp_path / f"m.npz.{os.getpid()}-89abcdef.part"
    others = [tmp_path / f"n.npz.{_dead_pid()}-0123abcd.part",  # other file
              tmp_path / "m.npz.k2j4_x9.part",  # no pid: cannot tell
              tmp_path / "m.npz.notes"]
    for leftover in (dead, live, mine, *others):
        leftover.write_bytes(b"half")
    with atomic_write(path) as file:
        file.write(b"new")
    assert not dead.exists()
    assert all(p.exists() for p in (live, mine, *others))
    assert path.read_bytes() == b"new"


def test_names_with_glob_characters(tmp_path):
    path = tmp_path / "m[1]*.npz"
    dead = tmp_path / f"m[1]*.npz.{_dead_pid()}-0123abcd.part"
    dead.write_bytes(b"half")
    assert files.remove_stale_parts(path) == [dead]


# ----------------------------------------------------------- destinations

def test_check_writable(tmp_path):
    assert files.writable_problem(tmp_path / "m.npz") is None
    files.check_writable(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="the folder .*gone does not exist"):
        files.check_writable(tmp_path / "gone" / "m.npz")
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        files.check_writable(tmp_path)
    (tmp_path / "plain").write_text("")
    with pytest.raises(ValueError, match="plain is not a folder"):
        files.check_writable(tmp_path / "plain" / "m.npz")
    assert list(tmp_path.iterdir()) == [tmp_path / "plain"]  # no probes


@POSIX
@pytest.mark.skipif(AS_ROOT, reason="root may write anywhere")
def test_check_writable_read_only(tmp_path):
    (tmp_path / "m.npz").write_text("")
    (tmp_path / "m.npz").chmod(0o444)
    with pytest.raises(ValueError, match="exists and is read-only"):
        files.check_writable(tmp_path / "m.npz")
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="is not writable"):
            files.check_writable(tmp_path / "new.npz")
    finally:
        tmp_path.chmod(0o755)


def test_fallback_path(tmp_path, monkeypatch):
    work, temporary = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    temporary.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr("tempfile.tempdir", str(temporary))
    lost = tmp_path / "removed" / "m.npz"
    assert files.fallback_path(lost) == work / "m.npz"
    (work / "m.npz").write_text("someone else's")
    (work / "m-1.npz").write_text("someone else's")
    assert files.fallback_path(lost) == work / "m-2.npz"
    # The current folder is gone too: the temporary folder.
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert files.fallback_path(lost) == temporary / "m.npz"
