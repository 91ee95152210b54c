"""The per-sample ``network2.py`` of Nielsen's book (chapter 3): the oracle.

The improved network: a choice of cost function (quadratic or
cross-entropy), L2 regularisation, weights initialised with standard
deviation 1/sqrt(n_in), monitoring of cost and accuracy, and saving to
JSON.  As in ``fastnet.reference.network``, examples are handled one at a
time and nothing is checked: this is what ``fastnet.network2`` is tested
against.  Python 3 changes only: ``print()``, ``range``, and data given as
a ``zip`` is turned into a list.

Note the argument order of ``SGD``: epochs before mini_batch_size (the
reverse of the chapter 1 network).
"""

import json
import random
import sys

import numpy as np

from .network import sigmoid, sigmoid_prime


class QuadraticCost:

    @staticmethod
    def fn(a, y):
        """The cost |a - y|^2 / 2 of an output ``a`` with desired output
        ``y``."""
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        """The error delta^L = (a - y) sigmoid'(z) of the output layer."""
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:

    @staticmethod
    def fn(a, y):
        """The cost -sum(y ln a + (1 - y) ln(1 - a)).  ``np.nan_to_num``
        makes 0 ln 0 (an output of exactly 0 or 1 where the target agrees)
        count as 0, and an output of exactly 0 or 1 where it disagrees
        count as the largest float instead of infinity."""
        return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        """The error delta^L = a - y of the output layer: with this cost
        the sigmoid'(z) factor cancels, so ``z`` is unused."""
        return (a - y)


class Network:

    def __init__(self, sizes, cost=CrossEntropyCost):
        """``sizes`` holds the number of neurons per layer, input first;
        ``cost`` is ``QuadraticCost`` or ``CrossEntropyCost``.  Weights and
        biases come from ``default_weight_initializer``."""
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.default_weight_initializer()
        self.cost = cost

    def default_weight_initializer(self):
        """Biases from N(0, 1); each weight from N(0, 1/n_in), n_in being
        the number of inputs to its neuron, so that weighted inputs start
        small and neurons do not start saturated.  Biases are drawn first,
        then weights, with ``np.random.randn``."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x) / np.sqrt(x)
                        for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def large_weight_initializer(self):
        """Biases and weights from N(0, 1), as the chapter 1 network."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x)
                        for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def feedforward(self, a):
        """Return the output of the network for the input column ``a``."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def SGD(self, training_data, epochs, mini_batch_size, eta,
            lmbda=0.0,
            evaluation_data=None,
            monitor_evaluation_cost=False,
            monitor_evaluation_accuracy=False,
            monitor_training_cost=False,
            monitor_training_accuracy=False):
        """Train by mini-batch stochastic gradient descent with L2
        regularisation parameter ``lmbda``.  ``training_data`` is a list of
        ``(x, y)`` tuples; ``evaluation_data`` (validation or test data) a
        list of ``(x, label)``.  The flags choose what is measured after
        each epoch; returns the four lists (evaluation cost, evaluation
        accuracy, training cost, training accuracy), empty where not
        monitored."""
        if not isinstance(training_data, list):
            training_data = list(training_data)
        if evaluation_data is not None and \
                not isinstance(evaluation_data, list):
            evaluation_data = list(evaluation_data)
        if evaluation_data:
            n_data = len(evaluation_data)
        n = len(training_data)
        evaluation_cost, evaluation_accuracy = [], []
        training_cost, training_accuracy = [], []
        for j in range(epochs):
            random.shuffle(training_data)
            mini_batches = [training_data[k:k + mini_batch_size]
                            for k in range(0, n, mini_batch_size)]
            for mini_batch in mini_batches:
                self.update_mini_batch(mini_batch, eta, lmbda,
                                       len(training_data))
            print("Epoch %s training complete" % j)
            if monitor_training_cost:
                cost = self.total_cost(training_data, lmbda)
                training_cost.append(cost)
                print("Cost on training data: {}".format(cost))
            if monitor_training_accuracy:
                accuracy = self.accuracy(training_data, convert=True)
                training_accuracy.append(accuracy)
                print("Accuracy on training data: {} / {}".format(
                    accuracy, n))
            if monitor_evaluation_cost:
                cost = self.total_cost(evaluation_data, lmbda, convert=True)
                evaluation_cost.append(cost)
                print("Cost on evaluation data: {}".format(cost))
            if monitor_evaluation_accuracy:
                accuracy = self.accuracy(evaluation_data)
                evaluation_accuracy.append(accuracy)
                print("Accuracy on evaluation data: {} / {}".format(
                    self.accuracy(evaluation_data), n_data))
            print()
        return evaluation_cost, evaluation_accuracy, \
            training_cost, training_accuracy

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One step on ``mini_batch`` with weight decay:

            w -> (1 - eta lmbda / n) w - (eta / m) sum_x dC_x/dw
            b -> b - (eta / m) sum_x dC_x/db

        ``n`` is the size of the whole training set, ``m`` of the batch."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [(1 - eta * (lmbda / n)) * w -
                        (eta / len(mini_batch)) * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb
                       for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        """Return ``(nabla_b, nabla_w)``, the gradient of the cost of one
        example, layer by layer.  As in chapter 2, except that the output
        error comes from the cost's ``delta``."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (self.cost).delta(zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)

    def accuracy(self, data, convert=False):
        """How many inputs of ``data`` the network classifies correctly.
        ``convert=True`` for training data, whose ``y`` are one-hot vectors;
        ``False`` for validation or test data, whose ``y`` are labels."""
        if convert:
            results = [(np.argmax(self.feedforward(x)), np.argmax(y))
                       for (x, y) in data]
        else:
            results = [(np.argmax(self.feedforward(x)), y)
                       for (x, y) in data]
        return sum(int(x == y) for (x, y) in results)

    def total_cost(self, data, lmbda, convert=False):
        """The mean cost over ``data`` plus the L2 term
        lmbda / (2 n) sum w^2.  ``convert=True`` for validation or test
        data, whose labels must become one-hot vectors (the reverse of
        ``accuracy``'s convention)."""
        cost = 0.0
        for x, y in data:
            a = self.feedforward(x)
            if convert:
                y = vectorized_result(y)
            cost += self.cost.fn(a, y) / len(data)
        cost += 0.5 * (lmbda / len(data)) * sum(
            np.linalg.norm(w) ** 2 for w in self.weights)
        return cost

    def save(self, filename):
        """Save sizes, weights, biases and the cost's name as JSON."""
        data = {"sizes": self.sizes,
                "weights": [w.tolist() for w in self.weights],
                "biases": [b.tolist() for b in self.biases],
                "cost": str(self.cost.__name__)}
        with open(filename, "w") as f:
            json.dump(data, f)


def load(filename):
    """Load a network saved by ``Network.save``."""
    with open(filename, "r") as f:
        data = json.load(f)
    cost = getattr(sys.modules[__name__], data["cost"])
    net = Network(data["sizes"], cost=cost)
    net.weights = [np.array(w) for w in data["weights"]]
    net.biases = [np.array(b) for b in data["biases"]]
    return net


def vectorized_result(j):
    """A (10, 1) unit vector with 1.0 in position ``j``."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e

