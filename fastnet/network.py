"""Chapter 1's network, and the seed's face: a drop-in for the seed's
``network.Network``.

Same constructor, attributes (``sizes``, ``num_layers``, ``weights``,
``biases``), methods, argument order (``SGD(training_data,
mini_batch_size, epochs, eta, test_data=None)``), printed lines and
random streams as the seed (kept as ``fastnet.reference.Network``), so an
existing script changes one import.  The engine (``fastnet.core``) trains
a whole mini-batch as one matrix in compiled code and gives this class
its array API: ``fit``, ``predict``, ``score``.

``Chapter1Network`` holds everything but ``SGD``; the book's own face,
``fastnet.book.network``, adds the book's ``SGD`` to it.
"""

import numpy as np

from . import costs, core
from . import validation as check
from .kernels import sigmoid, sigmoid_prime

__all__ = ["Network", "Chapter1Network", "sigmoid", "sigmoid_prime"]


class Chapter1Network(core.ArrayNetwork):
    """Chapter 1's network without ``SGD``, whose argument order differs
    between the seed (``fastnet.Network``) and the book
    (``fastnet.book.network.Network``): the two faces add theirs.

    A fully connected sigmoid network trained by mini-batch SGD on the
    quadratic cost, as in chapter 1 of Nielsen's book.

    ``Network(sizes)`` draws biases then weights from ``np.random.randn``
    in the seed's order, so after the same ``np.random.seed(s)`` it starts
    bit-identical to ``fastnet.reference.Network(sizes)``.  With
    ``seed=`` (an int or a ``numpy.random.Generator``) it draws from that
    generator instead and leaves the global state alone.

    Attributes, as in the seed: ``sizes`` (neurons per layer, input
    first), ``num_layers``, ``weights`` (list of ``(n_out, n_in)`` arrays)
    and ``biases`` (list of ``(n_out, 1)`` arrays).  They may be replaced
    or edited; every method checks them against ``sizes`` first.
    """

    #: The chapter 1 network's cost.
    _cost_info = costs.COSTS["quadratic"]

    def __init__(self, sizes, *, seed=None):
        self._set_up(sizes)
        self._adopt(core.initial_parameters(self.sizes, seed))

    def _sgd(self, training_data, epochs, mini_batch_size, eta, test_data,
             scored, unscored):
        """The book's ``SGD`` after its arguments are put in order: prints
        ``scored`` (a format of ``j``, ``correct`` and ``total``) after each
        epoch with test data, else ``unscored`` (of ``j``)."""
        mini_batch_size = check.check_count("mini_batch_size",
                                            mini_batch_size, 1)
        epochs = check.check_count("epochs", epochs, 0)
        eta = check.check_rate("eta", eta)
        check.check_network_memory(self.sizes, 8, mini_batch_size)
        if test_data is not None and not isinstance(test_data, list):
            test_data = list(test_data)
        training = core.ListTraining(self, training_data, mini_batch_size,
                                     eta, 0.0, test_data, "test_data")
        try:
            for j in range(epochs):
                training.epoch(j)
                if training.evaluation is not None:
                    print(scored.format(
                        j=j, correct=self._evaluated(training, test_data),
                        total=len(test_data)))
                else:
                    print(unscored.format(j=j))
        finally:
            training.finish()

    def _evaluated(self, training, test_data):
        """The count ``SGD`` prints: through the user's own ``evaluate``
        if they overrode it, as the book's ``SGD`` calls it."""
        if self._overrides("evaluate"):
            return self.evaluate(test_data)
        return training.evaluation_correct()

    def update_mini_batch(self, mini_batch, eta):
        """One gradient-descent step on a list of ``(x, y)`` tuples:
        ``w -> w - (eta / m) * sum of gradients``, likewise ``b``."""
        self._step_on_list(mini_batch, check.check_rate("eta", eta), 0.0, 1)

    def evaluate(self, test_data):
        """Return how many ``(x, label)`` tuples of ``test_data`` the network
        classifies correctly (the most activated output neuron is its
        answer)."""
        parameters = self._parameters()
        test_data = check.pairs("test_data", test_data)
        return self._count_correct(
            parameters,
            *core.stack_labelled("test_data", test_data, self.sizes))

    def _book_step(self, mini_batch, eta, lmbda, n):
        self.update_mini_batch(mini_batch, eta)

    def _custom_output_error(self):
        if not self._overrides("cost_derivative"):
            return None, ""

        def delta(z, a, y):
            return self.cost_derivative(a, y) * sigmoid_prime(z)
        return delta, "it overrides cost_derivative"

    def cost_derivative(self, output_activations, y):
        """Return dC_x/da = a - y for the quadratic cost."""
        a, y = np.asarray(output_activations), np.asarray(y)
        if a.shape != y.shape:
            raise ValueError(f"output_activations has shape {a.shape} but y "
                             f"has shape {y.shape}")
        return a - y


class Network(Chapter1Network):
    """The seed's chapter 1 network: ``SGD(training_data, mini_batch_size,
    epochs, eta, test_data=None)``, printing ``Epoch j : correct / total``.
    (The book's order, epochs first, is ``fastnet.book.network``.)
    """

    def SGD(self, training_data, mini_batch_size, epochs, eta,
            test_data=None):
        """Train by mini-batch stochastic gradient descent, as the seed.

        ``training_data`` is a list (or zip) of ``(x, y)`` tuples, ``x`` an
        ``(n_in, 1)`` input, ``y`` the ``(n_out, 1)`` desired output.  Each
        epoch shuffles the samples with ``random.shuffle``, exactly as the
        seed shuffles its list, and takes one step of learning rate
        ``eta`` per consecutive mini-batch of ``mini_batch_size`` (the last
        one shorter when the sizes do not divide).  With ``test_data``, a
        list of ``(x, label)`` tuples, prints ``Epoch j : correct / total``
        after each epoch, else `` Epoch : j complete.``.

        As in the seed, a list passed as ``training_data`` is left in the
        shuffled order.  Everything is checked before training starts."""
        self._sgd(training_data, epochs, mini_batch_size, eta, test_data,
                  scored="Epoch {j} : {correct} / {total}",
                  unscored=" Epoch : {j} complete.")
