"""The book's own modules, for scripts written against Nielsen's code.

A script from the book (or its repository, or a Python 3 port of it)
changes only its imports::

    from fastnet.book import network          # was: import network
    from fastnet.book import network2         # was: import network2
    from fastnet.book import mnist_loader     # was: import mnist_loader

``network.Network.SGD`` takes the book's order, ``SGD(training_data,
epochs, mini_batch_size, eta, test_data=None)``, and prints the book's
lines; ``fastnet.Network`` keeps the seed's order (mini_batch_size
first).  ``network2`` and ``mnist_loader`` are ``fastnet.network2`` and
``fastnet.mnist_loader``, whose APIs already are the book's.
"""

from . import mnist_loader, network, network2

__all__ = ["network", "network2", "mnist_loader"]
