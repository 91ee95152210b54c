"""MNIST and Fashion-MNIST: found offline, read from IDX files, verified.

``load_mnist(split)`` returns the images as uint8 ``(n, 28, 28)`` and the
labels as uint8 ``(n,)``; ``to_columns`` and ``one_hot`` turn them into the
samples-as-columns arrays the networks take.  ``fastnet.mnist_loader`` gives
the same data in Nielsen's list-of-tuples format.

Where the files are looked for, in order (each a folder holding the four
files, gzipped or not, under their canonical names):

1. the ``path`` argument;
2. ``$FASTNET_DATA/<name>`` (``<name>`` is ``mnist`` or ``fashion``);
3. the package's own ``fastnet/datasets/<name>`` (MNIST ships there, as
   package data, in every install);
4. the system folder of a distribution package (Debian's
   ``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist``);
5. the user cache, ``$XDG_CACHE_HOME/fastnet/<name>`` (``~/.cache/...``);
6. else the files are downloaded from public mirrors into the user cache
   (Fashion-MNIST is not shipped).  Downloads are bounded in time (a
   deadline per file, not only per network read) and in size (the
   published size of each file), and a failed one leaves nothing behind.

Every file is checked before use: the gzip stream must be complete, the
IDX header must have the right magic number and dimensions that match
the file's length, and the contents must have the published SHA-256.
Any failure raises ``DataFileError`` naming the file and the problem;
nothing half-read is returned or cached, and a download is written to
the cache (atomically) only once it has passed the same checks.
"""

import dataclasses
import functools
import gzip
import hashlib
import http.client
import math
import os
import socket
import sys
import threading
import urllib.parse
import urllib.request
import warnings
import zlib
from pathlib import Path

import numpy as np

from .files import FileFormatError, atomic_write, read_regular_file

SPLITS = ("train", "test")
#: Nielsen's split of the 60,000 training images: the first 50,000 train,
#: the last 10,000 are the validation set.
TRAINING_SIZE = 50000
#: Pixel bytes are divided by 256 (values 0 .. 255/256), as in Nielsen's
#: mnist.pkl.gz.
INPUT_SCALE = 1 / 256
#: MNIST ships inside the package (package data), so every install has it.
_PACKAGE_DATA = Path(__file__).resolve().parent / "datasets"


#: A data file is truncated, corrupt, of the wrong kind or not the
#: published one (the one error class for unusable files).
DataFileError = FileFormatError


class DatasetNotFoundError(FileNotFoundError):
    """The data set is nowhere on disk and could not be downloaded."""


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One of a data set's four files: its canonical name (without
    ``.gz``), IDX magic number, shape, SHA-256 of the published ``.gz``
    and of its decompressed contents, and the ``.gz``'s size in bytes
    (a download is cut off beyond it)."""
    name: str
    magic: int
    shape: tuple
    gz_sha256: str
    sha256: str
    gz_size: int


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    files: dict  # (split, "images" | "labels") -> DataFile
    mirrors: tuple  # base URLs, tried in order
    system_dirs: tuple = ()
    image_shape: tuple = (28, 28)
    classes: int = 10

    @property
    def n_inputs(self):
        """Pixels per image: the input layer's size."""
        return int(np.prod(self.image_shape))


def _files(train_images, train_labels, test_images, test_labels):
    def pair(prefix, n, images, labels):
        return {
            "images": DataFile(f"{prefix}-images-idx3-ubyte", 2051,
                               (n, 28, 28), *images),
            "labels": DataFile(f"{prefix}-labels-idx1-ubyte", 2049, (n,),
                               *labels)}
    files = {}
    for split, prefix, n, images, labels in (
            ("train", "train", 60000, train_images, train_labels),
            ("test", "t10k", 10000, test_images, test_labels)):
        for kind, info in pair(prefix, n, images, labels).items():
            files[split, kind] = info
    return files


