"""``check_step``: the weights after one ``update_mini_batch``."""

from collections import namedtuple

import numpy as np

from . import reference_side, tolerances
from .cases import (check_seed, nielsen_lists, random_examples,
                    random_parameters, subject_cases)
from .compare import CheckFailure, as_layers, first_difference, shape_problem
from .interfaces import check_order, step_arguments
from .seeding import preserved_random_state
from .targets import Subject, cast_layers

StepReport = namedtuple("StepReport", "cases margin")
StepReport.__doc__ = """What passed: the number of cases and the largest
observed difference as a fraction of its tolerance."""
StepReport.__str__ = lambda r: (f"{r.cases} cases; largest error "
                                f"{r.margin:.2g} of tolerance")


def network2_defaults(order, cost, eta, lmbda, n):
    """Chapter 3's defaults where the caller gave none."""
    if order != "network2":
        return cost, 3.0 if eta is None else eta, 0.0, n
    return (cost, 0.5 if eta is None else eta,
            1.0 if lmbda is None else lmbda, 50 if n is None else n)


def check_step(update_mini_batch, sizes=None, *, batch_sizes=None,
               order="book", eta=None, lmbda=None, n=None, cost="auto",
               dtype=np.float64, rtol=None, seed=0):
    """Check one gradient-descent step against the reference's.

    ``update_mini_batch`` is a network class or factory, a network or its
    bound ``update_mini_batch``, or a function ``update_mini_batch(weights,
    biases, mini_batch, eta[, lmbda, n])`` returning ``(weights, biases)``
    (or None after changing the lists in place).  For each case (as in
    ``check_gradient``) the kit sets random weights, takes one step on a
    mini-batch of Nielsen's ``(x (n_in, 1), y (n_out, 1))`` tuples and
    compares the weights and biases with ``fastnet.reference``'s after the
    same step.  ``order="network2"`` calls ``update_mini_batch(mini_batch,
    eta, lmbda, n)`` (defaults eta 0.5, lmbda 1.0, n 50) against chapter
    3's reference, run with the network's own ``cost`` (``cost="auto"``;
    network2's cross-entropy for a function or a network without one) or
    the ``cost`` given (a cost class or a built-in cost's name, as in
    ``check_gradient``); otherwise ``update_mini_batch(mini_batch, eta)``
    (default eta 3.0) against chapter 1's, whose cost is quadratic.

    The tolerance per layer is ``12 eps max|w'| + (eta / m) rtol R``
    (``fastnet.testing.tolerances``), ``rtol`` the gradient's.  Raises
    ``AssertionError`` at the first layer and entry outside it; returns a
    ``StepReport``.  Leaves the caller's random states and network as they
    were.
    """
    seed = check_seed(seed)
    order = check_order(order)
    cost, eta, lmbda, n = network2_defaults(order, cost, eta, lmbda, n)
    for name, value in (("eta", eta), ("lmbda", lmbda)):
        if not isinstance(value, (int, float)) or not np.isfinite(value) \
                or value < 0 or (name == "eta" and value == 0):
            raise ValueError(f"{name} must be a finite positive number, got "
                             f"{value!r}")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if not (isinstance(cost, str) and cost == "auto"):
        cost = reference_side.resolve_cost(cost, order=order)
    subject = Subject(update_mini_batch, "update_mini_batch")
    cases = subject_cases(subject.fixed_sizes, sizes, batch_sizes)
    margin = 0.0
    with preserved_random_state(), subject.restoring():
        for i, case in enumerate(cases):
            net = subject.network(case.sizes, seed)
            step = _set_up(case, seed + i, dtype, order, (eta, lmbda, n),
                           reference_side.resolve_cost(cost, net, order))
            margin = max(margin, _one_step(subject, net, step, rtol))
    return StepReport(len(cases), margin)


_Step = namedtuple("_Step", "case weights biases X Y batch arguments cost "
                            "dtype eta where")


