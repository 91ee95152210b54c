"""Saved models: one ``.npz`` file with sizes, weights, biases and metadata.

Layout (a NumPy ``.npz`` archive, read without pickle):

- ``format``: the string ``"fastnet-model"``; ``version``: 2
- ``face``: ``"network"`` (``fastnet.Network``, chapter 1) or ``"network2"``
  (``fastnet.network2.Network``, chapter 3); ``cost``: the cost's name in
  ``fastnet.costs`` (``"quadratic"`` or ``"cross-entropy"``), so that a
  loaded network trains on as the saved one did
- ``sizes``: int64 ``(L+1,)``
- ``weights_<l>`` ``(n_{l+1}, n_l)`` and ``biases_<l>`` ``(n_{l+1}, 1)``, float32 or
  float64 (all the same)
- ``metadata``: a JSON object as a string: how the model was trained, its
  accuracy, the input scaling, anything the caller adds.

``save_model`` writes to a temporary file beside the target and renames
it, so a model file is either complete or absent.  Version 1 files (no
face or cost) still load: as ``network2`` with the cost their metadata
names, if it names one, else as ``fastnet.Network``.  ``load_model`` checks
every part and raises ``ModelFileError`` naming the file and the problem.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from .files import FileFormatError, atomic_write
from . import core, costs, network, network2
from .validation import check_sizes

FORMAT = "fastnet-model"
VERSION = 2
#: Versions this fastnet reads.
READABLE = (1, 2)
#: The face each name stands for.
FACES = {"network": network.Network, "network2": network2.Network}


#: A model file is missing, truncated, foreign or inconsistent (the one
#: error class for unusable files).
ModelFileError = FileFormatError


def save_model(network, path, metadata=None):
    """Write ``network`` (and the JSON-serialisable dict ``metadata``) to
    ``path`` atomically."""
    face = _face_name(network)
    if network._cost_info is None:
        raise TypeError(f"a network with its own cost class "
                        f"({network.cost!r}) cannot be saved as a fastnet "
                        f"model; network2's save() writes its JSON")
    parameters = network._parameters()
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION),
              "face": np.array(face),
              "cost": np.array(network._cost_info.name),
              "sizes": np.asarray(parameters.sizes, np.int64),
              "metadata": np.array(json.dumps(metadata or {}))}
    for l, (w, b) in enumerate(zip(parameters.weights, parameters.biases)):
        arrays[f"weights_{l}"] = w
        arrays[f"biases_{l}"] = b
    with atomic_write(path) as file:
        np.savez(file, **arrays)


def load_model(path):
    """``(network, metadata)`` from a file written by ``save_model``."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            if file.read(4) != b"PK\x03\x04":
                raise ModelFileError(path, "not a fastnet model file (not "
                                           "an .npz archive)")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ModelFileError:
        raise
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFileError(path, "is a directory, not a model file") \
            from None
    except PermissionError:
        raise ModelFileError(path, "permission denied") from None
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ModelFileError(path, f"not a fastnet model file, or truncated "
                                   f"({error})") from None
    except ValueError as error:  # e.g. an array that needs pickle
        raise ModelFileError(path, f"not a fastnet model file ({error})") \
            from None
    if not isinstance(arrays, dict) or \
            str(arrays.get("format", "")) != FORMAT:
        raise ModelFileError(path, "not a fastnet model file (no "
                                   f"'{FORMAT}' marker)")
    version = arrays.get("version")
    if version is None or version.shape != () or \
            version.dtype.kind not in "iu" or int(version) not in READABLE:
        raise ModelFileError(path, f"model format version {version} is not "
                                   f"supported (this fastnet reads "
                                   f"{', '.join(map(str, READABLE))})")
    version = int(version)
    try:
        sizes = check_sizes(arrays["sizes"].tolist())
        metadata = json.loads(str(arrays["metadata"]))
    except KeyError as error:
        raise ModelFileError(path, f"missing {error.args[0]!r}") from None
    except (TypeError, ValueError) as error:
        raise ModelFileError(path, f"bad sizes or metadata ({error})") \
            from None
    layers = range(len(sizes) - 1)
    expected = {"format", "version", "sizes", "metadata"} | {
        f"{kind}_{l}" for kind in ("weights", "biases") for l in layers}
    if version >= 2:
        expected |= {"face", "cost"}
    if set(arrays) != expected:
        missing, extra = expected - set(arrays), set(arrays) - expected
        raise ModelFileError(path, f"arrays missing: {sorted(missing)}, "
                                   f"unexpected: {sorted(extra)}")
    weights = [arrays[f"weights_{l}"] for l in layers]
    biases = [arrays[f"biases_{l}"] for l in layers]
    dtypes = {a.dtype for a in weights + biases}
    if len(dtypes) != 1 or dtypes.pop() not in (np.float32, np.float64):
        raise ModelFileError(path, "weights and biases must all be float32 "
                                   "or all float64")
    face, cost = _face_and_cost(path, arrays, metadata, version)
    try:
        if face is network2.Network:
            loaded = face.from_parameters(weights, biases, cost=cost.cls)
        else:
            loaded = face.from_parameters(weights, biases)
    except (TypeError, ValueError) as error:
        raise ModelFileError(path, str(error)) from None
    if loaded.sizes != sizes:
        raise ModelFileError(path, f"sizes {sizes} do not match the weights' "
                                   f"shapes {loaded.sizes}")
    return loaded, metadata


def _face_name(network):
    """The name under which ``network``'s class is saved."""
    for name, face in FACES.items():
        if isinstance(network, face):
            return name
    raise TypeError(f"save_model saves fastnet.Network or "
                    f"fastnet.network2.Network, got "
                    f"{type(network).__name__}")


def _face_and_cost(path, arrays, metadata, version):
    """The class and ``CostInfo`` a file's network is loaded as."""
    if version == 1:  # no face or cost stored: the metadata may say
        named = metadata.get("cost") if isinstance(metadata, dict) else None
        if named in costs.COSTS:
            return network2.Network, costs.COSTS[named]
        return network.Network, costs.COSTS["quadratic"]
    face, cost = str(arrays["face"]), str(arrays["cost"])
    if face not in FACES:
        raise ModelFileError(path, f"unknown face {face!r}; expected one "
                                   f"of {', '.join(FACES)}")
    if cost not in costs.COSTS:
        raise ModelFileError(path, f"unknown cost {cost!r}; expected one "
                                   f"of {', '.join(costs.COSTS)}")
    if FACES[face] is network.Network and cost != "quadratic":
        raise ModelFileError(path, f"a {face} model has the quadratic cost, "
                                   f"not {cost}")
    return FACES[face], costs.COSTS[cost]
