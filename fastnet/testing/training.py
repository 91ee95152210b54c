"""``check_training``: whole epochs from the same seeds, step by step.

Tolerance over a trajectory.  Every step adds a rounding difference of at
most ``step_rtol`` (relative to each layer's largest weight; the one-step
bound of ``fastnet.testing.tolerances`` on the first mini-batch), and
training carries the earlier ones forward, amplified or damped.  The kit
measures that amplification: it reruns the reference from starting
weights perturbed by ``step_rtol`` and records ``G_s``, the largest
growth of that perturbation up to step ``s`` (at least 1).  A rounding
made at step ``j <= s`` grows no faster than a perturbation made at the
start, so after ``s`` steps two correct implementations differ by at most
``s G_s step_rtol``; the kit allows ``4 s G_s step_rtol``.
"""

import contextlib
import io
import random
from collections import namedtuple

import numpy as np

from . import reference_side, tolerances
from .cases import check_seed, check_sizes, nielsen_lists, random_examples
from .compare import CheckFailure, largest_relative_difference
from .interfaces import (ORDERS, InterfaceError, accuracies, call_sgd,
                         check_order, refuse_contradiction)
from .seeding import numpy_state_digest, preserved_random_state, seed_globals
from .step import network2_defaults

__all__ = ["ORDERS", "check_training"]

Run = namedtuple("Run", "start numpy_after_init steps weights biases printed "
                        "accuracies random_after")

TrainingReport = namedtuple("TrainingReport", "epochs steps accuracies "
                                              "margin recorded")
TrainingReport.__doc__ = """What passed: epochs, steps per run, the
accuracies after each epoch, the largest observed difference as a fraction
of its tolerance, and whether the steps could be followed one by one."""
TrainingReport.__str__ = lambda r: (
    f"{r.epochs} epochs, {r.steps} steps, accuracies {r.accuracies}; "
    f"largest error {r.margin:.2g} of tolerance"
    + ("" if r.recorded else " (final weights only: SGD does not call "
       "update_mini_batch)"))


def check_training(network, sizes=(5, 4, 4, 3), *, epochs=2,
                   mini_batch_size=3, eta=None, lmbda=None, n_train=40,
                   n_test=20, order="book", cost="auto", copy_weights=False,
                   dtype=np.float64, seed=0):
    """Train the user's network and the reference from the same seeds.

    ``network`` is a class or a factory ``make(sizes)``.  Both sides get
    ``random.seed(seed)`` and ``np.random.seed(seed)`` before the network
    is built, then train ``epochs`` epochs with ``SGD`` on the same
    ``n_train`` Nielsen-format tuples (40 with mini-batches of 3, so the
    last one is short), scored on ``n_test`` test tuples.  ``order`` is
    the interface (``fastnet.testing.interfaces``): "book" (the default),
    "seed" or "network2" (eta 0.5 and lmbda 1.0 by default; chapter 1's
    eta is 3.0).  With "network2" the reference runs the network's own
    ``cost`` (``cost="auto"``: any class with network2's ``fn`` and
    ``delta``, as the user's network holds it; network2's cross-entropy
    if it holds none) or the ``cost`` given (a cost class, or a built-in
    cost's name as in ``check_gradient``); chapter 1's cost is quadratic.
    Compared, in the order they happen: the initial weights
    (``copy_weights=True`` gives the user's network the reference's
    instead, for an implementation with its own generator), the draws
    taken from ``np.random``, each mini-batch's samples and the weights
    after it (when ``SGD`` calls ``update_mini_batch``; else the weights
    after each epoch), the accuracy after each epoch, the final weights,
    and ``random``'s state afterwards.  Weights are compared to the
    trajectory tolerance above, for ``dtype``: the precision of the samples
    handed over and of the arithmetic expected.

    Raises ``AssertionError`` at the first divergence, naming the epoch
    and mini-batch and by how much; returns a ``TrainingReport``.  The
    caller's random states are restored.
    """
    seed = check_seed(seed)
    order = check_order(order)
    sizes = check_sizes(sizes)
    _check_counts(epochs=epochs, mini_batch_size=mini_batch_size,
                  n_train=n_train, n_test=n_test)
    if not callable(network):
        raise TypeError(f"network must be a class or a factory make(sizes), "
                        f"got {network!r}")
    if isinstance(network, type):
        refuse_contradiction(network, order)
    _, eta, lmbda, _ = network2_defaults(order, cost, eta, lmbda, None)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if not (isinstance(cost, str) and cost == "auto"):
        cost = reference_side.resolve_cost(cost, order=order)
    X, labels, Y = random_examples(sizes, n_train + n_test, seed)
    setup = _Setup(sizes, order, epochs, mini_batch_size, eta, lmbda, seed,
                   (X, labels, Y, np.dtype(dtype)), n_train, cost)
    with preserved_random_state():
        return setup.compare(network, copy_weights)