def _set_up(case, seed, dtype, order, rates, cost):
    """One case's parameters, mini-batch and step arguments."""
    eta, lmbda, n = rates
    weights, biases = random_parameters(case.sizes, seed)
    X, labels, Y = random_examples(case.sizes, case.batch_size, seed)
    batch, _ = nielsen_lists(X, labels, Y, dtype)
    where = (f"check_step, sizes {list(case.sizes)} with a mini-batch of "
             f"{case.batch_size}, eta {eta}" +
             (f", lmbda {lmbda}, n {n}, cost "
              f"{reference_side.cost_name(cost)}" if order == "network2"
              else ""))
    return _Step(case, cast_layers(weights, dtype), cast_layers(biases, dtype),
                 X, Y, batch, step_arguments(order, eta, lmbda, n), cost,
                 dtype, eta, where)


def _one_step(subject, net, step, rtol):
    """The user's step against the reference's: the largest difference
    as a fraction of its tolerance, or a CheckFailure."""
    new_w, new_b = _user_step(subject, net, step)
    eps = tolerances.eps_of(step.dtype, *[a.dtype for a in new_w + new_b])
    new_w, new_b = _float64(new_w), _float64(new_b)
    reference = reference_side.network(step.case.sizes, step.weights,
                                       step.biases, step.cost)
    try:
        reference.update_mini_batch(step.batch, *step.arguments)
    except CheckFailure as failure:  # the user's cost raised in it
        raise CheckFailure(f"{step.where}: in the reference's step, "
                           f"{failure}") from failure
    expected = reference.weights + reference.biases
    atols, scales = _tolerances(step, expected, eps, rtol)
    layers = len(step.weights)
    problem = first_difference(new_w, reference.weights, "weights",
                               atols[:layers], scales[:layers]) or \
        first_difference(new_b, reference.biases, "biases", atols[layers:],
                         scales[layers:])
    if problem:
        raise CheckFailure(f"{step.where}: after the step, {problem}")
    return max(float(np.max(np.abs(a - e))) / atol for a, e, atol in
               zip(new_w + new_b, expected, atols))


def _user_step(subject, net, step):
    """Take the user's step on copies; its weights and biases."""
    try:
        result, new_w, new_b = subject.call(
            net, step.weights, step.biases,
            [(x.copy(), y.copy()) for x, y in step.batch], *step.arguments)
    except Exception as error:
        raise CheckFailure(f"{step.where}: update_mini_batch raised "
                           f"{type(error).__name__}: {error}") from error
    if subject.function and result is not None:
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise CheckFailure(f"{step.where}: update_mini_batch returned a "
                               f"{type(result).__name__}, expected (weights,"
                               f" biases) or None")
        new_w, new_b = result
    new_w, new_b = _parse(step.where, new_w, new_b, step.weights,
                          step.biases)
    return new_w, new_b


def _tolerances(step, expected, eps, rtol):
    """Per layer (weights, then biases) the tolerance ``12 eps max|w'| +
    (eta / m) rtol R`` and the scale ``max|w'|`` errors are reported in;
    ``eps`` is the least precise of ``step.dtype`` and the arrays the
    user's step left."""
    case = step.case
    rtol = rtol or tolerances.gradient_rtol(case.sizes, case.batch_size, eps)
    scale_w, scale_b = tolerances.gradient_magnitude(
        _float64(step.weights), _float64(step.biases), step.X, step.Y,
        step.cost, eps)
    atols, scales = [], []
    for e, gradient_scale in zip(expected, scale_w + scale_b):
        size = float(np.max(np.abs(e)))
        atols.append(3 * tolerances.SAFETY * eps * size +
                     step.eta / case.batch_size * rtol * gradient_scale)
        scales.append(size)
    return atols, scales


def _float64(layers):
    return [np.asarray(a, dtype=np.float64) for a in layers]


def _parse(where, new_w, new_b, weights, biases):
    layers = len(weights)
    new_w, problem = as_layers(new_w, layers, "weights")
    if problem is None:
        new_b, problem = as_layers(new_b, layers, "biases")
    if problem is None:
        problem = shape_problem(new_w, [w.shape for w in weights], "weights") \
            or shape_problem(new_b, [b.shape for b in biases], "biases")
    if problem:
        raise CheckFailure(f"{where}: after the step, {problem}")
    return new_w, new_b
