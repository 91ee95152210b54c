"""A fast drop-in for Nielsen's ``network2.py`` (chapter 3 of the book).

The improved network: quadratic or cross-entropy cost, L2 regularisation
(weight decay), weights initialised with standard deviation 1/sqrt(n_in),
cost and accuracy monitoring, and network2's JSON files.  Same API,
argument order, printed lines and random streams as ``network2.py``
(kept as ``fastnet.reference.network2``); a face, like ``fastnet.Network``,
over the engine in ``fastnet.core``.

Beyond network2, and off by default: ``SGD(..., early_stopping_n=N)``
stops when the evaluation accuracy has not improved for N epochs, and
``halve_eta_n=N`` halves eta each time it has not improved for N epochs
and stops when eta would drop to 1/2**``max_eta_halvings`` of its start
(1/128 by default, as the book's chapter 3 suggests).
"""

import json

import numpy as np

from . import core, costs
from . import validation as check
from .costs import CrossEntropyCost, QuadraticCost
from .files import FileFormatError, atomic_write, read_regular_file
from .kernels import sigmoid, sigmoid_prime
from .mnist_loader import vectorized_result

__all__ = ["QuadraticCost", "CrossEntropyCost", "Network", "load",
           "vectorized_result", "sigmoid", "sigmoid_prime"]

#: Cost classes by the name network2's JSON files store.
COSTS = {info.json_name: info.cls for info in costs.COSTS.values()}


