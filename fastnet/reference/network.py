"""The per-sample network of the seed ``network.py``: the oracle.

A sigmoid network trained by mini-batch stochastic gradient descent,
one training example at a time, exactly as in Michael Nielsen's book
(chapter 1) and the seed this project started from.  Every fast path in
fastnet is tested against this module, so it stays slow and obvious on
purpose: no vectorisation over samples, no input checking beyond what
Python 3 needs.

Conventions, as in the book: an input ``x`` is an ``(n_in, 1)`` column
vector, a desired output ``y`` an ``(n_out, 1)`` column vector, and layer
``l`` computes ``a' = sigmoid(w a + b)``.

The only changes from the seed are the ones Python 3 forces: data given
as a ``zip`` (or any iterable) is turned into a list, since the seed calls
``len()`` and slices it.  A list given to ``SGD`` is shuffled in place,
as the seed does.
"""

import random

import numpy as np


class Network:

    def __init__(self, sizes):
        """``sizes`` holds the number of neurons in each layer, input
        layer first: ``[784, 30, 10]`` is a network with 784 inputs, one
        hidden layer of 30 neurons and 10 outputs.  Biases and weights
        are drawn from a standard normal distribution with
        ``np.random.randn``: all the biases first, then all the weights,
        layer by layer.  The input layer has no biases."""
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x)
                        for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        """Return the output of the network for the input column ``a``."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def SGD(self, training_data, mini_batch_size, epochs, eta,
            test_data=None):
        """Train by mini-batch stochastic gradient descent.

        ``training_data`` is a list of ``(x, y)`` tuples.  Each epoch
        shuffles it with ``random.shuffle`` and cuts it into consecutive
        mini-batches of ``mini_batch_size`` (the last one shorter when
        the sizes do not divide), and takes one gradient step of
        learning rate ``eta`` per mini-batch.  If ``test_data`` (a list
        of ``(x, label)`` tuples) is given, the number of correctly
        classified test inputs is printed after each epoch.  Note the
        seed's argument order: ``mini_batch_size`` before ``epochs``."""
        if not isinstance(training_data, list):
            training_data = list(training_data)
        if test_data is not None and not isinstance(test_data, list):
            test_data = list(test_data)
        if test_data:
            n_test = len(test_data)
        n = len(training_data)
        for j in range(epochs):
            random.shuffle(training_data)
            mini_batches = [training_data[k:k + mini_batch_size]
                            for k in range(0, n, mini_batch_size)]
            for mini_batch in mini_batches:
                self.update_mini_batch(mini_batch, eta)
            if test_data:
                print(f"Epoch {j} : {self.evaluate(test_data)} / {n_test}")
            else:
                print(f" Epoch : {j} complete.")

    def update_mini_batch(self, mini_batch, eta):
        """Take one gradient-descent step on one mini-batch:

            w -> w - (eta / m) sum_x dC_x/dw,   b -> b - (eta / m) sum_x dC_x/db

        where ``m = len(mini_batch)`` and the gradients of each example's
        cost come from ``backprop``, summed one example at a time."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb
                       for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        """Return ``(nabla_b, nabla_w)``, the gradient of the quadratic
        cost ``C_x = |a - y|^2 / 2`` of one example, layer by layer, shaped
        like ``self.biases`` and ``self.weights``.

        The four equations of backpropagation (book, chapter 2):

            delta^L = (a^L - y) * sigmoid'(z^L)
            delta^l = (w^{l+1}^T delta^{l+1}) * sigmoid'(z^l)
            dC/db^l = delta^l
            dC/dw^l = delta^l a^{l-1}^T
        """
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        # Forward pass, keeping every weighted input z and activation a.
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        # Backward pass.  Here l = 1 is the last layer, l = 2 the one
        # before it, and so on, to use Python's negative indices.
        delta = self.cost_derivative(activations[-1], y) * \
            sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)

    def evaluate(self, test_data):
        """Return how many test inputs the network classifies correctly:
        the network's answer is the index of its most activated output
        neuron."""
        test_results = [(np.argmax(self.feedforward(x)), y)
                        for (x, y) in test_data]
        return sum(int(x == y) for (x, y) in test_results)

    def cost_derivative(self, output_activations, y):
        """Return the vector of partial derivatives dC_x/da of the
        quadratic cost for the output activations."""
        return (output_activations - y)


def sigmoid(z):
    """The sigmoid function, 1 / (1 + e^-z)."""
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """Derivative of the sigmoid function: sigmoid(z) (1 - sigmoid(z))."""
    return sigmoid(z) * (1 - sigmoid(z))
