"""The kit's small networks and data, and a pytest-friendly list of them.

Every default is small so that a user's test runs in about a second,
and chosen to make silent mistakes visible:

- layers with as many outputs as inputs (``(4, 4, 4)``, ``(5, 4, 4, 3)``):
  there a forgotten transpose of a weight matrix or of a gradient still
  has the right shape, so only the values can give it away;
- a mini-batch with as many samples as the layer has inputs
  (``(3, 4, 2)`` with 3 samples): there ``delta @ a`` instead of
  ``delta @ a.T`` has the right shape;
- one sample and several, and depths 2 to 4.
"""

from collections import namedtuple

import numpy as np

Case = namedtuple("Case", "sizes batch_size")
Case.__doc__ = """One gradient check: layer ``sizes`` (input first) and the
number of samples in the mini-batch."""
Case.id = property(lambda case: "-".join(map(str, case.sizes))
                   + f",m{case.batch_size}")

#: The default sweep of ``check_gradient`` and ``check_step``.
CASES = (
    Case((4, 4, 4), 3),
    Case((5, 4, 4, 3), 4),
    Case((3, 4, 2), 3),
    Case((3, 4, 2), 1),
    Case((2, 3, 3, 3, 2), 5),
    Case((6, 5, 4), 2),
)


def pytest_params(cases=CASES):
    """``cases`` as ``pytest.param``s with readable ids, for
    ``@pytest.mark.parametrize("case", fastnet.testing.pytest_params())``.
    pytest is imported only here, when this is called."""
    import pytest
    return [pytest.param(case, id=case.id) for case in cases]


def sweep(sizes, batch_sizes):
    """The cases to run: ``CASES`` by default; else every one of ``sizes``
    (one list of layer sizes, or a list of them) with every batch size."""
    if sizes is None and batch_sizes is None:
        return list(CASES)
    if sizes is None:
        shapes = list(dict.fromkeys(case.sizes for case in CASES))
    elif len(sizes) and all(isinstance(n, (int, np.integer)) for n in sizes):
        shapes = [sizes]
    else:
        shapes = list(sizes)
    shapes = [check_sizes(s) for s in shapes]
    batch_sizes = (1, 3) if batch_sizes is None else batch_sizes
    if isinstance(batch_sizes, (int, np.integer)):
        batch_sizes = (batch_sizes,)
    for m in batch_sizes:
        if not isinstance(m, (int, np.integer)) or isinstance(m, bool) \
                or not 1 <= m <= 100_000:
            raise ValueError(f"batch sizes must be integers from 1 to "
                             f"100,000, got {m!r}")
    if not shapes or not len(batch_sizes):
        raise ValueError("nothing to check: no sizes or no batch sizes")
    return [Case(s, int(m)) for s in shapes for m in batch_sizes]


def subject_cases(fixed, sizes, batch_sizes):
    """The cases for a network of ``fixed`` sizes (an instance), or for
    a class, factory or function (``fixed`` None)."""
    if fixed is None:
        return sweep(sizes, batch_sizes)
    if sizes is not None and tuple(sizes) != fixed:
        raise ValueError(f"the network has sizes {list(fixed)}; sizes "
                         f"{list(sizes)!r} can only be checked on a class or "
                         f"factory")
    return sweep(fixed, batch_sizes)


def check_seed(seed):
    """``seed`` as an int, or a ValueError."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) \
            or not 0 <= seed < 2 ** 31:
        raise ValueError(f"seed must be an integer from 0 to 2**31 - 1, got "
                         f"{seed!r}")
    return int(seed)


def check_sizes(sizes):
    """``sizes`` as a tuple of ints, or a ValueError saying what is wrong."""
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a list of layer sizes, got "
                        f"{sizes!r}") from None
    if len(sizes) < 2 or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool)
            and n >= 1 for n in sizes):
        raise ValueError(f"sizes must list at least two positive integers "
                         f"(input layer first), got {list(sizes)!r}")
    if sum(a * b for a, b in zip(sizes, sizes[1:])) > 10 ** 7:
        raise ValueError(f"sizes {list(sizes)} give over 10 million weights:"
                         f" too big for a check")
    return tuple(int(n) for n in sizes)


def random_parameters(sizes, seed):
    """Weights and biases from N(0, 1), as Nielsen's chapter 1 network
    starts: large enough that some sigmoids saturate, as in real use."""
    rng = np.random.RandomState(seed)
    biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
    weights = [rng.standard_normal((n, k)) for k, n in zip(sizes, sizes[1:])]
    return weights, biases


def random_examples(sizes, n, seed):
    """``n`` inputs in [0, 1) as columns of ``X`` (like pixels) and their
    labels, given by a fixed random linear rule so that training on them
    changes the accuracy.  Returns ``X (n_in, n)``, ``labels (n,)`` and
    one-hot ``Y (n_out, n)``, all float64 but the labels."""
    rng = np.random.RandomState(seed + 1_000_003)
    X = rng.random_sample((sizes[0], n))
    rule = rng.standard_normal((sizes[-1], sizes[0]))
    labels = np.argmax(rule @ (X - 0.5), axis=0)
    Y = np.eye(sizes[-1])[:, labels]
    return X, labels, Y


def nielsen_lists(X, labels, Y, dtype):
    """Nielsen's formats: training tuples ``(x (n_in, 1), y (n_out, 1))``
    and test tuples ``(x, int label)``."""
    columns = [X[:, [i]].astype(dtype) for i in range(X.shape[1])]
    training = [(x, Y[:, [i]].astype(dtype)) for i, x in enumerate(columns)]
    test = [(x.copy(), int(label)) for x, label in zip(columns, labels)]
    return training, test