class Network(core.ArrayNetwork):
    """Nielsen's improved network, compiled.

    ``Network(sizes, cost=CrossEntropyCost)`` initialises biases from
    N(0, 1) and weights from N(0, 1/n_in) with ``np.random.randn`` in
    network2's order (or from ``seed=``, an int or Generator).  ``cost``
    is ``QuadraticCost`` or ``CrossEntropyCost``.  The engine's array API
    is here too (``feedforward``, ``backprop`` and ``fit`` on matrices,
    ``predict``, ``score``), with this cost.
    """

    def __init__(self, sizes, cost=CrossEntropyCost, *, seed=None):
        self._set_up(sizes, cost)
        self._rng = None if seed is None else core.generator(seed)
        self.default_weight_initializer()

    def _set_up(self, sizes, cost=CrossEntropyCost):
        super()._set_up(sizes)
        self.cost = _checked_cost(cost)
        self._rng = None

    def __repr__(self):
        return (f"{type(self).__module__}.{type(self).__name__}"
                f"({self.sizes!r}, cost={_cost_name(self.cost)})")

    @property
    def _cost_info(self):
        """The built-in cost's ``CostInfo``; None for a user's own cost."""
        return costs.info_of(_checked_cost(self.cost))

    def _custom_output_error(self):
        if self._cost_info is not None:
            return None, ""
        return self.cost.delta, (f"its cost {_cost_name(self.cost)} is not "
                                 f"one of fastnet's")

    def _book_step(self, mini_batch, eta, lmbda, n):
        self.update_mini_batch(mini_batch, eta, lmbda, n)

    def default_weight_initializer(self):
        """Biases from N(0, 1), weights from N(0, 1/n_in): biases first."""
        self._initialize(scaled=True)

    def large_weight_initializer(self):
        """Biases and weights from N(0, 1), as the chapter 1 network."""
        self._initialize(scaled=False)

    def _initialize(self, scaled):
        self._adopt(core.initial_parameters(self.sizes, self._rng, scaled))

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
        watch = _Stall(check.check_count("early_stopping_n",
                                         early_stopping_n, 0),
                       check.check_count("halve_eta_n", halve_eta_n, 0),
                       check.check_count("max_eta_halvings",
                                         max_eta_halvings, 1))
        check.check_network_memory(self.sizes, 8, mini_batch_size)
        if evaluation_data is not None and \
                not isinstance(evaluation_data, list):
            evaluation_data = list(evaluation_data)
        training = core.ListTraining(self, training_data, mini_batch_size,
                                     eta, lmbda, evaluation_data,
                                     "evaluation_data")
        for flag, value in (("monitor_evaluation_cost",
                             monitor_evaluation_cost),
                            ("monitor_evaluation_accuracy",
                             monitor_evaluation_accuracy),
                            ("early_stopping_n", early_stopping_n),
                            ("halve_eta_n", halve_eta_n)):
            if value and training.evaluation is None:
                raise ValueError(f"{flag} needs evaluation_data")
        monitors = _Monitors(self, training, evaluation_data, (
            monitor_evaluation_cost,
            monitor_evaluation_accuracy or watch.active,
            monitor_training_cost, monitor_training_accuracy))
        try:
            for j in range(epochs):
                training.epoch(j)
                print("Epoch %s training complete" % j)
                accuracy = monitors.report(monitor_evaluation_accuracy)
                print()
                if accuracy is not None and watch.active and \
                        not self._after_epoch(j, watch, accuracy, training):
                    break
        finally:
            training.finish()
        return monitors.results()

    def _after_epoch(self, j, watch, accuracy, training):
        """Early stopping and eta halving; False to stop."""
        verdict = watch.after_epoch(accuracy)
        if verdict == "halve":
            training.eta /= 2
            print(f"Halving eta to {training.eta} (no improvement in "
                  f"{watch.halve_after} epochs)")
        elif verdict == "stop":
            print(f"Stopping early after epoch {j}: {watch.reason}")
            return False
        return True

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One step on a list of ``(x, y)`` tuples with weight decay:
        ``w -> (1 - eta * lmbda / n) * w - (eta / m) * sum of gradients``,
        ``n`` being the size of the whole training set."""
        eta = check.check_rate("eta", eta)
        lmbda = check.check_rate("lmbda", lmbda, allow_zero=True)
        n = check.check_count("n", n, 1)
        self._step_on_list(mini_batch, eta, lmbda, n)

    def accuracy(self, data, convert=False):
        """How many inputs of ``data`` are classified correctly.
        ``convert=True`` when the ``y`` are one-hot vectors (training
        data), ``False`` when they are labels (validation or test data)."""
        parameters = self._parameters()
        data = check.pairs("data", data)
        if convert:
            X, Y = core.stack_examples("data", data, self.sizes,
                                       parameters.dtype)
            labels = np.argmax(Y, axis=1)
        else:
            X, labels = core.stack_labelled("data", data, self.sizes)
        return self._count_correct(parameters, X, labels)

    def total_cost(self, data, lmbda, convert=False):
        """Mean cost over ``data`` plus lmbda / (2 n) times the sum of the
        squared weights.  ``convert=True`` when the ``y`` are labels
        (validation or test data), ``False`` when they are vectors."""
        lmbda = check.check_rate("lmbda", lmbda, allow_zero=True)
        parameters = self._parameters()
        data = check.pairs("data", data)
        if convert:
            X, labels = core.stack_labelled("data", data, self.sizes)
            Y = self._one_hot(labels)
        else:
            X, Y = core.stack_examples("data", data, self.sizes,
                                       parameters.dtype)
        return self._total_cost(parameters, X, Y, lmbda)

    def save(self, filename):
        """Write network2's JSON: sizes, weights, biases and the cost's
        name (atomically)."""
        _checked_cost(self.cost)
        parameters = self._parameters()
        document = {"sizes": list(self.sizes),
                    "weights": [w.tolist() for w in parameters.weights],
                    "biases": [b.tolist() for b in parameters.biases],
                    "cost": _cost_name(self.cost)}
        with atomic_write(filename, "w") as file:
            json.dump(document, file)

    def _total_cost(self, parameters, X, Y, lmbda):
        """Mean cost of rows ``X`` against rows ``Y``, plus the L2 term; a
        user's own cost's ``fn`` is called sample by sample, as network2
        does."""
        outputs = self._outputs(parameters, X)
        n = X.shape[0]
        if self._cost_info is not None:
            per_sample = self._cost_info.cls.per_sample(outputs, Y)
        else:
            per_sample = np.array([self.cost.fn(a.reshape(-1, 1),
                                                y.reshape(-1, 1))
                                   for a, y in zip(outputs, Y)], float)
        return float(np.sum(per_sample / n)) + 0.5 * (lmbda / n) * sum(
            np.linalg.norm(w) ** 2 for w in parameters.weights)

    def _one_hot(self, labels):
        return np.eye(self.sizes[-1])[labels]


class _Monitors:
    """network2's four monitors: after each epoch, measure what was asked
    for, print it in network2's words and keep it.  A subclass's own
    ``accuracy`` or ``total_cost`` is called as network2 calls it."""

    def __init__(self, network, training, evaluation_data, wanted):
        self.network, self.training = network, training
        self.evaluation_data = evaluation_data
        # evaluation cost, evaluation accuracy, training cost and accuracy
        self.wanted = wanted
        self.lists = ([], [], [], [])

    def report(self, print_evaluation_accuracy):
        """Measure, print and keep this epoch's figures; returns the
        evaluation accuracy when it was measured."""
        evaluation_cost, evaluation_accuracy, training_cost, \
            training_accuracy = self.wanted
        training = self.training
        if training_cost:
            self._keep(2, "Cost on training data: {}", self._cost(False))
        if training_accuracy:
            self._keep(3, "Accuracy on training data: {} / " +
                       str(training.n), self._accuracy(False))
        if evaluation_cost:
            self._keep(0, "Cost on evaluation data: {}", self._cost(True))
        accuracy = self._accuracy(True) if evaluation_accuracy else None
        if print_evaluation_accuracy:
            self._keep(1, "Accuracy on evaluation data: {} / " +
                       str(len(self.evaluation_data)), accuracy)
        return accuracy

    def _keep(self, which, line, value):
        self.lists[which].append(value)
        print(line.format(value))

    def _cost(self, evaluation):
        network, training = self.network, self.training
        if network._overrides("total_cost"):
            data = self.evaluation_data if evaluation else \
                training.data.samples
            return network.total_cost(data, training.lmbda,
                                      convert=evaluation)
        if evaluation:
            X, labels = training.evaluation
            return network._total_cost(training.parameters, X,
                                       network._one_hot(labels),
                                       training.lmbda)
        return network._total_cost(training.parameters, *training.arrays(),
                                   training.lmbda)

    def _accuracy(self, evaluation):
        network, training = self.network, self.training
        if network._overrides("accuracy"):
            if evaluation:
                return network.accuracy(self.evaluation_data)
            return network.accuracy(training.data.samples, convert=True)
        if evaluation:
            return training.evaluation_correct()
        X, Y = training.arrays()
        return network._count_correct(training.parameters, X,
                                      np.argmax(Y, axis=1))

    def results(self):
        """network2's return value: evaluation cost, evaluation accuracy,
        training cost, training accuracy."""
        return tuple(self.lists)


def load(filename):
    """A network from network2's JSON file (written by this module or by
    Nielsen's).  The whole file is checked first; then, like network2's
    ``load``, it builds ``Network(sizes)``, drawing initial weights from
    ``np.random``, and replaces them.  A file that is not such a network
    raises ``FileFormatError`` naming the file and the problem, with
    ``np.random``'s state untouched."""
    document = _read_json(filename)
    try:
        sizes, cost, weights, biases = _network_in(document)
    except (TypeError, ValueError, OverflowError) as error:
        raise FileFormatError(filename, str(error)) from None
    network = Network(sizes, cost=cost.cls)
    network._adopt(core.Parameters.pack(sizes, weights, biases))
    return network


