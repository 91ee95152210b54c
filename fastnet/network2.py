"""A fast drop-in for Nielsen's ``network2.py`` (chapter 3 of the book).

The improved network: quadratic or cross-entropy cost, L2 regularisation
(weight decay), weights initialised with standard deviation 1/sqrt(n_in),
cost and accuracy monitoring, and network2's JSON files.  Same API,
argument order, printed lines and random streams as ``network2.py``
(kept as ``fastnet.reference.network2``); trained by the same compiled
kernels as ``fastnet.Network``, which this class extends.

Beyond network2, and off by default: ``SGD(..., early_stopping_n=N)``
stops when the evaluation accuracy has not improved for N epochs, and
``halve_eta_n=N`` halves eta each time it has not improved for N epochs
and stops when eta would drop to 1/2**``max_eta_halvings`` of its start
(1/128 by default, as the book's chapter 3 suggests).
"""

import json

import numpy as np

from . import kernels
from . import validation as check
from .files import atomic_write
from .kernels import sigmoid, sigmoid_prime
from .mnist_loader import vectorized_result
from .network import Network as _Network
from .network import _count_correct, _generator, _leave_shuffled, \
    _normal_sampler, _train_epoch
from .shuffle import shuffle

__all__ = ["QuadraticCost", "CrossEntropyCost", "Network", "load",
           "vectorized_result", "sigmoid", "sigmoid_prime"]


class QuadraticCost:
    """C = |a - y|^2 / 2."""

    kernel = kernels.QUADRATIC

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` with desired output ``y``; for
        ``(n_out, m)`` matrices of samples as columns, the sum over them."""
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        """Output error delta^L = (a - y) sigmoid'(z)."""
        return (a - y) * sigmoid_prime(z)

    @staticmethod
    def per_sample(A, Y):
        """The cost of each row of ``A`` (m, n_out) against ``Y``: (m,)."""
        return 0.5 * np.linalg.norm(A - Y, axis=1) ** 2


class CrossEntropyCost:
    """C = -sum(y ln a + (1 - y) ln(1 - a))."""

    kernel = kernels.CROSS_ENTROPY

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` with desired output ``y`` (summed over
        columns for matrices).  As in network2, ``np.nan_to_num`` counts
        0 ln 0 as 0 (an output of exactly 0 or 1 that matches its target)
        and an infinite term (an output of exactly 0 or 1 that does not)
        as the largest float."""
        with np.errstate(over="ignore"):  # several such terms sum to inf
            return np.sum(CrossEntropyCost._terms(a, y))

    @staticmethod
    def delta(z, a, y):
        """Output error delta^L = a - y (the sigmoid'(z) factor cancels)."""
        return (a - y)

    @staticmethod
    def per_sample(A, Y):
        """The cost of each row of ``A`` (m, n_out) against ``Y``: (m,)."""
        with np.errstate(over="ignore"):
            return np.sum(CrossEntropyCost._terms(A, Y), axis=1)

    @staticmethod
    def _terms(a, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a))


#: Cost classes by the name network2's JSON files store.
COSTS = {cost.__name__: cost for cost in (QuadraticCost, CrossEntropyCost)}


