"""The cost functions: one registry, used by every part of fastnet.

Each cost is a Nielsen-compatible class (static ``fn(a, y)`` and
``delta(z, a, y)``, as in ``network2.py``) plus a ``CostInfo`` record
that ties it to its command-line and model-file name and to the code
the compiled kernels use for its output error.  ``by_name`` finds a cost
by either name it is stored under (``"cross-entropy"`` or network2 JSON's
``"CrossEntropyCost"``); ``info_of`` finds one by identity, so that a
user's own class never passes for a built-in one because of its name.
"""

import dataclasses

import numpy as np

from . import kernels
from .kernels import sigmoid_prime


class QuadraticCost:
    """C = |a - y|^2 / 2."""

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


@dataclasses.dataclass(frozen=True)
class CostInfo:
    """A built-in cost: ``name`` on the command line and in model files,
    ``cls`` the Nielsen-compatible class, ``kernel`` the output-error code
    of ``fastnet.kernels``; ``oracle`` the per-sample reference's class
    for the same cost (``fastnet.reference.network2``)."""
    name: str
    cls: type
    kernel: int
    oracle: type = None

    @property
    def json_name(self):
        """The name network2's JSON files store: the class name."""
        return self.cls.__name__


# The oracle's classes compute the same costs (the tests hold them to it);
# they are recognised as these costs, by identity too.
from .reference import network2 as _oracle  # noqa: E402

#: Every built-in cost, by its command-line name.
COSTS = {info.name: info for info in (
    CostInfo("quadratic", QuadraticCost, kernels.QUADRATIC,
             _oracle.QuadraticCost),
    CostInfo("cross-entropy", CrossEntropyCost, kernels.CROSS_ENTROPY,
             _oracle.CrossEntropyCost))}

_BY_CLASS = {cls: info for info in COSTS.values()
             for cls in (info.cls, info.oracle)}


def by_name(name):
    """The ``CostInfo`` stored under ``name``: the command-line name
    (``"quadratic"``, ``"cross-entropy"``) or network2 JSON's class name
    (``"QuadraticCost"``, ``"CrossEntropyCost"``)."""
    for info in COSTS.values():
        if isinstance(name, str) and name in (info.name, info.json_name):
            return info
    names = [info.name for info in COSTS.values()]
    raise ValueError(f"unknown cost {name!r}; expected one of "
                     f"{', '.join(names)} (or network2's class names "
                     f"{', '.join(i.json_name for i in COSTS.values())})")


def info_of(cost):
    """The ``CostInfo`` of a built-in cost class (or an instance of one),
    decided by identity; None for any other object."""
    if not isinstance(cost, type):
        cost = type(cost)
    return _BY_CLASS.get(cost)
