"""The seed's face: a drop-in for the seed's ``network.Network``.

Same constructor, attributes (``sizes``, ``num_layers``, ``weights``,
``biases``), methods, argument order (``SGD(training_data,
mini_batch_size, epochs, eta, test_data=None)``), printed lines and
random streams as the seed (kept as ``fastnet.reference.Network``), so an
existing script changes one import.  The engine (``fastnet.core``) trains
a whole mini-batch as one matrix in compiled code and gives this class
its array API: ``fit``, ``predict``, ``score``.
"""

import numpy as np

from . import costs, core
from . import validation as check
from .kernels import sigmoid, sigmoid_prime

__all__ = ["Network", "sigmoid", "sigmoid_prime"]


class Network(core.ArrayNetwork):
    """A fully connected sigmoid network trained by mini-batch SGD on the
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
        normal = core.normal_sampler(seed)
        biases = [normal(y, 1) for y in self.sizes[1:]]
        weights = [normal(y, x)
                   for x, y in zip(self.sizes[:-1], self.sizes[1:])]
        self._adopt(core.Parameters.pack(self.sizes, weights, biases))

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
        mini_batch_size = check.check_count("mini_batch_size",
                                            mini_batch_size, 1)
        epochs = check.check_count("epochs", epochs, 0)
        eta = check.check_rate("eta", eta)
        training = core.ListTraining(self, training_data, mini_batch_size,
                                     eta, 0.0, test_data, "test_data")
        try:
            for j in range(epochs):
                training.epoch()
                if training.evaluation is not None:
                    print(f"Epoch {j} : {training.evaluation_correct()} / "
                          f"{len(training.evaluation[1])}")
                else:
                    print(f" Epoch : {j} complete.")
        finally:
            training.finish()

    def update_mini_batch(self, mini_batch, eta):
        """One gradient-descent step on a list of ``(x, y)`` tuples:
        ``w -> w - (eta / m) * sum of gradients``, likewise ``b``."""
        self._step_on_list(mini_batch, check.check_rate("eta", eta), 1.0)

    def evaluate(self, test_data):
        """Return how many ``(x, label)`` tuples of ``test_data`` the network
        classifies correctly (the most activated output neuron is its
        answer)."""
        parameters = self._parameters()
        test_data = check.pairs("test_data", test_data)
        return core.count_correct(
            parameters.net,
            *core.stack_labelled("test_data", test_data, self.sizes))

    def cost_derivative(self, output_activations, y):
        """Return dC_x/da = a - y for the quadratic cost."""
        a, y = np.asarray(output_activations), np.asarray(y)
        if a.shape != y.shape:
            raise ValueError(f"output_activations has shape {a.shape} but y "
                             f"has shape {y.shape}")
        return a - y