#: The published files.  MNIST: the SHA-256 of the canonical .gz files and
#: of their contents, as in fastnet/datasets/mnist/SHA256SUMS, and the
#: sizes of the shipped .gz files.  Fashion-MNIST: the .gz SHA-256
#: published by Zalando's S3 mirror (as TensorFlow Datasets lists them),
#: the SHA-256 of the contents, read from Debian's package, and the .gz
#: sizes its mirrors serve (the byte counts Keras and torchvision report
#: when they download these files).
DATASETS = {
    "mnist": Dataset(
        name="mnist",
        title="MNIST handwritten digits",
        files=_files(
            ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
             "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
             9912422),
            ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
             28881),
            ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
             "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
             1648877),
            ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
             "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
             4542)),
        mirrors=(
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        )),
    "fashion": Dataset(
        name="fashion",
        title="Fashion-MNIST (Zalando)",
        files=_files(
            ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
             "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
             26421880),
            ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
             29515),
            ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
             "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
             4422102),
            ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
             "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
             5148)),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
            "master/data/fashion/",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",)),
}

# IDX element types: the third byte of the magic number.
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"),
              0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


# --------------------------------------------------------------- public API

def load_mnist(split="train", *, name="mnist", path=None, download=True,
               mirrors=None, progress=None):
    """Images ``(n, 28, 28)`` uint8 (0 is background, 255 ink) and labels
    ``(n,)`` uint8 of one split, ``"train"`` (60,000) or ``"test"``
    (10,000), of ``name`` ``"mnist"`` or ``"fashion"``.

    ``path`` is a folder holding the files; without it they are looked
    for as the module docstring says and, if ``download`` is true,
    fetched from ``mirrors`` (default: the data set's public mirrors) with
    a progress bar when ``progress`` (default: stderr is a terminal).

    The arrays are read-only (``flags.writeable`` is False): they are
    shared between calls, so that loading twice costs nothing.  Copy them
    (``images.copy()``) to change them."""
    dataset = dataset_info(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = find(dataset, path, download=download, mirrors=mirrors,
                  progress=progress)
    images, labels = (
        _read_checked(_existing_file(folder, info), info)
        for info in (dataset.files[split, "images"],
                     dataset.files[split, "labels"]))
    return images, labels


def to_columns(images, *, scale=INPUT_SCALE, dtype=np.float32):
    """``(n, 28, 28)`` (or ``(n, 784)``) pixel bytes -> ``(784, n)`` floats,
    one image per column, ``pixel * scale``.  The default 1/256 is what
    Nielsen's ``mnist.pkl.gz`` holds (values 0 .. 255/256); use
    ``scale=1/255`` for exactly [0, 1].  The result is the transpose of a
    C-contiguous array, which the networks take without copying."""
    images = np.asarray(images)
    dtype = np.dtype(dtype)
    flat = images.reshape(images.shape[0], -1)
    return (flat.astype(dtype) * dtype.type(scale)).T


def one_hot(labels, classes=10, dtype=np.float64):
    """Integer labels ``(n,)`` -> ``(classes, n)`` one-hot columns."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D integer array, got "
                         f"{labels.dtype} of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in 0..{classes - 1}")
    return np.eye(classes, dtype=dtype)[labels].T


def check_layers(sizes, name):
    """Refuse layer ``sizes`` that do not fit data set ``name``: the first
    must be its pixels per image, the last its number of classes."""
    info = dataset_info(name)
    if sizes[0] != info.n_inputs or sizes[-1] != info.classes:
        raise ValueError(
            f"{name} has {info.n_inputs} inputs and {info.classes} classes, "
            f"so sizes must start with {info.n_inputs} and end with "
            f"{info.classes}; got {','.join(map(str, sizes))}")


def dataset_info(name):
    """The ``Dataset`` record of ``"mnist"`` or ``"fashion"``."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown data set {name!r}; choose one of "
                         f"{sorted(DATASETS)}") from None


