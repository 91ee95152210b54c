"""The shipped MNIST files, the IDX reader's checks, the search order,
downloads from a loopback server, and Nielsen's loader formats."""

import contextlib
import gzip
import hashlib
import http.server
import os
import pickle
import shutil
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastnet import data, mnist_loader

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "fastnet" / "datasets" / "mnist"
SHARED = REPO.parent / "shared" / "data" / "mnist"
MNIST = data.DATASETS["mnist"]


def sums(folder):
    """SHA256SUMS of a folder as {file name: digest}."""
    lines = (folder / "SHA256SUMS").read_text().split("\n")
    return {name: digest for digest, name in
            (line.split() for line in lines if line.strip())}


@pytest.fixture
def no_lookup(monkeypatch, tmp_path):
    """Only the folders a test sets up: no FASTNET_DATA, no package
    data, no system folders; the user cache in tmp_path."""
    monkeypatch.delenv("FASTNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_PACKAGE_DATA", tmp_path / "no-package")
    for name, dataset in data.DATASETS.items():
        monkeypatch.setitem(data.DATASETS, name, _replace(dataset,
                                                          system_dirs=()))
    data._read_checked_cached.cache_clear()
    yield tmp_path
    data._read_checked_cached.cache_clear()


def _replace(dataset, **changes):
    import dataclasses
    return dataclasses.replace(dataset, **changes)


@pytest.fixture
def mnist_copy(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(SHIPPED, folder)
    return folder


# ------------------------------------------------------------ shipped data

def test_shipped_files_have_the_published_checksums():
    listed = sums(SHIPPED)
    for info in MNIST.files.values():
        gz = SHIPPED / (info.name + ".gz")
        assert hashlib.sha256(gz.read_bytes()).hexdigest() == \
            listed[info.name + ".gz"] == info.gz_sha256
        assert hashlib.sha256(gzip.decompress(gz.read_bytes())) \
            .hexdigest() == listed[info.name] == info.sha256
    assert "CC BY-SA 3.0" in (SHIPPED / "README.md").read_text()


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared beside the "
                    "checkout")
def test_shipped_files_are_the_shared_originals():
    for info in MNIST.files.values():
        name = info.name + ".gz"
        assert (SHIPPED / name).read_bytes() == (SHARED / name).read_bytes()


def test_train_and_test_splits():
    images, labels = data.load_mnist("train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842,
                                            5421, 5918, 6265, 5851, 5949]
    assert images.min() == 0 and images.max() == 255
    images, labels = data.load_mnist("test")
    assert images.shape == (10000, 28, 28)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982,
                                            892, 958, 1028, 974, 1009]
    assert not images.flags.writeable  # shared between calls


def test_to_columns_and_one_hot():
    images, labels = data.load_mnist("test")
    X = data.to_columns(images[:5])
    assert X.shape == (784, 5) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 2], images[2].ravel() / 256)
    assert data.to_columns(images[:5], scale=1 / 255).max() == 1.0
    Y = data.one_hot(labels[:5])
    assert Y.shape == (10, 5) and (Y.argmax(axis=0) == labels[:5]).all()
    assert Y.sum() == 5
    with pytest.raises(ValueError, match="0..9"):
        data.one_hot(np.array([10]))


def test_unknown_names_and_splits():
    with pytest.raises(ValueError, match="unknown data set 'emnist'"):
        data.load_mnist(name="emnist")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_mnist("validation")


# ---------------------------------------------------------- Nielsen formats

def test_load_data_is_nielsens_split():
    training, validation, test = mnist_loader.load_data()
    images, labels = data.load_mnist("train")
    for (x, y), start, stop in ((training, 0, 50000),
                                (validation, 50000, 60000)):
        assert x.shape == (stop - start, 784) and x.dtype == np.float32
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, labels[start:stop])
        np.testing.assert_array_equal(
            x, images[start:stop].reshape(-1, 784) / np.float32(256))
    assert test[0].shape == (10000, 784)
    assert test[1][:5].tolist() == [7, 2, 1, 0, 4]
    # byte / 256, as in mnist.pkl.gz: the first image's pixel 152 is 3.
    assert training[0][0, 152] == 3 / 256


