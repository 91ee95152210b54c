"""fastnet: Nielsen's MNIST network, vectorised, compiled and proven equal.

``fastnet.Network`` is a drop-in for the ``Network`` of ``network.py``
(same constructor, attributes, methods and random streams) that trains a
whole mini-batch as one matrix in Numba-compiled code.
``fastnet.reference`` keeps the per-sample originals as oracles;
``fastnet.load_mnist`` and ``fastnet.mnist_loader`` read the shipped,
checksummed MNIST files.
"""

from .data import load_mnist, one_hot, to_columns
from .network import Network

__version__ = "0.1.0"

__all__ = ["Network", "load_mnist", "one_hot", "to_columns", "__version__"]