def search_path(dataset, path=None):
    """The folders looked in, in order, for ``dataset``."""
    if path is not None:
        return [Path(path).expanduser()]
    folders = []
    if os.environ.get("FASTNET_DATA"):
        folders.append(Path(os.environ["FASTNET_DATA"]).expanduser()
                       / dataset.name)
    folders.append(_PACKAGE_DATA / dataset.name)
    folders.extend(Path(d) for d in dataset.system_dirs)
    folders.append(cache_dir(dataset.name))
    return folders


def cache_dir(name):
    """``$XDG_CACHE_HOME/fastnet/<name>``, by default under ``~/.cache``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "fastnet" / name


def find(dataset, path=None, *, download=True, mirrors=None, progress=None):
    """The first folder of ``search_path`` that holds all four files;
    else the user cache after downloading them into it."""
    dataset = dataset_info(dataset) if isinstance(dataset, str) else dataset
    folders = search_path(dataset, path)
    for folder in folders:
        if all(_existing_file(folder, f, required=False)
               for f in dataset.files.values()):
            return folder
    if path is not None:
        missing = [f.name for f in dataset.files.values()
                   if not _existing_file(folders[0], f, required=False)]
        raise DatasetNotFoundError(
            f"{folders[0]} does not hold the {dataset.title} files "
            f"{', '.join(missing)} (.gz or uncompressed)")
    if not download:
        raise DatasetNotFoundError(_not_found_message(dataset, folders))
    target = cache_dir(dataset.name)
    download_dataset(dataset, target, mirrors=mirrors, progress=progress)
    return target


def download_dataset(dataset, folder, *, mirrors=None, progress=None,
                     timeout=60, deadline=600):
    """Fetch the missing ``.gz`` files of ``dataset`` into ``folder``,
    trying each mirror in turn.

    Every download is bounded: ``timeout`` seconds without data, at most
    ``deadline`` seconds in all per file, and never more bytes than the
    published file has.  A mirror that is not an http(s) URL is skipped
    with a warning.  Each download is checked like any file (complete
    gzip, IDX header, SHA-256) before it is renamed into place; ``folder``
    is created only for the first good file, so a failure leaves no empty
    folder behind."""
    dataset = dataset_info(dataset) if isinstance(dataset, str) else dataset
    for name, seconds in (("timeout", timeout), ("deadline", deadline)):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not 0 < seconds < math.inf:
            raise ValueError(f"{name} must be a positive number of seconds, "
                             f"got {seconds!r}")
    mirrors, skipped = _usable_mirrors(
        dataset.mirrors if mirrors is None else mirrors)
    folder = Path(folder)
    if progress is None:
        progress = sys.stderr.isatty()
    for info in dataset.files.values():
        if _existing_file(folder, info, required=False):
            continue
        payload, failures = None, list(skipped)
        for mirror in mirrors:
            url = mirror + info.name + ".gz"
            try:
                payload = _fetch(url, info.gz_size, timeout, deadline,
                                 progress)
                _decode(payload, info, url)
                break
            except (OSError, ValueError, http.client.HTTPException) as error:
                problem = error.problem if isinstance(error, DataFileError) \
                    else error  # its message would name the URL again
                failures.append(f"{url}: {problem}")
                payload = None
        if payload is None:
            raise DatasetNotFoundError(
                f"could not download {info.name}.gz of {dataset.title}; "
                f"tried:\n  " + "\n  ".join(failures or ["no mirror"]) +
                "\n" + _offline_route(dataset))
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / (info.name + ".gz")) as file:
            file.write(payload)


def read_idx(path):
    """Any IDX file (gzipped or not) as an array of its stated shape and
    element type; raises ``DataFileError`` if it is truncated or corrupt."""
    path = Path(path)
    return _parse_idx(_decompressed(_read_bytes(path), path), path)


# ------------------------------------------------------------------ helpers

def _existing_file(folder, info, required=True):
    """The ``.gz`` or uncompressed file of ``info`` in ``folder``."""
    for candidate in (folder / (info.name + ".gz"), folder / info.name):
        if candidate.is_file():
            return candidate
    if required:
        raise DatasetNotFoundError(f"{folder / info.name}(.gz) is missing")
    return None


def _read_checked(path, info):
    stat = path.stat()
    return _read_checked_cached(str(path), stat.st_size, stat.st_mtime_ns,
                                info)


@functools.lru_cache(maxsize=8)
def _read_checked_cached(path, size, mtime_ns, info):
    """Decoded, verified, read-only array; cached per file version."""
    path = Path(path)
    array = _decode(_read_bytes(path), info, path)
    array.flags.writeable = False
    return array


def _read_bytes(path):
    """The bytes of ``path``; a FIFO or device is refused, not waited on."""
    return read_regular_file(path)


def _decode(payload, info, where):
    """Check ``payload`` (the bytes of a file, gzipped or not) against
    ``info`` and return its array."""
    raw = _decompressed(payload, where)
    array = _parse_idx(raw, where, expected_magic=info.magic)
    if array.shape != info.shape:
        raise DataFileError(where, f"holds an array of shape {array.shape}, "
                                   f"but {info.name} has shape {info.shape}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != info.sha256:
        raise DataFileError(
            where, f"checksum mismatch: the contents have SHA-256 {digest}, "
                   f"but the published {info.name} has {info.sha256}; the "
                   f"file is damaged or not the published one")
    return array


def _decompressed(payload, where):
    if payload[:2] != b"\x1f\x8b":
        return payload
    try:
        return gzip.decompress(payload)
    except EOFError:
        raise DataFileError(where, "truncated: the gzip stream ends before "
                                   "its end marker") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as error:
        raise DataFileError(where, f"corrupt gzip data ({error})") from None


def _parse_idx(raw, where, expected_magic=None):
    if len(raw) < 4:
        raise DataFileError(where, f"truncated: {len(raw)} bytes, too short "
                                   f"for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    zero, type_code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if expected_magic is not None and magic != expected_magic:
        raise DataFileError(where, f"wrong magic number {magic} (expected "
                                   f"{expected_magic}): not this IDX file")
    if zero != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise DataFileError(where, f"not an IDX file (magic number "
                                   f"{magic:#010x})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(where, f"truncated inside the IDX header "
                                   f"({len(raw)} of {header} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
                  for i in range(ndim))
    dtype = _IDX_TYPES[type_code]
    # Python integers: four 32-bit dimensions can overflow int64.
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise DataFileError(where, f"truncated: the header promises "
                                   f"{expected} bytes of data for shape "
                                   f"{shape}, the file has {found}")
    if found > expected:
        raise DataFileError(where, f"{found - expected} unexpected bytes "
                                   f"after the {expected} bytes of data "
                                   f"for shape {shape}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape) \
        .astype(dtype.newbyteorder("="), copy=False)


def _usable_mirrors(mirrors):
    """``(the http(s) base URLs among mirrors, each ending in "/", notes
    on those skipped)``; each skipped one is also a warning."""
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    usable, skipped = [], []
    for mirror in mirrors:
        problem = _mirror_problem(mirror)
        if problem is None:
            usable.append(mirror.rstrip("/") + "/")
            continue
        note = f"skipped mirror {mirror!r}: {problem}"
        warnings.warn(note, stacklevel=3)
        skipped.append(note)
    return usable, skipped


def _mirror_problem(mirror):
    """Why ``mirror`` cannot be a base URL to download from, or None."""
    if not isinstance(mirror, str):
        return f"not a string but {type(mirror).__name__}"
    try:
        parts = urllib.parse.urlsplit(mirror)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as error:
        return f"malformed URL ({error})"
    if parts.scheme not in ("http", "https"):
        return "not an http:// or https:// URL"
    if not parts.hostname:
        return "no host name"
    if any(character.isspace() or not character.isprintable()
           for character in mirror):
        return "contains spaces or control characters"
    return None


def _fetch(url, size, timeout, deadline, progress):
    """The body at ``url``, a file of ``size`` bytes.  Bounded three ways:
    ``timeout`` seconds without data, ``deadline`` seconds in all, and
    refused as soon as the mirror promises or sends more than ``size``."""
    with _Deadline(deadline) as clock:
        try:
            payload = _receive(clock.opener, url, size,
                               min(timeout, deadline), progress)
        except (OSError, http.client.HTTPException):
            if not clock.expired:
                raise
            payload = None
    if clock.expired and (payload is None or len(payload) != size):
        raise TimeoutError(f"gave up after {deadline:g} s (the deadline per "
                           f"file)")
    return payload


def _receive(opener, url, size, timeout, progress):
    request = urllib.request.Request(url, headers={"User-Agent": "fastnet"})
    with opener.open(request, timeout=timeout) as response:
        total = response.length
        if total is not None and total > size:
            raise OSError(f"the mirror offers {total:,} bytes, but the "
                          f"published file has {size:,}")
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=total or size, unit="B", unit_scale=True,
                       desc=url.rsplit("/", 1)[-1], leave=False)
        chunks, received = [], 0
        try:
            # read1: one network read at a time, so the deadline and the
            # size cap are checked as the bytes arrive.
            while chunk := response.read1(1 << 16):
                received += len(chunk)
                if received > size:
                    raise OSError(f"the mirror sent more than the {size:,} "
                                  f"bytes of the published file")
                chunks.append(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received != total:
        raise OSError(f"incomplete download: {received} of {total} bytes")
    return b"".join(chunks)


class _Deadline:
    """An opener whose connections are shut once ``seconds`` have passed,
    so that no read, of the headers or the body, can outlast them.  A
    socket timeout bounds each read only: a mirror sending a byte every
    few seconds would go on for ever."""

    def __init__(self, seconds):
        self.seconds, self.expired = seconds, False
        self._sockets, self._lock = [], threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        handlers = [_WatchedHTTPHandler(self)]
        if hasattr(urllib.request, "HTTPSHandler"):  # Python built with ssl
            handlers.append(_WatchedHTTPSHandler(self))
        self.opener = urllib.request.build_opener(*handlers)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exception):
        self._timer.cancel()

    def watch(self, sock):
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)
        return sock

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock):
    """End the connection under any read blocked on it (the base class's
    shutdown: for TLS too, it acts on the descriptor alone)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _WatchedOpen:
    """A urllib handler that registers each connection's socket with a
    ``_Deadline``: the raw socket as soon as it exists (connecting, proxy
    tunnels, TLS handshake), then the TLS socket that replaces it."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def do_open(self, http_class, request, **kwargs):
        clock = self.clock

        class Watched(http_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                create = self._create_connection
                self._create_connection = \
                    lambda *a, **k: clock.watch(create(*a, **k))

            def connect(self):
                super().connect()
                clock.watch(self.sock)

        return super().do_open(Watched, request, **kwargs)


class _WatchedHTTPHandler(_WatchedOpen, urllib.request.HTTPHandler):
    pass


if hasattr(urllib.request, "HTTPSHandler"):
    class _WatchedHTTPSHandler(_WatchedOpen, urllib.request.HTTPSHandler):
        pass


def _offline_route(dataset):
    """How to use ``dataset`` without a network, exactly."""
    names = ", ".join(dict.fromkeys(f.name + ".gz"
                                    for f in dataset.files.values()))
    return (f"Without a network: fetch {names} (from {dataset.mirrors[0]} "
            f"or any copy) into one folder, FOLDER, and run `fastnet train "
            f"--dataset {dataset.name} --data-dir FOLDER` (every fastnet "
            f"command takes --data-dir; in Python: load_mnist(name="
            f"{dataset.name!r}, path=FOLDER)), or set FASTNET_DATA to a "
            f"folder whose {dataset.name}/ holds the files.")


def _not_found_message(dataset, folders):
    searched = "\n  ".join(str(f) for f in folders)
    return (f"{dataset.title} not found, and downloading is off; looked "
            f"in:\n  {searched}\n" + _offline_route(dataset))