def _read_json(filename):
    """The JSON document in ``filename``, read only if it is a regular
    file that fits in memory."""
    available = check.available_memory()
    raw = read_regular_file(filename, None if available is None
                            else available // 8)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise FileFormatError(filename, "not a network2 JSON file (not "
                                        "text)") from None
    except (ValueError, RecursionError) as error:
        raise FileFormatError(filename, f"not a network2 JSON file "
                                        f"({type(error).__name__}: "
                                        f"{str(error)[:200]})") from None


def _network_in(document):
    """``(sizes, CostInfo, weights, biases)`` of a network2 document,
    every part checked against the sizes (and the sizes against the
    memory) before any array is built."""
    if not isinstance(document, dict) or not {"sizes", "weights", "biases",
                                              "cost"} <= set(document):
        raise ValueError("a network2 file holds an object with sizes, "
                         "weights, biases and cost")
    if not isinstance(document["cost"], str):
        raise ValueError(f"cost must be the name of a cost class, got "
                         f"{type(document['cost']).__name__}")
    cost = costs.by_name(document["cost"])
    sizes = check.check_sizes(document["sizes"])
    check.check_network_memory(sizes)
    weights = _number_arrays("weights", document["weights"],
                             [(y, x) for x, y in zip(sizes[:-1], sizes[1:])])
    biases = _number_arrays("biases", document["biases"],
                            [(y, 1) for y in sizes[1:]])
    return sizes, cost, weights, biases