def _check_counts(**counts):
    for name, value in counts.items():
        if not isinstance(value, (int, np.integer)) or \
                isinstance(value, bool) or value < 1 or value > 10 ** 6:
            raise ValueError(f"{name} must be a positive integer (at most a "
                             f"million), got {value!r}")


class _Setup:
    """One comparison: the data, the settings and the two runs."""

    def __init__(self, sizes, order, epochs, mini_batch_size, eta, lmbda,
                 seed, examples, n_train, cost):
        self.sizes, self.order, self.epochs = sizes, order, epochs
        self.mini_batch_size, self.eta, self.lmbda = mini_batch_size, eta, \
            lmbda
        self.seed = seed
        training, test = nielsen_lists(*examples)
        self.dtype = examples[-1]
        self.training, self.test = training[:n_train], test[n_train:]
        self.keys = {np.asarray(x, dtype=np.float64).tobytes(): i
                     for i, (x, _) in enumerate(self.training)}
        self.per_epoch = -(-n_train // mini_batch_size)
        self.cost = cost  # "auto" is resolved on the user's network

    def where(self, step):
        epoch, batch = divmod(step, self.per_epoch)
        return f"epoch {epoch}, mini-batch {batch}"

    def train(self, make, epochs, start=None, order=None):
        """Seed, build, train; everything the comparison needs."""
        order = order or self.order
        self.last_steps = None
        seed_globals(self.seed)
        net = make(list(self.sizes))
        numpy_after_init = numpy_state_digest()
        initial = ([np.array(w, dtype=np.float64) for w in net.weights],
                   [np.array(b, dtype=np.float64) for b in net.biases])
        if start is not None:
            net.weights = [w.copy() for w in start[0]]
            net.biases = [b.copy() for b in start[1]]
        steps = self.last_steps = _record_steps(net, self.keys)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            returned = call_sgd(net, order, list(self.training), epochs,
                                self.mini_batch_size, self.eta, self.lmbda,
                                [(x.copy(), y) for x, y in self.test])
        return Run(initial, numpy_after_init, steps,
                   [np.array(w, dtype=np.float64) for w in net.weights],
                   [np.array(b, dtype=np.float64) for b in net.biases],
                   printed.getvalue(),
                   accuracies(order, printed.getvalue(), returned),
                   random.getstate())

    def reference(self, start=None):
        def make(sizes):
            return reference_side.network(sizes, cost=self.cost)
        # The chapter 1 oracle takes the seed's order, whatever the user's.
        order = "network2" if self.order == "network2" else "seed"
        return self.train(make, self.epochs, start, order)

    def compare(self, network, copy_weights):
        user = self._train_user(network, self.epochs, None)
        self.cost = reference_side.resolve_cost(self.cost, user.network,
                                                self.order)
        expected = self.reference()
        start = expected.start if copy_weights else None
        if copy_weights:
            user = self._train_user(network, self.epochs, start)
        else:
            self._compare_start(user.run, expected)
        tolerance = _Tolerance(self, expected)
        margin, recorded = self._compare_steps(user.run, expected, tolerance)
        margin = max(margin, self._compare_end(user.run, expected, tolerance,
                                               network, start))
        return TrainingReport(self.epochs, len(expected.steps),
                              expected.accuracies, margin, recorded)

    def _train_user(self, network, epochs, start):
        name = getattr(network, "__qualname__", repr(network))
        built = None

        def make(sizes):
            nonlocal built
            built = network(sizes)
            refuse_contradiction(type(built), self.order)
            return built
        try:
            run = self.train(make, epochs, start)
        except InterfaceError:
            raise
        except Exception as error:
            steps = getattr(self, "last_steps", None)
            when = f" in {self.where(steps.calls - 1)}" if steps is not None \
                and steps.calls > len(steps) else ""
            raise CheckFailure(f"check_training: {name} raised "
                               f"{type(error).__name__}{when}: {error}") \
                from error
        return _UserRun(run, built)

    def _compare_start(self, run, expected):
        _same_shapes(run.start[0] + run.start[1],
                     expected.start[0] + expected.start[1],
                     "the initial weights:")
        difference = largest_relative_difference(run.start[0] + run.start[1],
                                                 expected.start[0] +
                                                 expected.start[1])
        # Bit-identical draws, but a float32 network rounds them.
        if difference > (0.0 if self.dtype == np.float64 else
                         tolerances.eps_of(self.dtype)):
            raise CheckFailure(
                f"check_training: the initial weights differ from the "
                f"reference's after the same np.random.seed (largest "
                f"relative difference {difference:.3g}): Nielsen draws all "
                f"biases, then all weights, with np.random.randn; pass "
                f"copy_weights=True to start from the reference's weights")
        if run.numpy_after_init != expected.numpy_after_init:
            raise CheckFailure("check_training: building the network took a "
                               "different number of draws from np.random "
                               "than the reference's")

    def _compare_steps(self, run, expected, tolerance):
        if not run.steps:
            return 0.0, False
        if len(run.steps) != len(expected.steps):
            raise CheckFailure(
                f"check_training: SGD called update_mini_batch "
                f"{len(run.steps)} times in {self.epochs} epochs where the "
                f"reference calls it {len(expected.steps)} times "
                f"({self.per_epoch} mini-batches of at most "
                f"{self.mini_batch_size} per epoch)")
        margin = 0.0
        for s, (mine, theirs) in enumerate(zip(run.steps, expected.steps)):
            if mine[0] is not None and None not in mine[0] and \
                    mine[0] != theirs[0]:
                raise CheckFailure(
                    f"check_training: {self.where(s)} holds samples "
                    f"{_listed(mine[0])} where the reference's holds "
                    f"{_listed(theirs[0])}: the shuffle or the cutting into "
                    f"mini-batches differs (Nielsen calls random.shuffle on "
                    f"the training list once per epoch)")
            margin = max(margin, tolerance.check(
                s + 1, mine[1], theirs[1], f"after {self.where(s)}"))
        return margin, True

    def _compare_end(self, run, expected, tolerance, network, start):
        if run.steps:  # followed step by step; SGD may still add its own
            margin = tolerance.check(
                len(expected.steps), run.weights + run.biases,
                expected.weights + expected.biases,
                f"at the end of SGD (epoch {self.epochs - 1})")
        else:
            margin = self._compare_epochs(run, expected, tolerance, network,
                                          start)
        if run.accuracies != expected.accuracies:
            if len(run.accuracies) != len(expected.accuracies):
                raise CheckFailure(
                    f"check_training: found {len(run.accuracies)} accuracies"
                    f" in SGD's output where the reference gives "
                    f"{len(expected.accuracies)}; output began: "
                    f"{run.printed[:200]!r}")
            epoch = next(j for j, (a, b) in enumerate(
                zip(run.accuracies, expected.accuracies)) if a != b)
            raise CheckFailure(
                f"check_training: epoch {epoch}: {run.accuracies[epoch]} of "
                f"{len(self.test)} test samples classified correctly where "
                f"the reference gets {expected.accuracies[epoch]} (all "
                f"epochs: {run.accuracies} vs {expected.accuracies})")
        if run.random_after != expected.random_after:
            raise CheckFailure(
                "check_training: after SGD, random's state differs from the "
                "reference's: the training used a different number of "
                "draws from random (Nielsen: one random.shuffle per epoch)")
        return margin

    def _compare_epochs(self, run, expected, tolerance, network, start):
        """Without steps to follow, the weights after the last epoch; if
        they are off, rerun for fewer epochs to find the first bad one."""
        steps = len(expected.steps)
        if not tolerance.exceeded(steps, run.weights + run.biases,
                                  expected.weights + expected.biases):
            return tolerance.check(steps, run.weights + run.biases,
                                   expected.weights + expected.biases, "")
        for epoch in range(1, self.epochs + 1):
            if epoch < self.epochs:
                run = self._train_user(network, epoch, start).run
            s = self.per_epoch * epoch
            tolerance.check(s, run.weights + run.biases,
                            expected.steps[s - 1][1],
                            f"after epoch {epoch - 1} (SGD does not call "
                            f"update_mini_batch, so only whole epochs are "
                            f"compared)")
        raise AssertionError("unreachable: the last epoch was off")


_UserRun = namedtuple("_UserRun", "run network")


class _Tolerance:
    """The trajectory tolerance ``4 s G_s step_rtol`` per layer."""

    def __init__(self, setup, expected):
        eps = tolerances.eps_of(setup.dtype)
        rtol = tolerances.gradient_rtol(setup.sizes, setup.mini_batch_size,
                                        eps)
        self.step_rtol = tolerances.SAFETY * eps + setup.eta * rtol
        rng = np.random.RandomState(setup.seed)
        perturbed = [a * (1 + self.step_rtol * rng.choice((-1.0, 1.0),
                                                          a.shape))
                     for a in expected.start[0] + expected.start[1]]
        layers = len(expected.start[0])
        shadow = setup.reference((perturbed[:layers], perturbed[layers:]))
        initial = largest_relative_difference(perturbed, expected.start[0] +
                                              expected.start[1])
        growth, self.growth = 1.0, []
        for mine, theirs in zip(shadow.steps, expected.steps):
            growth = max(growth, largest_relative_difference(
                mine[1], theirs[1]) / initial)
            self.growth.append(growth)

    def bound(self, steps):
        return tolerances.SAFETY * steps * self.growth[steps - 1] * \
            self.step_rtol

    def exceeded(self, steps, actual, expected):
        return largest_relative_difference(actual, expected) > \
            self.bound(steps)

    def check(self, steps, actual, expected, when):
        """Margin used, or a CheckFailure naming the worst layer."""
        _same_shapes(actual, expected, when + ",")
        bound = self.bound(steps)
        worst, where = 0.0, None
        layers = len(actual) // 2
        for i, (a, e) in enumerate(zip(actual, expected)):
            scale = float(np.max(np.abs(e))) or 1.0
            with np.errstate(invalid="ignore"):
                error = float(np.max(np.abs(np.asarray(a, float) - e))) / \
                    scale
            if not error <= bound and (where is None or not worst >= error):
                worst, where = error, i
            elif where is None:
                worst = max(worst, error)
        if where is None:
            return worst / bound
        name = "weights" if where < layers else "biases"
        raise CheckFailure(
            f"check_training: {when}, {name}[{where % layers}] differs from "
            f"the reference's by {worst:.3g} of its largest entry, tolerance"
            f" {bound:.3g} ({steps} steps, growth {self.growth[steps - 1]:.3g}"
            f")")


def _same_shapes(actual, expected, when):
    """A CheckFailure if a layer of ``actual`` (weights then biases) has
    another shape than the reference's."""
    layers = len(expected) // 2
    if len(actual) != len(expected):
        raise CheckFailure(f"check_training: {when} the network has "
                           f"{len(actual) // 2} layers of weights, the "
                           f"reference {layers}")
    for i, (a, e) in enumerate(zip(actual, expected)):
        if np.shape(a) != np.shape(e):
            name = "weights" if i < layers else "biases"
            raise CheckFailure(f"check_training: {when} {name}[{i % layers}]"
                               f" has shape {np.shape(a)}, expected "
                               f"{np.shape(e)}")


class _Steps(list):
    """The recorded steps, and how many calls began (one more than were
    recorded when update_mini_batch raised)."""
    calls = 0


def _record_steps(net, keys):
    """Wrap the instance's ``update_mini_batch`` to record, per call, the
    training samples it got (by index) and the weights after it."""
    steps = _Steps()
    original = getattr(net, "update_mini_batch", None)
    if original is None:
        return steps

    def recording(mini_batch, *args, **kwargs):
        try:
            samples = [keys.get(np.asarray(x, dtype=np.float64).tobytes())
                       for x, _ in mini_batch]
        except Exception:
            samples = None
        steps.calls += 1
        result = original(mini_batch, *args, **kwargs)
        steps.append((samples, [np.array(a, dtype=np.float64) for a in
                                list(net.weights) + list(net.biases)]))
        return result
    try:
        net.update_mini_batch = recording
    except AttributeError:
        pass
    return steps


def _listed(samples):
    return "[" + ", ".join("?" if s is None else str(s) for s in samples) + \
        "]"
