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

__version__ = "0.1.0"

from .data import load_mnist, one_hot, to_columns  # noqa: E402
from .kernels import sigmoid, sigmoid_prime  # noqa: E402
from .network import Network  # noqa: E402

__all__ = ["Network", "load_mnist", "one_hot", "to_columns", "sigmoid",
           "sigmoid_prime", "__version__"]
