"""The ground truth: fastnet's per-sample oracles, built to order.

Chapter 1's ``fastnet.reference.Network`` (quadratic cost) and chapter
3's ``fastnet.reference.network2.Network`` (any cost class with Nielsen's
``fn(a, y)`` and ``delta(z, a, y)``) are run exactly as written, one
sample at a time, in float64.

The cost.  A network2 implementation is checked with its own cost: the
reference network takes any cost class, so the user's is handed to it.
Only fastnet's built-in costs are recognised, by identity through
``fastnet.costs.info_of`` (fastnet's class or the oracle's), never by
name: a user's class called ``CrossEntropyCost`` is still the user's, and
the reference then runs the oracle's class of that cost.
"""

import numpy as np

from fastnet import costs, reference
from fastnet.reference import network2, sigmoid

from .compare import CheckFailure

CHAPTER_1 = ("book", "seed")


def is_cost(cost):
    """Whether ``cost`` has network2's interface: ``fn`` and ``delta``."""
    return callable(getattr(cost, "fn", None)) and \
        callable(getattr(cost, "delta", None))


def network_cost(network):
    """A network2-style network's ``cost`` (a class or object with ``fn``
    and ``delta``), else None: a chapter 1 network, or a ``cost`` that is
    something else (a method, say)."""
    cost = getattr(network, "cost", None)
    return cost if is_cost(cost) else None


def resolve_cost(cost, network=None, order=None):
    """The cost the reference runs: None (chapter 1's network, quadratic)
    or a cost class for network2's.

    ``cost``: "auto" reads ``network``'s own cost (``network_cost``;
    without one, chapter 1's network, or network2's default cross-entropy
    when ``order`` is "network2"); None asks for chapter 1's network; a
    string names a built-in cost (``fastnet.costs.by_name``: "quadratic",
    "cross-entropy" or network2's class names); anything else must be a
    cost class.  A built-in cost becomes the oracle's class, a user's own
    stays itself.  With ``order`` "book" or "seed" (chapter 1's interface,
    whose reference has the quadratic cost only) the cost must be None or
    quadratic; with "network2" it cannot be None."""
    if isinstance(cost, str) and cost == "auto":
        cost = network_cost(network)
        if cost is None and order == "network2":
            cost = network2.CrossEntropyCost
    elif isinstance(cost, str):
        cost = costs.by_name(cost).oracle
    elif cost is not None and not is_cost(cost):
        raise TypeError(f"cost must be 'auto', None, a built-in cost's name "
                        f"or a cost class with fn(a, y) and delta(z, a, y), "
                        f"got {cost!r}")
    info = costs.info_of(cost) if cost is not None else None
    if info is not None:
        cost = info.oracle
    if order in CHAPTER_1 and cost is not None:
        if cost is not network2.QuadraticCost:
            raise ValueError(
                f"order {order!r} compares with chapter 1's network, whose "
                f"cost is quadratic; the cost {cost_name(cost)} needs "
                f"order='network2'")
        cost = None
    if order == "network2" and cost is None:
        raise ValueError("order 'network2' compares with chapter 3's "
                         "network, which needs a cost: give 'auto', a cost "
                         "class or a built-in cost's name")
    return cost


def cost_name(cost):
    """How reports name a cost: its class's name."""
    if cost is None:
        return "quadratic (chapter 1)"
    return getattr(cost, "__name__", type(cost).__name__)


def network(sizes, weights=None, biases=None, cost=None):
    """A reference network; ``cost`` None gives chapter 1's, a cost class
    network2's with that cost.  Its initial draws come from ``np.random``
    as in the book; given ``weights`` and ``biases`` (float64 copies)
    replace them."""
    if cost is None:
        net = reference.Network(list(sizes))
    else:
        net = network2.Network(list(sizes), cost=cost)
    if weights is not None:
        net.weights = [np.array(w, dtype=np.float64) for w in weights]
        net.biases = [np.array(b, dtype=np.float64) for b in biases]
    return net


def gradient(net, X, Y):
    """The reference gradient summed over the columns of ``X``, ``Y``,
    one sample at a time: ``(nabla_b, nabla_w)``."""
    nabla_b = [np.zeros(b.shape) for b in net.biases]
    nabla_w = [np.zeros(w.shape) for w in net.weights]
    for j in range(X.shape[1]):
        delta_b, delta_w = net.backprop(X[:, [j]], Y[:, [j]])
        nabla_b = [n + d for n, d in zip(nabla_b, delta_b)]
        nabla_w = [n + d for n, d in zip(nabla_w, delta_w)]
    return nabla_b, nabla_w


def output_error(cost, z, a, Y):
    """``cost.delta`` (chapter 1: the quadratic cost's) of every column,
    as one ``(n_out, m)`` array: the reference's delta^L."""
    cost = network2.QuadraticCost if cost is None else cost
    return np.hstack([_call(cost, "delta", z[:, [j]], a[:, [j]], Y[:, [j]])
                      for j in range(Y.shape[1])])


def total_cost(weights, biases, X, Y, cost):
    """The summed cost of the samples, through a float64 forward pass.

    For the built-in costs the kit writes the cost itself: ``sum |a -
    y|^2 / 2``, or the cross-entropy from the output layer's weighted
    input ``z`` as ``y softplus(-z) + (1 - y) softplus(z)``, which equals
    network2's ``-y ln a - (1 - y) ln(1 - a)`` but keeps its accuracy
    where ``a`` rounds near 1 and ``ln(1 - a)`` would lose most of its
    digits (a finite difference of that would be noise).  A user's own
    cost is summed from its ``fn``, one sample at a time as network2 does.
    """
    a = X
    for w, b in zip(weights[:-1], biases[:-1]):
        a = sigmoid(w @ a + b)
    z = weights[-1] @ a + biases[-1]
    info = costs.info_of(cost) if cost is not None else None
    if info is not None and info.cls is costs.CrossEntropyCost:
        return float(np.sum(Y * np.logaddexp(0.0, -z) +
                            (1 - Y) * np.logaddexp(0.0, z)))
    a = sigmoid(z)
    if cost is None or (info is not None and info.cls is costs.QuadraticCost):
        return 0.5 * float(np.sum((a - Y) ** 2))
    return float(sum(_call(cost, "fn", a[:, [j]], Y[:, [j]])
                     for j in range(Y.shape[1])))


def _call(cost, method, *args):
    try:
        return getattr(cost, method)(*args)
    except Exception as error:
        raise CheckFailure(f"the cost {cost_name(cost)}.{method} raised "
                           f"{type(error).__name__}: {error}") from error
