"""The matrix products of one mini-batch, alone, against the floor.

What an epoch of ``fit`` cannot go below: each layer's forward product
``A W^T``, the error sent down ``D W`` (all layers but the first) and
the weight update ``W <- W - step * D^T A`` (one BLAS gemm), made as
the kernels make them (``kernels.layer_product``, in OpenBLAS's
small-matrix blocks where it has them) inside one compiled call, so
that no Python call is timed; on one BLAS thread, for [784, 30, 10] and
[784, 100, 10] at mini-batches of 10 and 100.  The closing table gives
the step's multiple of the floor (its FLOPs at this machine's
large-product rate on one core, measured in the same run): a training
epoch's floor multiple minus this one is what gathering rows, sigmoids
and errors cost.
"""

import numpy as np
import pytest
from numba import njit

from fastnet import bench, kernels
from fastnet.blas import single_threaded, small_path_available

NETWORKS = [(784, 30, 10), (784, 100, 10)]


@njit(nogil=True)
def _products(weights, acts, errors, below, blocks):
    for l in range(len(weights)):
        kernels.layer_product(acts[l + 1], acts[l], weights[l], False, True,
                              1.0, 0.0, blocks)
    for l in range(len(weights) - 1, -1, -1):
        if l:
            kernels.layer_product(below[l], errors[l], weights[l], False,
                                  False, 1.0, 0.0, blocks)
        kernels.layer_product(weights[l], errors[l], acts[l], True, False,
                              -1e-12, 1.0, blocks)


def products(sizes, m, dtype):
    """A callable doing one mini-batch's forward products and weight
    updates (the error sent down too, for every layer but the first)."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((b, a)).astype(dtype)
               for a, b in zip(sizes[:-1], sizes[1:])]
    acts = [rng.random((m, n)).astype(dtype) for n in sizes]
    errors = [rng.standard_normal((m, n)).astype(dtype) for n in sizes[1:]]
    below = [np.empty((m, n), dtype) for n in sizes[:-1]]
    typed = [tuple(arrays) for arrays in (weights, acts, errors, below)]
    blocks = small_path_available()
    return lambda: _products(*typed, blocks)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("m", [10, 100])
@pytest.mark.parametrize("sizes", NETWORKS,
                         ids=lambda sizes: "-".join(map(str, sizes)))
def test_products_of_one_mini_batch(benchmark, rates, record, sizes, m,
                                    dtype):
    step = products(sizes, m, dtype)
    step()   # compile the gemm wrapper before timing
    label = f"products of one mini-batch: {'-'.join(map(str, sizes))}, " \
        f"batch {m}, {dtype}"
    benchmark.group = label
    with single_threaded():
        benchmark(step)
    # one mini-batch is an "epoch" of m samples
    record(label, f"fit-{dtype}", benchmark, bench.Workload(sizes, m, m))
