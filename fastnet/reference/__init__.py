"""Per-sample reference implementations: the oracles fastnet is tested against.

``fastnet.reference.Network`` is the seed's ``network.py``.
"""

from .network import Network, sigmoid, sigmoid_prime

__all__ = ["Network", "sigmoid", "sigmoid_prime"]