def test_load_data_wrapper_formats():
    training, validation, test = mnist_loader.load_data_wrapper()
    assert (type(training), type(validation), type(test)) == (list,) * 3
    assert (len(training), len(validation), len(test)) == (50000, 10000,
                                                          10000)
    x, y = training[0]
    assert x.shape == (784, 1) and x.dtype == np.float32
    assert y.shape == (10, 1) and y.dtype == np.float64
    np.testing.assert_array_equal(y, mnist_loader.vectorized_result(5))
    assert [int(y.argmax()) for _, y in training[:5]] == [5, 0, 4, 1, 9]
    x, label = validation[0]
    assert x.shape == (784, 1) and isinstance(label, np.int64)
    assert [int(label) for _, label in test[:5]] == [7, 2, 1, 0, 4]
    assert training[1:3] == training[1:3]  # slicing works on lists


def test_nielsens_pickle_is_read(tmp_path):
    rng = np.random.default_rng(0)
    parts = tuple((rng.random((n, 784)).astype(np.float32),
                   rng.integers(0, 10, n)) for n in (6, 3, 2))
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as file:
        pickle.dump(parts, file, protocol=2)
    loaded = mnist_loader.load_data(path)
    for (x, y), (ex, ey) in zip(loaded, parts):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
    training, _, test = mnist_loader.load_data_wrapper(path)
    assert len(training) == 6 and training[0][1].shape == (10, 1)
    assert len(test) == 2


@pytest.mark.parametrize("content, match", [
    (b"not gzip at all", "cannot be read as Nielsen's mnist.pkl.gz"),
    (gzip.compress(pickle.dumps([1, 2])), "three \\(images, labels\\)"),
    (gzip.compress(pickle.dumps(((np.zeros((2, 3)), np.zeros(2)),) * 3)),
     "training data is not"),
])
def test_bad_pickles(tmp_path, content, match):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(content)
    with pytest.raises(data.DataFileError, match=match):
        mnist_loader.load_data(path)


# --------------------------------------------------------- corrupt files

