"""The ground truth: fastnet's per-sample oracles, built to order.

Chapter 1's ``fastnet.reference.Network`` (quadratic cost) and chapter
3's ``fastnet.reference.network2.Network`` (either cost) are run exactly
as written, one sample at a time, in float64.
"""

import numpy as np

from fastnet import reference
from fastnet.reference import network2, sigmoid

COSTS = {"QuadraticCost": network2.QuadraticCost,
         "CrossEntropyCost": network2.CrossEntropyCost}


def check_cost(cost):
    """None (chapter 1's quadratic cost) or a network2 cost's class name."""
    if cost is None or cost in COSTS:
        return cost
    name = getattr(cost, "__name__", cost)
    if name in COSTS:
        return name
    raise ValueError(f"cost must be None (chapter 1), 'QuadraticCost' or "
                     f"'CrossEntropyCost' (network2), got {cost!r}")


def network(sizes, weights=None, biases=None, cost=None):
    """A reference network; ``cost`` None gives chapter 1's, a cost name
    network2's.  Its initial draws come from ``np.random`` as in the
    book; given ``weights`` and ``biases`` (float64 copies) replace
    them."""
    if cost is None:
        net = reference.Network(list(sizes))
    else:
        net = network2.Network(list(sizes), cost=COSTS[cost])
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


def total_cost(weights, biases, X, Y, cost):
    """The summed cost of the samples, through a float64 forward pass:
    ``sum |a - y|^2 / 2``, or the cross-entropy.  The cross-entropy is
    computed from the output layer's weighted input ``z`` as
    ``y softplus(-z) + (1 - y) softplus(z)``, which equals network2's
    ``-y ln a - (1 - y) ln(1 - a)`` but keeps its accuracy where ``a``
    rounds near 1 and ``ln(1 - a)`` would lose most of its digits (a
    finite difference of that would be noise)."""
    a = X
    for w, b in zip(weights[:-1], biases[:-1]):
        a = sigmoid(w @ a + b)
    z = weights[-1] @ a + biases[-1]
    if cost == "CrossEntropyCost":
        return float(np.sum(Y * np.logaddexp(0.0, -z) +
                            (1 - Y) * np.logaddexp(0.0, z)))
    return 0.5 * float(np.sum((sigmoid(z) - Y) ** 2))
