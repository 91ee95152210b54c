"""Saved models: one ``.npz`` file with sizes, weights, biases and metadata.

Layout (a NumPy ``.npz`` archive, read without pickle):

- ``format``: the string ``"fastnet-model"``; ``version``: 1
- ``sizes``: int64 ``(L+1,)``
- ``weights_<l>`` ``(n_{l+1}, n_l)`` and ``biases_<l>`` ``(n_{l+1}, 1)``, float32 or
  float64 (all the same)
- ``metadata``: a JSON object as a string: how the model was trained, its
  accuracy, the input scaling, anything the caller adds.

``save_model`` writes to a temporary file beside the target and renames
it, so a model file is either complete or absent.  ``load_model`` checks
every part and raises ``ModelFileError`` naming the file and the problem.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from .files import FileFormatError, atomic_write
from .network import Network
from .validation import check_sizes

FORMAT = "fastnet-model"
VERSION = 1


#: A model file is missing, truncated, foreign or inconsistent (the one
#: error class for unusable files).
ModelFileError = FileFormatError


def save_model(network, path, metadata=None):
    """Write ``network`` (and the JSON-serialisable dict ``metadata``) to
    ``path`` atomically."""
    sizes, params = network._parameters()
    del params  # checked for consistency; the arrays themselves are saved
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION),
              "sizes": np.asarray(sizes, np.int64),
              "metadata": np.array(json.dumps(metadata or {}))}
    dtype = np.result_type(*network.weights, *network.biases)
    for l, (w, b) in enumerate(zip(network.weights, network.biases)):
        arrays[f"weights_{l}"] = np.asarray(w, dtype)
        arrays[f"biases_{l}"] = np.asarray(b, dtype)
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
    if version is None or version.shape != () or int(version) != VERSION:
        raise ModelFileError(path, f"model format version {version} is not "
                                   f"supported (this fastnet reads "
                                   f"{VERSION})")
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
    try:
        network = Network.from_parameters(weights, biases)
    except (TypeError, ValueError) as error:
        raise ModelFileError(path, str(error)) from None
    if network.sizes != sizes:
        raise ModelFileError(path, f"sizes {sizes} do not match the weights' "
                                   f"shapes {network.sizes}")
    return network, metadata
