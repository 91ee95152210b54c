"""One sample at a time, as the book's scripts call the network.

Scripts such as the book's ``fig/generate_gradient.py`` loop over samples
calling ``feedforward(x)`` and ``backprop(x, y)`` on one ``(784, 1)``
column; fastnet must be at least as fast there as the per-sample
original (issue 10).  Each call is timed on the reference (the seed) and
on fastnet's seed face, same weights, same column; the closing table
gives the ratio.
"""

import numpy as np
import pytest

import fastnet
from fastnet import reference

SIZES = [(784, 30, 10), (784, 100, 10)]


@pytest.fixture(scope="module")
def column():
    rng = np.random.default_rng(0)
    x = rng.random((784, 1)).astype(np.float32)  # as Nielsen's loader gives
    y = np.zeros((10, 1))
    y[3] = 1.0
    return x, y


def networks(sizes):
    np.random.seed(0)
    oracle = reference.Network(list(sizes))
    np.random.seed(0)
    return {"reference": oracle, "fastnet": fastnet.Network(list(sizes))}


@pytest.mark.parametrize("implementation", ["reference", "fastnet"])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "-".join(map(str, s)))
def test_feedforward_one_column(benchmark, record, column, sizes,
                                implementation):
    net = networks(sizes)[implementation]
    x, _ = column
    net.feedforward(x)  # compile or load the kernels first
    benchmark(net.feedforward, x)
    record(f"feedforward {'-'.join(map(str, sizes))}", implementation,
           benchmark)


@pytest.mark.parametrize("implementation", ["reference", "fastnet"])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "-".join(map(str, s)))
def test_backprop_one_column(benchmark, record, column, sizes,
                             implementation):
    net = networks(sizes)[implementation]
    x, y = column
    net.backprop(x, y)
    benchmark(net.backprop, x, y)
    record(f"backprop {'-'.join(map(str, sizes))}", implementation,
           benchmark)
