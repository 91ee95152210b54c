"""A drop-in for Nielsen's ``mnist_loader``, reading the verified IDX files.

``load_data()`` gives what his ``mnist.pkl.gz`` holds: three
``(images, labels)`` pairs, the images as float32 ``(n, 784)`` with each
pixel byte divided by 256 and the labels as int64 ``(n,)``:

- training data: the first 50,000 MNIST training images,
- validation data: the last 10,000 training images,
- test data: the 10,000 test images.

``load_data_wrapper()`` gives the formats his networks take: training data
as a list of ``(x, y)`` tuples, ``x`` a ``(784, 1)`` input and ``y`` the
``(10, 1)`` one-hot desired output; validation and test data as lists of
``(x, label)``.  They are lists (Nielsen's Python 2 ``zip`` made lists), so
``len()`` and slicing work.

Either reads Nielsen's own ``mnist.pkl.gz`` instead when given its path.
"""

import gzip
import pickle
from pathlib import Path

import numpy as np

from . import data

TRAINING_SIZE = data.TRAINING_SIZE


def load_data(path=None):
    """``(training_data, validation_data, test_data)``, each a pair
    ``(images float32 (n, 784), labels int64 (n,))``.

    ``path``: None to use fastnet's verified MNIST files (see
    ``fastnet.data``), a folder holding the IDX files, or Nielsen's
    ``mnist.pkl.gz``.  Unpickling runs code from the file: only point it
    at a file you trust."""
    if path is not None and Path(path).is_file():
        return _load_pickle(Path(path))
    train_images, train_labels = data.load_mnist("train", path=path)
    test_images, test_labels = data.load_mnist("test", path=path)

    def pair(images, labels):
        # to_columns gives the transpose of a C array: .T is that array.
        return data.to_columns(images).T, labels.astype(np.int64)

    return (pair(train_images[:TRAINING_SIZE], train_labels[:TRAINING_SIZE]),
            pair(train_images[TRAINING_SIZE:], train_labels[TRAINING_SIZE:]),
            pair(test_images, test_labels))


def load_data_wrapper(path=None):
    """``(training_data, validation_data, test_data)`` as lists of tuples:
    training ``((784, 1) x, (10, 1) one-hot y)``, validation and test
    ``((784, 1) x, int64 label)``."""
    training, validation, test = load_data(path)
    return (list(zip(_columns(training[0]),
                     _columns(data.one_hot(training[1]).T))),
            list(zip(_columns(validation[0]), validation[1])),
            list(zip(_columns(test[0]), test[1])))


def vectorized_result(j):
    """A ``(10, 1)`` unit vector with 1.0 in position ``j``: the desired
    output for digit ``j``."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


def _columns(rows):
    """``(n, k)`` -> a list of n ``(k, 1)`` column views, without copying."""
    return list(rows.reshape(rows.shape[0], rows.shape[1], 1))


def _load_pickle(path):
    try:
        with gzip.open(path, "rb") as file:
            loaded = pickle.load(file, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
        raise data.DataFileError(path, f"cannot be read as Nielsen's "
                                       f"mnist.pkl.gz ({error})") from None
    if not (isinstance(loaded, tuple) and len(loaded) == 3):
        raise data.DataFileError(path, "does not hold the three (images, "
                                       "labels) pairs of mnist.pkl.gz")
    checked = []
    for name, part in zip(("training", "validation", "test"), loaded):
        images, labels = (np.asarray(a) for a in part) \
            if isinstance(part, tuple) and len(part) == 2 else (None, None)
        if images is None or images.ndim != 2 or images.shape[1] != 784 \
                or labels.shape != (images.shape[0],):
            raise data.DataFileError(path, f"its {name} data is not an "
                                           f"(images (n, 784), labels (n,)) "
                                           f"pair")
        checked.append((images, labels))
    return tuple(checked)