class Network(_Network):
    """Nielsen's improved network, compiled.

    ``Network(sizes, cost=CrossEntropyCost)`` initialises biases from
    N(0, 1) and weights from N(0, 1/n_in) with ``np.random.randn`` in
    network2's order (or from ``seed=``, an int or Generator).  ``cost``
    is ``QuadraticCost`` or ``CrossEntropyCost``.  Everything of
    ``fastnet.Network`` is here too (``feedforward``, ``backprop`` and
    ``fit`` on matrices, ``predict``, ``score``), with this cost.
    """

    def __init__(self, sizes, cost=CrossEntropyCost, *, seed=None):
        self.sizes = check.check_sizes(sizes)
        self.num_layers = len(self.sizes)
        _cost_class(cost)
        self._rng = None if seed is None else _generator(seed)
        self.default_weight_initializer()
        self.cost = cost

    def __repr__(self):
        return (f"{type(self).__module__}.{type(self).__name__}"
                f"({self.sizes!r}, cost={_cost_class(self.cost).__name__})")

    @property
    def _cost_kernel(self):
        return _cost_class(self.cost).kernel

    def default_weight_initializer(self):
        """Biases from N(0, 1), weights from N(0, 1/n_in): biases first."""
        normal = _normal_sampler(self._rng)
        self.biases = [normal(y, 1) for y in self.sizes[1:]]
        self.weights = [normal(y, x) / np.sqrt(x)
                        for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def large_weight_initializer(self):
        """Biases and weights from N(0, 1), as the chapter 1 network."""
        normal = _normal_sampler(self._rng)
        self.biases = [normal(y, 1) for y in self.sizes[1:]]
        self.weights = [normal(y, x)
                        for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0,
            evaluation_data=None, monitor_evaluation_cost=False,
            monitor_evaluation_accuracy=False, monitor_training_cost=False,
            monitor_training_accuracy=False, *, early_stopping_n=0,
            halve_eta_n=0, max_eta_halvings=7):
        """Mini-batch SGD with L2 regularisation, as network2's: note
        ``epochs`` before ``mini_batch_size``.  Shuffles with
        ``random.shuffle``'s stream, prints network2's lines and returns
        its four lists (evaluation cost, evaluation accuracy, training
        cost, training accuracy), empty where not monitored.

        ``early_stopping_n`` and ``halve_eta_n`` (see the module docstring)
        need ``evaluation_data``; both are off (0) by default.  As in the
        chapter 1 network, a list passed as ``training_data`` is left in
        its shuffled order."""
        epochs = check.check_count("epochs", epochs, 0)
        mini_batch_size = check.check_count("mini_batch_size",
                                            mini_batch_size, 1)
        eta = check.check_rate("eta", eta)
        lmbda = check.check_rate("lmbda", lmbda, allow_zero=True)
        early_stopping_n = check.check_count("early_stopping_n",
                                             early_stopping_n, 0)
        halve_eta_n = check.check_count("halve_eta_n", halve_eta_n, 0)
        max_eta_halvings = check.check_count("max_eta_halvings",
                                             max_eta_halvings, 1)
        sizes, params = self._parameters()
        samples = check.pairs("training_data", training_data)
        X, Y = self._stack_examples("training_data", samples, params.dtype)
        if evaluation_data is not None and \
                not isinstance(evaluation_data, list):
            evaluation_data = list(evaluation_data)
        evaluation = None
        if evaluation_data:
            evaluation_data = check.pairs("evaluation_data", evaluation_data)
            evaluation = self._stack_labelled("evaluation_data",
                                              evaluation_data)
        for flag, value in (("monitor_evaluation_cost",
                             monitor_evaluation_cost),
                            ("monitor_evaluation_accuracy",
                             monitor_evaluation_accuracy),
                            ("early_stopping_n", early_stopping_n),
                            ("halve_eta_n", halve_eta_n)):
            if value and evaluation is None:
                raise ValueError(f"{flag} needs evaluation_data")
        n = len(samples)
        training_labels = np.argmax(Y, axis=1)
        evaluation_cost, evaluation_accuracy = [], []
        training_cost, training_accuracy = [], []
        watch = _Stall(early_stopping_n, halve_eta_n, max_eta_halvings)
        positions = np.arange(n)
        for j in range(epochs):
            shuffle(positions)
            _train_epoch(X, Y, positions, params, sizes, mini_batch_size,
                         eta, 1 - eta * (lmbda / n), self._cost_kernel)
            self._store(sizes, params)
            print("Epoch %s training complete" % j)
            if monitor_training_cost:
                cost = self._total_cost(params, sizes, X, Y, lmbda)
                training_cost.append(cost)
                print("Cost on training data: {}".format(cost))
            if monitor_training_accuracy:
                accuracy = _count_correct(params, sizes, X, training_labels)
                training_accuracy.append(accuracy)
                print("Accuracy on training data: {} / {}".format(
                    accuracy, n))
            if monitor_evaluation_cost:
                cost = self._total_cost(params, sizes, evaluation[0],
                                        self._one_hot(evaluation[1]), lmbda)
                evaluation_cost.append(cost)
                print("Cost on evaluation data: {}".format(cost))
            accuracy = None
            if evaluation is not None and (monitor_evaluation_accuracy or
                                           early_stopping_n or halve_eta_n):
                accuracy = _count_correct(params, sizes, *evaluation)
            if monitor_evaluation_accuracy:
                evaluation_accuracy.append(accuracy)
                print("Accuracy on evaluation data: {} / {}".format(
                    accuracy, len(evaluation_data)))
            print()
            if accuracy is not None:
                verdict = watch.after_epoch(accuracy)
                if verdict == "halve":
                    eta /= 2
                    print(f"Halving eta to {eta} (no improvement in "
                          f"{halve_eta_n} epochs)")
                elif verdict == "stop":
                    print(f"Stopping early after epoch {j}: {watch.reason}")
                    break
        _leave_shuffled(training_data, samples, positions)
        return evaluation_cost, evaluation_accuracy, \
            training_cost, training_accuracy

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One step on a list of ``(x, y)`` tuples with weight decay:
        ``w -> (1 - eta * lmbda / n) * w - (eta / m) * sum of gradients``,
        ``n`` being the size of the whole training set."""
        eta = check.check_rate("eta", eta)
        lmbda = check.check_rate("lmbda", lmbda, allow_zero=True)
        n = check.check_count("n", n, 1)
        sizes, params = self._parameters()
        batch = check.pairs("mini_batch", mini_batch)
        X, Y = self._stack_examples("mini_batch", batch, params.dtype)
        m = len(batch)
        kernels.train_batches(X, Y, np.arange(m), params, sizes, m, eta,
                              1 - eta * (lmbda / n), self._cost_kernel, 0, 1)
        self._store(sizes, params)

    def accuracy(self, data, convert=False):
        """How many inputs of ``data`` are classified correctly.
        ``convert=True`` when the ``y`` are one-hot vectors (training
        data), ``False`` when they are labels (validation or test data)."""
        sizes, params = self._parameters()
        data = check.pairs("data", data)
        if convert:
            X, Y = self._stack_examples("data", data, params.dtype)
            labels = np.argmax(Y, axis=1)
        else:
            X, labels = self._stack_labelled("data", data)
        return _count_correct(params, sizes, X, labels)

    def total_cost(self, data, lmbda, convert=False):
        """Mean cost over ``data`` plus lmbda / (2 n) times the sum of the
        squared weights.  ``convert=True`` when the ``y`` are labels
        (validation or test data), ``False`` when they are vectors."""
        lmbda = check.check_rate("lmbda", lmbda, allow_zero=True)
        sizes, params = self._parameters()
        data = check.pairs("data", data)
        if convert:
            X, labels = self._stack_labelled("data", data)
            Y = self._one_hot(labels)
        else:
            X, Y = self._stack_examples("data", data, params.dtype)
        return self._total_cost(params, sizes, X, Y, lmbda)

    def save(self, filename):
        """Write network2's JSON: sizes, weights, biases and the cost's
        name (atomically)."""
        self._parameters()
        document = {"sizes": list(self.sizes),
                    "weights": [np.asarray(w).tolist() for w in self.weights],
                    "biases": [np.asarray(b).tolist() for b in self.biases],
                    "cost": _cost_class(self.cost).__name__}
        with atomic_write(filename, "w") as file:
            json.dump(document, file)

    def _total_cost(self, params, sizes, X, Y, lmbda):
        """Cost of rows ``X`` against rows ``Y``, plus the L2 term."""
        outputs = kernels.feedforward(params, sizes, X)
        n = X.shape[0]
        costs = _cost_class(self.cost).per_sample(outputs, Y)
        return float(np.sum(costs / n)) + 0.5 * (lmbda / n) * sum(
            np.linalg.norm(w) ** 2 for w in self.weights)

    def _one_hot(self, labels):
        return np.eye(self.sizes[-1])[labels]


def load(filename):
    """A network from network2's JSON file (written by this module or by
    Nielsen's).  Like network2's ``load`` it builds ``Network(sizes)``
    first, drawing its initial weights, then replaces them."""
    try:
        with open(filename) as file:
            document = json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f"{filename}: not a network2 JSON file "
                         f"({error})") from None
    if not isinstance(document, dict) or not {"sizes", "weights", "biases",
                                              "cost"} <= set(document):
        raise ValueError(f"{filename}: a network2 file holds sizes, "
                         f"weights, biases and cost")
    if document["cost"] not in COSTS:
        raise ValueError(f"{filename}: unknown cost {document['cost']!r}; "
                         f"expected one of {sorted(COSTS)}")
    try:
        network = Network(document["sizes"], cost=COSTS[document["cost"]])
        network.weights = [np.array(w, dtype=np.float64)
                           for w in document["weights"]]
        network.biases = [np.array(b, dtype=np.float64)
                          for b in document["biases"]]
        network._parameters()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{filename}: {error}") from None
    return network


def _cost_class(cost):
    """``QuadraticCost`` or ``CrossEntropyCost`` for ``cost``: one of them,
    an instance, or a class of the same name (such as network2's own)."""
    for candidate in (cost, type(cost)):
        name = getattr(candidate, "__name__", None)
        if name in COSTS:
            return COSTS[name]
    raise TypeError(f"cost must be QuadraticCost or CrossEntropyCost, got "
                    f"{cost!r}")


class _Stall:
    """Early stopping and eta halving: counts epochs since the best
    evaluation accuracy so far."""

    def __init__(self, stop_after, halve_after, max_halvings):
        self.stop_after, self.halve_after = stop_after, halve_after
        self.max_halvings, self.halvings = max_halvings, 0
        self.best, self.since_best = None, 0
        self.reason = ""

    def after_epoch(self, accuracy):
        """"stop", "halve" or "go on"."""
        if self.best is None or accuracy > self.best:
            self.best, self.since_best = accuracy, 0
            return "go on"
        self.since_best += 1
        if self.stop_after and self.since_best >= self.stop_after:
            self.reason = (f"no improvement in evaluation accuracy for "
                           f"{self.stop_after} epochs")
            return "stop"
        if self.halve_after and self.since_best >= self.halve_after:
            self.halvings += 1
            self.since_best = 0
            if self.halvings == self.max_halvings:
                self.reason = (f"eta would drop to 1/{2 ** self.halvings} "
                               f"of its start")
                return "stop"
            return "halve"
        return "go on"
