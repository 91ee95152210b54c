"""Saved models: one ``.npz`` file with sizes, weights, biases and metadata.

Layout (a NumPy ``.npz`` archive, read without pickle):

- ``format``: the string ``"fastnet-model"``; ``version``: 2
- ``face``: ``"network"`` (``fastnet.Network``, the seed's chapter 1),
  ``"book-network"`` (``fastnet.book.network.Network``, the book's) or
  ``"network2"`` (``fastnet.network2.Network``, chapter 3); ``cost``: the cost's name in
  ``fastnet.costs`` (``"quadratic"`` or ``"cross-entropy"``), so that a
  loaded network trains on as the saved one did
- ``sizes``: int64 ``(L+1,)``
- ``weights_<l>`` ``(n_{l+1}, n_l)`` and ``biases_<l>`` ``(n_{l+1}, 1)``, float32 or
  float64 (all the same)
- ``metadata``: a JSON object as a string: how the model was trained, its
  accuracy, the input scaling, anything the caller adds.

Face ``"network3"`` (``fastnet.network3.Network``, chapter 6's layers) has
no ``cost`` or ``sizes`` but:

- ``layers``: a JSON object as a string, ``{"mini_batch_size": m,
  "layers": [...]}``, each layer as ``conv_models.describe_layers`` gives it
  (``kind``, ``n_in``, ``n_out``, ``p_dropout``, ``activation``, and
  ``filter_shape``, ``image_shape``, ``poolsize`` for a conv layer)
- ``w_<j>`` and ``b_<j>``: layer ``j``'s weights and biases, shaped as
  ``conv_models.parameter_shapes`` says, float32 or float64 (all the same).

``save_model`` writes to a temporary file beside the target and renames
it, so a model file is either complete or absent.  Version 1 files (no
face or cost) still load: as ``network2`` with the cost their metadata
names, if it names one, else as ``fastnet.Network``.  ``load_model`` checks
every part and raises ``ModelFileError`` naming the file and the problem;
it also reads network2's JSON files.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from . import conv_models, costs, data, files, network, network2, network3
from .book import network as book_network
from .files import FileFormatError, atomic_write
from .validation import check_memory, check_network_memory, check_sizes

FORMAT = "fastnet-model"
VERSION = 2
#: Versions this fastnet reads.
READABLE = (1, 2)
#: The face each name stands for.
FACES = {"network": network.Network, "network2": network2.Network,
         "book-network": book_network.Network}


#: The face of chapter 6's networks, stored as layers rather than sizes.
NETWORK3 = "network3"


#: A model file is missing, truncated, foreign or inconsistent (the one
#: error class for unusable files).
ModelFileError = FileFormatError


def save_model(network, path, metadata=None):
    """Write ``network`` (and the JSON-serialisable dict ``metadata``) to
    ``path`` atomically."""
    if isinstance(network, network3.Network):
        return _save_network3(network, path, metadata)
    face = _face_name(network)
    if network._cost_info is None:
        raise TypeError(f"a network with its own cost class "
                        f"({network.cost!r}) cannot be saved as a fastnet "
                        f"model; network2's save() writes its JSON")
    parameters = network._parameters()
    arrays = {"cost": np.array(network._cost_info.name),
              "sizes": np.asarray(parameters.sizes, np.int64)}
    for l, (w, b) in enumerate(zip(parameters.weights, parameters.biases)):
        arrays[f"weights_{l}"] = w
        arrays[f"biases_{l}"] = b
    _write_archive(path, face, metadata, arrays)


def _save_network3(network, path, metadata):
    """``save_model`` for a ``network3.Network``."""
    layers = {"mini_batch_size": network.mini_batch_size,
              "layers": conv_models.describe_layers(network.layers)}
    arrays = {"layers": np.array(json.dumps(layers))}
    for j, layer in enumerate(network.layers):
        arrays[f"w_{j}"], arrays[f"b_{j}"] = layer.w, layer.b
    _write_archive(path, NETWORK3, metadata, arrays)


def _write_archive(path, face, metadata, arrays):
    """Write the face's ``arrays`` with the members every model file has
    (format, version, face, metadata), atomically."""
    with atomic_write(path) as file:
        np.savez(file, format=np.array(FORMAT), version=np.array(VERSION),
                 face=np.array(face),
                 metadata=np.array(json.dumps(metadata or {})), **arrays)


def load_model(path):
    """``(network, metadata)`` from a file written by ``save_model``, or
    from network2's JSON file (as ``fastnet.network2.load`` reads it,
    with empty metadata).

    Everything is checked before anything large is read: the archive's
    member headers (shapes and dtypes) against the stored sizes and
    against the memory available, then every array and every metadata
    field fastnet uses; any problem is a ``ModelFileError`` naming the
    file and the field."""
    path = Path(path)
    with files.open_regular_file(path) as file:
        start = file.read(4)
    if start[:1] in (b"{", b" ", b"\n", b"\t", b"\r"):
        return network2.load(path), {}
    if start != b"PK\x03\x04":
        raise ModelFileError(path, "not a fastnet model file (neither an "
                                   ".npz archive nor network2's JSON)")
    try:
        with files.open_regular_file(path) as file, \
                np.load(file, allow_pickle=False) as archive:
            return _load_archive(path, archive)
    except FileFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
            TypeError, IndexError) as error:
        raise ModelFileError(path, f"not a fastnet model file, or truncated "
                                   f"or damaged ({error})") from None


def _load_archive(path, archive):
    """``load_model`` on an open ``NpzFile``."""
    headers = {key: _header(archive, key) for key in archive.files}
    read = _Reader(path, archive, headers)
    if "format" not in headers or read.scalar("format", "U") != FORMAT:
        raise ModelFileError(path, f"not a fastnet model file (no "
                                   f"'{FORMAT}' marker)")
    version = read.scalar("version", "iufU")
    if not isinstance(version, int) or version not in READABLE:
        raise ModelFileError(path, f"model format version {version} is not "
                                   f"supported (this fastnet reads "
                                   f"{', '.join(map(str, READABLE))})")
    if version >= 2 and "face" in headers and \
            read.scalar("face", "U") == NETWORK3:
        metadata = read.metadata()
        return _load_network3(read), metadata
    sizes = read.sizes()
    metadata = read.metadata()
    expected = {"format", "version", "sizes", "metadata"} | {
        f"{kind}_{l}" for kind in ("weights", "biases")
        for l in range(len(sizes) - 1)}
    if version >= 2:
        expected |= {"face", "cost"}
    if set(headers) != expected:
        missing, extra = expected - set(headers), set(headers) - expected
        raise ModelFileError(path, f"arrays missing: {sorted(missing)}, "
                                   f"unexpected: {sorted(extra)}")
    face, cost = _face_and_cost(path, read, metadata, version)
    weights, biases = read.layers(sizes)
    try:
        if face is network2.Network:
            loaded = face.from_parameters(weights, biases, cost=cost.cls)
        else:
            loaded = face.from_parameters(weights, biases)
    except (TypeError, ValueError) as error:
        raise ModelFileError(path, str(error)) from None
    return loaded, metadata


def _load_network3(read):
    """The ``network3.Network`` of an archive of face ``"network3"``;
    ``read`` is its ``_Reader``."""
    mini_batch_size, description, shapes = read.network3_layers()
    expected = {"format", "version", "face", "layers", "metadata"} | {
        f"{kind}_{j}" for kind in "wb" for j in range(len(shapes))}
    if set(read.headers) != expected:
        missing = expected - set(read.headers)
        extra = set(read.headers) - expected
        read.fail(f"arrays missing: {sorted(missing)}, unexpected: "
                  f"{sorted(extra)}")
    dtypes = {read.headers[key][1] for key in expected
              if key[:2] in ("w_", "b_")}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32,
                                                       np.float64):
        read.fail("weights and biases must all be float32 or all float64")
    dtype = dtypes.pop()
    _check_network3_memory(read, description, shapes)
    params = []
    for j, (w_shape, b_shape) in enumerate(shapes):
        for key, shape in ((f"w_{j}", w_shape), (f"b_{j}", b_shape)):
            value = read.array(key, "f", shape)
            if not np.isfinite(value).all():
                read.fail(f"{key} holds NaN or infinite values")
            params.append(value)
    try:
        return conv_models.from_description(description, params,
                                            mini_batch_size, dtype)
    except (TypeError, ValueError) as error:
        read.fail(f"layers: {error}")


def _check_network3_memory(read, description, shapes):
    """Refuse a network the machine cannot hold: its parameters (read,
    drawn at random by the layers' constructors in float64, converted)
    and the unrolled patches of a conv layer evaluating a chunk."""
    parameters = sum(int(np.prod(shape, dtype=object))
                     for pair in shapes for shape in pair)
    patches = sum(
        int(np.prod(entry["filter_shape"][1:], dtype=object))
        * network3.EVALUATION_CHUNK
        * (entry["image_shape"][2] - entry["filter_shape"][2] + 1)
        * (entry["image_shape"][3] - entry["filter_shape"][3] + 1)
        for entry in description if entry["kind"] == "ConvPoolLayer")
    try:
        check_memory(f"a network3 model of {parameters:,} parameters",
                     8 * (3 * parameters + 2 * patches))
    except ValueError as error:
        read.fail(str(error))


def _header(archive, key):
    """``(shape, dtype)`` of a member, read from its ``.npy`` header
    without reading its data."""
    with archive.zip.open(key + ".npy") as member:
        version = np.lib.format.read_magic(member)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"{key}: unknown .npy version {version}")
        shape, _, dtype = read(member)
    return shape, dtype


class _Reader:
    """Reads the members of a model archive, each checked by its header
    before its data is read."""

    #: The most bytes a small member (a marker, the metadata) may hold.
    SMALL = 1 << 20

    def __init__(self, path, archive, headers):
        self.path, self.archive, self.headers = path, archive, headers

    def fail(self, problem):
        raise ModelFileError(self.path, problem)

    def array(self, key, kinds, shape=None, small=False):
        """Member ``key``, its dtype kind one of ``kinds`` and its shape
        ``shape`` (if given), checked before it is read."""
        if key not in self.headers:
            self.fail(f"missing {key!r}")
        declared, dtype = self.headers[key]
        if dtype.hasobject:
            self.fail(f"not a fastnet model file: {key} holds Python "
                      f"objects, which would need pickle")
        if dtype.kind not in kinds:
            self.fail(f"{key} has dtype {dtype}, not the expected kind")
        if shape is not None and tuple(declared) != tuple(shape):
            self.fail(f"{key} has shape {tuple(declared)}, expected "
                      f"{tuple(shape)}")
        if small and int(np.prod(declared, dtype=object)) * \
                dtype.itemsize > self.SMALL:
            self.fail(f"{key} is implausibly large for what it holds")
        return self.archive[key]

    def scalar(self, key, kinds):
        value = self.array(key, kinds, shape=(), small=True)
        return value.item()

    def sizes(self):
        shape = self.headers.get("sizes", ((0,), None))[0]
        if len(shape) != 1 or shape[0] > 10_000:
            self.fail(f"sizes has shape {tuple(shape)}, not a short list of "
                      f"layer sizes")
        sizes_array = self.array("sizes", "iu", small=True)
        try:
            sizes = check_sizes(sizes_array.tolist())
            check_network_memory(sizes)
        except (TypeError, ValueError) as error:
            self.fail(f"sizes: {error}")
        return sizes

    def metadata(self):
        text = self.scalar("metadata", "U")
        try:
            metadata = json.loads(text)
        except (ValueError, RecursionError) as error:
            self.fail(f"metadata is not JSON ({error})")
        if not isinstance(metadata, dict):
            self.fail(f"metadata must be a JSON object, got "
                      f"{type(metadata).__name__}")
        _check_metadata(self.fail, metadata)
        return metadata

    def network3_layers(self):
        """``(mini_batch_size, layer descriptions, parameter shapes)``
        from member ``layers``, every field checked."""
        text = self.scalar("layers", "U")
        try:
            layers = json.loads(text)
        except (ValueError, RecursionError) as error:
            self.fail(f"layers is not JSON ({error})")
        if not isinstance(layers, dict) or \
                set(layers) != {"mini_batch_size", "layers"}:
            self.fail("layers must be a JSON object with mini_batch_size "
                      "and layers")
        m = layers["mini_batch_size"]
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            self.fail(f"layers: mini_batch_size must be a positive "
                      f"integer; got {str(m)[:40]}")
        try:
            shapes = conv_models.parameter_shapes(layers["layers"])
        except ValueError as error:
            self.fail(f"layers: {error}")
        return m, layers["layers"], shapes

    def layers(self, sizes):
        """The weights and biases, each checked by its header first: one
        float dtype for all."""
        weights, biases, dtypes = [], [], set()
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            for kind, shape, into in (("weights", (n_out, n_in), weights),
                                      ("biases", (n_out, 1), biases)):
                dtypes.add(self.headers[f"{kind}_{l}"][1])
                into.append(self.array(f"{kind}_{l}", "f", shape))
        if len(dtypes) != 1 or dtypes.pop() not in (np.float32, np.float64):
            self.fail("weights and biases must all be float32 or all "
                      "float64")
        return weights, biases


#: The range of ``255 * input_scale`` (a white pixel's input) a model may
#: declare: beyond it the inputs vanish or overflow the sigmoid, and the
#: model could only answer noise.
INPUT_RANGE = (1e-4, 1e4)


def _check_metadata(fail, metadata):
    """The fields fastnet itself reads: ``input_scale``, a number with
    ``255 * input_scale`` in ``INPUT_RANGE``, and ``dataset``, a known data
    set name."""
    if "input_scale" in metadata:
        scale = metadata["input_scale"]
        low, high = INPUT_RANGE
        try:
            good = not isinstance(scale, bool) and \
                low <= 255 * float(scale) <= high
        except (TypeError, ValueError, OverflowError):
            good = False
        if not good:
            fail(f"metadata field input_scale must be a number with 255 * "
                 f"input_scale between {low:g} and {high:g}, got "
                 f"{str(scale)[:40]}")
    if "dataset" in metadata and (not isinstance(metadata["dataset"], str)
                                  or metadata["dataset"] not in
                                  data.DATASETS):
        fail(f"metadata field dataset must be one of "
             f"{', '.join(sorted(data.DATASETS))}, got "
             f"{str(metadata['dataset'])[:40]!r}")


def _face_name(network):
    """The name under which ``network``'s class is saved."""
    for name, face in FACES.items():
        if isinstance(network, face):
            return name
    raise TypeError(f"save_model saves fastnet.Network or "
                    f"fastnet.network2.Network, got "
                    f"{type(network).__name__}")


def _face_and_cost(path, arrays, metadata, version):
    """The class and ``CostInfo`` a file's network is loaded as;
    ``arrays`` is the file's ``_Reader``."""
    if version == 1:  # no face or cost stored: the metadata may say
        named = metadata.get("cost") if isinstance(metadata, dict) else None
        if named in costs.COSTS:
            return network2.Network, costs.COSTS[named]
        return network.Network, costs.COSTS["quadratic"]
    face, cost = arrays.scalar("face", "U"), arrays.scalar("cost", "U")
    if face not in FACES:
        raise ModelFileError(path, f"unknown face {face!r}; expected one "
                                   f"of {', '.join(FACES)}")
    if cost not in costs.COSTS:
        raise ModelFileError(path, f"unknown cost {cost!r}; expected one "
                                   f"of {', '.join(costs.COSTS)}")
    if FACES[face] is not network2.Network and cost != "quadratic":
        raise ModelFileError(path, f"a {face} model has the quadratic cost, "
                                   f"not {cost}")
    return FACES[face], costs.COSTS[cost]
