"""Per-sample reference implementations: the oracles fastnet is tested against.

``fastnet.reference.Network`` is the seed's ``network.py`` (chapter 1);
``fastnet.reference.network2`` is Nielsen's ``network2.py`` (chapter 3).
"""

from . import network2
from .network import Network, sigmoid, sigmoid_prime

__all__ = ["Network", "network2", "sigmoid", "sigmoid_prime"]