def _corrupt(folder, name, how):
    """Damage one file of ``folder`` (a copy of the shipped MNIST)."""
    gz = folder / (name + ".gz")
    payload = gz.read_bytes()
    raw = gzip.decompress(payload)
    if how == "truncated gzip":
        gz.write_bytes(payload[: len(payload) // 2])
    elif how == "bad crc":
        gz.write_bytes(payload[:-8] + bytes([payload[-8] ^ 1]) +
                       payload[-7:])
    elif how == "truncated idx":
        gz.unlink()
        (folder / name).write_bytes(raw[:-100])
    elif how == "extra bytes":
        gz.unlink()
        (folder / name).write_bytes(raw + b"\0\0")
    elif how == "flipped pixel":
        damaged = bytearray(raw)
        damaged[5000] ^= 0x40
        gz.write_bytes(gzip.compress(bytes(damaged)))
    elif how == "wrong magic":  # an images header on labels, and back
        other = b"\x03" if raw[3] == 1 else b"\x01"
        gz.write_bytes(gzip.compress(raw[:3] + other + raw[4:]))
    elif how == "not idx":
        gz.write_bytes(gzip.compress(b"<html>Not Found</html>"))
    elif how == "tiny":
        gz.unlink()
        (folder / name).write_bytes(b"\0\0")


@pytest.mark.parametrize("name, how, match", [
    ("t10k-images-idx3-ubyte", "truncated gzip",
     "truncated: the gzip stream ends"),
    ("t10k-labels-idx1-ubyte", "bad crc", "corrupt gzip data"),
    ("train-images-idx3-ubyte", "truncated idx",
     "truncated: the header promises 47040000 bytes"),
    ("t10k-labels-idx1-ubyte", "extra bytes", "2 unexpected bytes"),
    ("t10k-images-idx3-ubyte", "flipped pixel", "checksum mismatch"),
    ("t10k-labels-idx1-ubyte", "wrong magic",
     "wrong magic number 2051 \\(expected 2049\\)"),
    ("t10k-images-idx3-ubyte", "wrong magic",
     "wrong magic number 2049 \\(expected 2051\\)"),
    ("t10k-labels-idx1-ubyte", "not idx", "wrong magic number"),
    ("t10k-labels-idx1-ubyte", "tiny", "too short for an IDX header"),
])
def test_damaged_files_raise_naming_file_and_problem(no_lookup, mnist_copy,
                                                     name, how, match):
    split = "train" if name.startswith("train") else "test"
    _corrupt(mnist_copy, name, how)
    with pytest.raises(data.DataFileError, match=match) as caught:
        data.load_mnist(split, path=mnist_copy)
    assert name in str(caught.value)
    # Nothing half-read was cached: a repaired file loads.
    for leftover in mnist_copy.glob(name + "*"):
        leftover.unlink()
    shutil.copy(SHIPPED / (name + ".gz"), mnist_copy)
    images, labels = data.load_mnist(split, path=mnist_copy)
    assert labels[:3].tolist() == ([5, 0, 4] if split == "train"
                                   else [7, 2, 1])


def test_read_idx_reads_other_element_types(tmp_path):
    path = tmp_path / "floats.idx"
    values = np.arange(6, dtype=">f4").reshape(2, 3)
    path.write_bytes(b"\0\0\x0d\x02" + (2).to_bytes(4, "big") +
                     (3).to_bytes(4, "big") + values.tobytes())
    np.testing.assert_array_equal(data.read_idx(path), values)
    assert data.read_idx(path).dtype == np.float32


@pytest.mark.parametrize("shape", [(2**31, 2**31, 4), (2**31, 2**31, 2),
                                   (2**32 - 1,) * 4])
def test_read_idx_dimensions_that_overflow(tmp_path, shape):
    """Their product wraps around in int64 (to 0, to -2**63, ...); the
    header must still be refused as promising more than the file has."""
    path = tmp_path / "huge.idx"
    path.write_bytes(bytes([0, 0, 0x08, len(shape)]) +
                     b"".join(n.to_bytes(4, "big") for n in shape))
    with pytest.raises(data.DataFileError, match="truncated: the header "
                       "promises"):
        data.read_idx(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_read_idx_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "images.idx"
    os.mkfifo(fifo)
    outcome = []

    def read():
        try:
            data.read_idx(fifo)
        except data.DataFileError as error:
            outcome.append(str(error))
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert outcome and "FIFO" in outcome[0]


def test_missing_folder_and_files(no_lookup, tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="does not hold"):
        data.load_mnist(path=tmp_path / "nowhere")
    with pytest.raises(data.DatasetNotFoundError, match="downloading is off"):
        data.load_mnist(download=False)


# --------------------------------------------------------- search order

def test_search_order(no_lookup, monkeypatch, mnist_copy, tmp_path):
    monkeypatch.setenv("FASTNET_DATA", str(tmp_path / "env"))
    dataset = data.DATASETS["mnist"]
    folders = data.search_path(dataset)
    assert folders == [tmp_path / "env" / "mnist", tmp_path / "no-package" /
                       "mnist", tmp_path / "cache" / "fastnet" / "mnist"]
    assert data.search_path(dataset, path=mnist_copy) == [mnist_copy]
    # Earlier folders win; a folder counts only when it has all four files.
    shutil.copytree(mnist_copy, tmp_path / "cache" / "fastnet" / "mnist")
    assert data.find(dataset, download=False) == folders[2]
    shutil.copytree(mnist_copy, tmp_path / "env" / "mnist")
    (tmp_path / "env" / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert data.find(dataset, download=False) == folders[2]
    shutil.copy(mnist_copy / "t10k-labels-idx1-ubyte.gz",
                tmp_path / "env" / "mnist")
    assert data.find(dataset, download=False) == folders[0]


def test_package_data_is_found_by_default(monkeypatch):
    monkeypatch.delenv("FASTNET_DATA", raising=False)
    assert data.find("mnist", download=False) == SHIPPED


def test_uncompressed_files_are_read(no_lookup, mnist_copy):
    gz = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    (mnist_copy / "t10k-labels-idx1-ubyte").write_bytes(
        gzip.decompress(gz.read_bytes()))
    gz.unlink()
    _, labels = data.load_mnist("test", path=mnist_copy)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]


# --------------------------------------------------------------- download

class _Mirror(http.server.BaseHTTPRequestHandler):
    files = {}  # URL path -> bytes
    mode = "good"
    requests = []

    def do_GET(self):
        self.requests.append(self.path)
        payload = self.files.get(self.path)
        if payload is None:
            self.send_error(404)
            return
        if self.mode in _HOSTILE:
            try:
                _HOSTILE[self.mode](self, payload)
            except OSError:  # the client hung up, as it should
                pass
            return
        if self.mode == "corrupt":
            payload = payload[:1000] + bytes([payload[1000] ^ 0xFF]) + \
                payload[1001:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.mode == "truncated":
            payload = payload[: len(payload) // 2]
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def _drip(write, data, seconds=4, interval=0.05):
    """Send ``data`` a byte at a time, one every ``interval`` s, stopping
    after ``seconds`` (so a test stays bounded even when the client never
    gives up)."""
    stop = time.monotonic() + seconds
    for byte in data:
        if time.monotonic() > stop:
            return
        write(bytes([byte]))
        time.sleep(interval)


def _drip_body(handler, payload):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.flush()
    _drip(handler.wfile.write, payload)


def _drip_headers(handler, payload):
    _drip(handler.wfile.write, b"HTTP/1.0 200 OK\r\n" + b"X-Slow: 1\r\n" * 99)


def _oversized_length(handler, payload):
    handler.send_response(200)
    handler.send_header("Content-Length", str(100 * len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def _endless(handler, payload):
    """No Content-Length (the body ends when the connection closes) and
    far more bytes than the file has."""
    handler.send_response(200)
    handler.end_headers()
    for _ in range(100):
        handler.wfile.write(payload)


_HOSTILE = {"drip body": _drip_body, "drip headers": _drip_headers,
            "oversized length": _oversized_length, "endless": _endless}


@contextlib.contextmanager
def loopback_mirror(files, mode):
    _Mirror.files, _Mirror.mode, _Mirror.requests = files, mode, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mnist/"
    finally:
        server.shutdown()
        server.server_close()


def _served():
    return {f"/mnist/{info.name}.gz": (SHIPPED / (info.name + ".gz"))
            .read_bytes() for info in MNIST.files.values()}


def test_download_from_loopback_mirror_is_verified_and_cached(no_lookup):
    cache = no_lookup / "cache" / "fastnet" / "mnist"
    with loopback_mirror(_served(), "good") as url:
        images, labels = data.load_mnist(
            "test", mirrors=["http://127.0.0.1:9/unreachable/", url],
            progress=False)
        assert labels[:5].tolist() == [7, 2, 1, 0, 4]
        assert len(_Mirror.requests) == 4
        assert sorted(p.name for p in cache.iterdir()) == sorted(
            info.name + ".gz" for info in MNIST.files.values())
        # Cached: a second load asks the mirror for nothing.
        data.load_mnist("train", mirrors=[url])
        assert len(_Mirror.requests) == 4
    for info in MNIST.files.values():
        assert (cache / (info.name + ".gz")).read_bytes() == \
            (SHIPPED / (info.name + ".gz")).read_bytes()


@pytest.mark.parametrize("mode, match", [
    ("corrupt", "corrupt gzip data|checksum mismatch"),
    ("truncated", "incomplete download|IncompleteRead|truncated"),
])
def test_bad_downloads_are_rejected_and_not_cached(no_lookup, mode, match):
    cache = no_lookup / "cache" / "fastnet" / "mnist"
    with loopback_mirror(_served(), mode) as url:
        with pytest.raises(data.DatasetNotFoundError, match=match):
            data.load_mnist("test", mirrors=[url], progress=False)
    # No file, and no empty folder either.
    assert not cache.parent.exists()


def test_offline_failure_is_clear(no_lookup):
    with pytest.raises(data.DatasetNotFoundError,
                       match="(?s)could not download .*FASTNET_DATA"):
        data.load_mnist("test", mirrors=["http://127.0.0.1:9/"],
                        progress=False)
    assert not (no_lookup / "cache" / "fastnet").exists()


@pytest.mark.parametrize("download", [True, False])
def test_fashion_offline_error_gives_the_exact_routes(no_lookup, download):
    with pytest.raises(data.DatasetNotFoundError) as caught:
        data.load_mnist("test", name="fashion", download=download,
                        mirrors=["http://127.0.0.1:9/"], progress=False)
    message = str(caught.value)
    assert "fastnet train --dataset fashion --data-dir FOLDER" in message
    assert "load_mnist(name='fashion', path=FOLDER)" in message
    assert "t10k-labels-idx1-ubyte.gz" in message


def _one_file():
    """MNIST reduced to its smallest file (4,542 bytes), t10k labels."""
    key = ("test", "labels")
    return _replace(MNIST, files={key: MNIST.files[key]}), MNIST.files[key]


@pytest.mark.parametrize("mode", ["drip body", "drip headers"])
def test_a_dripping_mirror_meets_the_overall_deadline(no_lookup, mode):
    """A byte every 0.05 s never trips the 5 s per-read timeout; the 1 s
    deadline for the whole file stops it, headers or body."""
    dataset, info = _one_file()
    folder = no_lookup / "cache" / "fastnet" / "mnist"
    with loopback_mirror(_served(), mode) as url:
        started = time.monotonic()
        with pytest.raises(data.DatasetNotFoundError,
                           match="gave up after 1 s \\(the deadline"):
            data.download_dataset(dataset, folder, mirrors=[url],
                                  progress=False, timeout=5, deadline=1)
        assert time.monotonic() - started < 3
    assert not folder.parent.exists()


@pytest.mark.parametrize("mode, match", [
    ("oversized length", "offers 454,200 bytes, but the published file "
                         "has 4,542"),
    ("endless", "sent more than the 4,542 bytes"),
])
def test_a_mirror_sending_too_much_is_cut_off(no_lookup, mode, match):
    dataset, info = _one_file()
    folder = no_lookup / "cache" / "fastnet" / "mnist"
    with loopback_mirror(_served(), mode) as url:
        with pytest.raises(data.DatasetNotFoundError, match=match):
            data.download_dataset(dataset, folder, mirrors=[url],
                                  progress=False)
    assert not folder.parent.exists()


@pytest.mark.parametrize("bounds", [{"deadline": 0}, {"timeout": -1},
                                    {"deadline": float("nan")},
                                    {"timeout": "5"}, {"deadline": True}])
def test_download_bounds_are_checked(no_lookup, bounds):
    with pytest.raises(ValueError, match="must be a positive number"):
        data.download_dataset("mnist", no_lookup / "x", **bounds)
    assert not (no_lookup / "x").exists()


def test_the_published_sizes_are_the_shipped_files_sizes():
    for info in MNIST.files.values():
        assert (SHIPPED / (info.name + ".gz")).stat().st_size == info.gz_size


BAD_MIRRORS = ["mirror.example.com/mnist/", "ftp://example.com/mnist/",
               "http://example.com:port/", "http://exa mple.com/", "http://",
               42]


def test_malformed_mirrors_are_skipped_with_a_note(no_lookup):
    dataset, info = _one_file()
    folder = no_lookup / "cache" / "fastnet" / "mnist"
    with loopback_mirror(_served(), "good") as url:
        with pytest.warns(UserWarning, match="skipped mirror") as notes:
            data.download_dataset(dataset, folder,
                                  mirrors=BAD_MIRRORS + [url],
                                  progress=False)
    assert len(notes) == len(BAD_MIRRORS)
    assert "'mirror.example.com/mnist/': not an http:// or https:// URL" \
        in str(notes[0].message)
    assert "malformed URL" in str(notes[2].message)
    assert (folder / (info.name + ".gz")).read_bytes() == \
        (SHIPPED / (info.name + ".gz")).read_bytes()
    # Only bad ones: the error lists them, and nothing is created.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(data.DatasetNotFoundError,
                           match="(?s)skipped mirror 42: not a string"):
            data.download_dataset(dataset, no_lookup / "other",
                                  mirrors=BAD_MIRRORS, progress=False)
    assert not (no_lookup / "other").exists()


# ---------------------------------------------------------- Fashion-MNIST

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_from_the_debian_package(monkeypatch):
    monkeypatch.delenv("FASTNET_DATA", raising=False)
    data._read_checked_cached.cache_clear()
    images, labels = data.load_mnist("train", name="fashion", download=False)
    assert images.shape == (60000, 28, 28)
    assert labels[:5].tolist() == [9, 0, 0, 3, 0]
    assert np.bincount(labels).tolist() == [6000] * 10
    _, labels = data.load_mnist("test", name="fashion", download=False)
    assert labels[:5].tolist() == [9, 2, 1, 1, 6]


def test_fashion_by_name_is_looked_up_and_verified(no_lookup, monkeypatch,
                                                   mnist_copy, tmp_path):
    """With MNIST's files standing in a Fashion-MNIST system folder, the
    lookup finds them and the checksums refuse them."""
    fashion = data.DATASETS["fashion"]
    monkeypatch.setitem(data.DATASETS, "fashion", _replace(
        fashion, system_dirs=(str(mnist_copy),)))
    assert data.find("fashion", download=False) == mnist_copy
    with pytest.raises(data.DataFileError, match="checksum mismatch"):
        data.load_mnist(name="fashion", download=False)
