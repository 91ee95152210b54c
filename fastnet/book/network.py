"""The book's ``network.py`` (chapter 1), compiled.

``Network(sizes)`` with the book's ``SGD(training_data, epochs,
mini_batch_size, eta, test_data=None)`` (epochs first) and printed lines
(``Epoch 0: 9129 / 10000``, ``Epoch 0 complete``), and the module-level
``sigmoid`` and ``sigmoid_prime``.  Everything else (``feedforward``,
``update_mini_batch``, ``backprop``, ``evaluate``, ``cost_derivative``,
the random streams, the array API) is ``fastnet.network.Chapter1Network``,
shared with the seed's face ``fastnet.Network``.
"""

from ..network import Chapter1Network
from ..kernels import sigmoid, sigmoid_prime

__all__ = ["Network", "sigmoid", "sigmoid_prime"]


class Network(Chapter1Network):
    """Chapter 1's network with the book's ``SGD``."""

    def SGD(self, training_data, epochs, mini_batch_size, eta,
            test_data=None):
        """Train by mini-batch stochastic gradient descent, as the book:
        note ``epochs`` before ``mini_batch_size``.

        ``training_data`` is a list (or zip) of ``(x, y)`` tuples, shuffled
        each epoch with ``random.shuffle``'s stream (a list is left in its
        shuffled order, as the book's in-place shuffle leaves it) and cut
        into mini-batches.  With ``test_data``, a list of ``(x, label)``
        tuples, prints ``Epoch j: correct / total`` after each epoch, else
        ``Epoch j complete``.  Everything is checked before training
        starts."""
        self._sgd(training_data, epochs, mini_batch_size, eta, test_data,
                  scored="Epoch {j}: {correct} / {total}",
                  unscored="Epoch {j} complete")
