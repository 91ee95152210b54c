"""fastnet: Nielsen's MNIST network, vectorised, compiled and proven equal.

``fastnet.Network`` is a drop-in for the seed's ``Network`` (same
constructor, attributes, methods, argument order and random streams) that
trains a whole mini-batch as one matrix in Numba-compiled code; the
book's own modules, with the book's argument order, are in
``fastnet.book``.
``fastnet.reference`` keeps the per-sample originals as oracles;
``fastnet.load_mnist`` and ``fastnet.mnist_loader`` read the shipped,
checksummed MNIST files.
"""

import importlib

__version__ = "0.1.0"

# The public names, imported on first use: ``import fastnet`` itself
# loads nothing heavy, so that the ``fastnet`` command can answer Ctrl-C
# while NumPy and Numba are still loading (see ``fastnet.launch``).
_PUBLIC = {"Network": ".network", "load_mnist": ".data", "one_hot": ".data",
           "to_columns": ".data", "sigmoid": ".kernels",
           "sigmoid_prime": ".kernels"}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__),
                        name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastnet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
