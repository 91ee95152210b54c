"""fastnet: Nielsen's MNIST network, vectorised, compiled and proven equal.

``fastnet.Network`` is a drop-in for the ``Network`` of ``network.py``
(same constructor, attributes, methods and random streams) that trains a
whole mini-batch as one matrix in Numba-compiled code.
``fastnet.reference`` keeps the per-sample originals as oracles.
"""

from .network import Network

__version__ = "0.1.0"

__all__ = ["Network", "__version__"]