def _number_arrays(name, lists, shapes):
    """Nested JSON lists of numbers (not true or false) as float64 arrays
    of the given ``shapes``."""
    if not isinstance(lists, list) or len(lists) != len(shapes):
        raise ValueError(f"{name} must be a list of {len(shapes)} arrays "
                         f"for these sizes")
    arrays = []
    for l, (value, shape) in enumerate(zip(lists, shapes)):
        try:
            array = np.array(value, dtype=object)
        except ValueError:
            array = None
        if array is None or array.shape != shape:
            raise ValueError(f"{name}[{l}] is not a {shape[0]}x{shape[1]} "
                             f"array of numbers")
        kinds = {type(v) for v in array.flat}
        if not kinds <= {int, float}:
            raise ValueError(f"{name}[{l}] holds "
                             f"{sorted(k.__name__ for k in kinds - {int, float})}"
                             f" values, not numbers")
        try:
            array = array.astype(np.float64)
        except OverflowError:
            raise ValueError(f"{name}[{l}] holds a number too large for a "
                             f"float") from None
        if not np.isfinite(array).all():
            raise ValueError(f"{name}[{l}] contains NaN or infinity")
        arrays.append(array)
    return arrays


def _checked_cost(cost):
    """``cost`` if it is a built-in cost class (decided by identity, so
    that a class merely named like one is not taken for it) or a class
    of the book's interface (static ``fn(a, y)`` and ``delta(z, a, y)``);
    else a ``TypeError``."""
    if costs.info_of(cost) is not None or (
            callable(getattr(cost, "fn", None))
            and callable(getattr(cost, "delta", None))):
        return cost
    raise TypeError(f"cost must be QuadraticCost, CrossEntropyCost or a "
                    f"class with fn(a, y) and delta(z, a, y), got {cost!r}")


def _cost_name(cost):
    """The name network2's JSON stores for ``cost``: its class name."""
    info = costs.info_of(cost)
    if info is not None:
        return info.json_name
    return getattr(cost, "__name__", type(cost).__name__)


class _Stall:
    """Early stopping and eta halving: counts epochs since the best
    evaluation accuracy so far."""

    def __init__(self, stop_after, halve_after, max_halvings):
        self.stop_after, self.halve_after = stop_after, halve_after
        self.max_halvings, self.halvings = max_halvings, 0
        self.best, self.since_best = None, 0
        self.reason = ""

    @property
    def active(self):
        """Whether early stopping or eta halving is on."""
        return bool(self.stop_after or self.halve_after)

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
