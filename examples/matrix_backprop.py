"""Chapter 2's problem, solved: backpropagation on a whole mini-batch.

Nielsen's network (here fastnet's per-sample oracle,
``fastnet.reference.Network``) loops over a mini-batch one sample at a
time.  This subclass stacks the mini-batch into matrices with one sample
per column and runs backpropagation on all of them at once.  Check it:

    fastnet check examples/matrix_backprop.py:Network --order seed

(``--order seed``: the oracle's ``SGD`` takes ``mini_batch_size`` before
``epochs``.)  ``examples/wrong_backprop.py`` is the same with one
transpose missing.
"""

import numpy as np

from fastnet.reference import Network as PerSampleNetwork
from fastnet.reference import sigmoid, sigmoid_prime


class Network(PerSampleNetwork):

    def update_mini_batch(self, mini_batch, eta):
        """One step on the whole mini-batch: its inputs and targets become
        the columns of ``X (n_in, m)`` and ``Y (n_out, m)``."""
        X = np.hstack([x for x, _ in mini_batch])
        Y = np.hstack([y for _, y in mini_batch])
        nabla_b, nabla_w = self.backprop(X, Y)
        step = eta / len(mini_batch)
        self.weights = [w - step * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - step * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, X, Y):
        """The gradient of the quadratic cost summed over the columns of
        ``X`` and ``Y``: the four equations of chapter 2 with one column
        per sample, the bias gradients summed along the rows."""
        activations, zs = [X], []
        for b, w in zip(self.biases, self.weights):
            zs.append(w @ activations[-1] + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - Y) * sigmoid_prime(zs[-1])
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        for l in range(1, self.num_layers):
            if l > 1:
                delta = (self.weights[-l + 1].T @ delta) * \
                    sigmoid_prime(zs[-l])
            nabla_b[-l] = delta.sum(axis=1, keepdims=True)
            nabla_w[-l] = delta @ activations[-l - 1].T
        return nabla_b, nabla_w
