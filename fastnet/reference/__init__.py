"""Per-sample reference implementations: the oracles fastnet is tested against.

``fastnet.reference.Network`` is the seed's ``network.py`` (chapter 1);
``fastnet.reference.network2`` is Nielsen's ``network2.py`` (chapter 3);
``fastnet.reference.network3`` is chapter 6's ``network3.py`` (convolutional
layers, without Theano), written plainly in NumPy.
"""

from . import network2, network3
from .network import Network, sigmoid, sigmoid_prime

__all__ = ["Network", "network2", "network3", "sigmoid", "sigmoid_prime"]
