"""Each compiled kernel against its NumPy formula (tests/naive.py).

Elementwise kernels use the same operations in the same order as the
formula, so they agree to a few ulp (NumPy's and LLVM's exp may differ in
the last bit): rtol 1e-15.  Kernels that call BLAS sum in a different
order from NumPy's matmul; a sum of k terms then differs by up to about
k * 2^-53 of its scale, so they are held to 1e-13 (k <= 784 here).
"""

import numpy as np
import pytest

import naive
from fastnet import kernels
from support import relative_error

FLOATS = [np.float64, np.float32]
# float32 agrees with its own NumPy formula to a few float32 ulp.
ELEMENTWISE_RTOL = {np.float64: 1e-15, np.float32: 1e-6}
SUM_RTOL = {np.float64: 1e-13, np.float32: 1e-5}

SIZES = [[1, 1], [3, 2], [5, 4, 3], [7, 6, 5, 4], [784, 30, 10]]


def random_params(sizes, rng, dtype=np.float64):
    weights = [rng.standard_normal((y, x)) for x, y in zip(sizes[:-1],
                                                            sizes[1:])]
    biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
    return weights, biases, naive.pack(weights, biases).astype(dtype)


def test_sigmoid_matches_formula_including_saturation():
    z = np.concatenate([np.linspace(-50, 50, 1001), [-800.0, 800.0, 0.0]])
    with np.errstate(over="ignore"):
        expected = naive.sigmoid(z)
        expected_prime = naive.sigmoid_prime(z)
    assert relative_error(kernels.sigmoid(z), expected) <= 1e-15
    assert relative_error(kernels.sigmoid_prime(z), expected_prime) <= 1e-15
    assert kernels.sigmoid(-800.0) == 0.0 and kernels.sigmoid(800.0) == 1.0
    assert kernels.sigmoid(0.0) == 0.5 and kernels.sigmoid_prime(0.0) == 0.25


@pytest.mark.parametrize("dtype", FLOATS)
def test_activate_adds_bias_then_squashes(dtype):
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((7, 5)).astype(dtype) * 4
    b = rng.standard_normal(5).astype(dtype)
    expected = naive.sigmoid(Z.astype(np.float64) + b)
    kernels.activate(Z, b)
    assert relative_error(Z, expected) <= ELEMENTWISE_RTOL[dtype]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cost", [kernels.QUADRATIC, kernels.CROSS_ENTROPY])
def test_output_error(dtype, cost):
    rng = np.random.default_rng(2)
    A = rng.random((6, 4)).astype(dtype)
    Y = np.eye(4)[rng.integers(0, 4, 6)].astype(dtype)
    D = np.empty_like(A)
    kernels.output_error(A, Y, cost, D)
    a, y = A.astype(np.float64), Y.astype(np.float64)
    expected = (a - y) * (a * (1 - a)) if cost == kernels.QUADRATIC else a - y
    assert relative_error(D, expected) <= ELEMENTWISE_RTOL[dtype]


def test_output_error_uses_sigmoid_prime_of_z():
    """delta^L = (a - y) sigmoid'(z): the kernel takes sigmoid'(z) as
    a (1 - a) from the activation, the reference from z."""
    z = np.linspace(-8, 8, 12).reshape(3, 4)
    A, Y = naive.sigmoid(z), np.zeros((3, 4))
    D = np.empty_like(A)
    kernels.output_error(A, Y, kernels.QUADRATIC, D)
    assert relative_error(D, A * naive.sigmoid_prime(z)) <= 1e-15


@pytest.mark.parametrize("dtype", FLOATS)
def test_hidden_error(dtype):
    rng = np.random.default_rng(3)
    P = rng.standard_normal((5, 3)).astype(dtype)
    A = rng.random((5, 3)).astype(dtype)
    expected = P.astype(np.float64) * (A * (1.0 - A.astype(np.float64)))
    kernels.hidden_error(P, A)
    assert relative_error(P, expected) <= ELEMENTWISE_RTOL[dtype]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("m, n_in, n_out", [(1, 1, 1), (10, 784, 30),
                                            (3, 5, 2), (100, 30, 10)])
def test_accumulate_gradient(dtype, m, n_in, n_out):
    rng = np.random.default_rng(4)
    D = rng.standard_normal((m, n_out)).astype(dtype)
    A = rng.random((m, n_in)).astype(dtype)
    grad_w = np.full((n_out, n_in), np.nan, dtype)
    grad_b = np.full(n_out, np.nan, dtype)
    kernels.accumulate_gradient(D, A, grad_w, grad_b)
    assert relative_error(grad_w, D.T.astype(np.float64) @ A) <= \
        SUM_RTOL[dtype]
    # The bias gradient is summed sample by sample, as the reference adds.
    expected_b = np.zeros(n_out)
    for row in D.astype(np.float64):
        expected_b = expected_b + row
    assert relative_error(grad_b, expected_b) <= SUM_RTOL[dtype]
    if dtype == np.float64:
        np.testing.assert_array_equal(grad_b, expected_b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("decay", [1.0, 0.999])
@pytest.mark.parametrize("m, n_in, n_out", [(1, 1, 1), (10, 784, 30),
                                            (7, 5, 3)])
def test_step_layer_is_the_update_formula(dtype, decay, m, n_in, n_out):
    """w <- decay w - step D^T A, b <- b - step sum(D), in one BLAS call.
    The weight update sums m products per entry in BLAS order, so it is
    held to the BLAS tolerance; the bias update is the reference's
    expression, bit for bit in float64."""
    rng = np.random.default_rng(5)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    D = rng.standard_normal((m, n_out)).astype(dtype)
    A = rng.random((m, n_in)).astype(dtype)
    step = 3.0 / m
    w64, b64, d64, a64 = (x.astype(np.float64) for x in (W, b, D, A))
    expected_w = decay * w64 - step * (d64.T @ a64)
    grad_b = np.zeros(n_out)
    for row in d64:  # the reference adds sample by sample
        grad_b = grad_b + row
    expected_b = b64 - step * grad_b
    kernels.step_layer(W, b, D, A, decay, step, np.empty(n_out, dtype))
    assert relative_error(W, expected_w) <= SUM_RTOL[dtype]
    assert relative_error(b, expected_b) <= SUM_RTOL[dtype]
    if dtype == np.float64:
        np.testing.assert_array_equal(b, expected_b)


def test_gather_rows_casts_and_follows_the_index():
    source = np.arange(20, dtype=np.float32).reshape(5, 4) / 3
    index = np.array([4, 0, 2, 2, 1])
    out = np.empty((3, 4))
    kernels.gather_rows(source, index, 1, out)
    np.testing.assert_array_equal(out, source[index[1:4]].astype(np.float64))


@pytest.mark.parametrize("sizes", SIZES)
def test_param_offsets_and_views(sizes):
    rng = np.random.default_rng(6)
    weights, biases, params = random_params(sizes, rng)
    sizes_array = np.array(sizes)
    offsets = kernels.param_offsets(sizes_array)
    assert offsets[-1] == params.size
    for l, (w, b) in enumerate(zip(weights, biases)):
        np.testing.assert_array_equal(
            kernels.layer_weights(params, sizes_array, offsets, l), w)
        np.testing.assert_array_equal(
            kernels.layer_biases(params, sizes_array, offsets, l), b.ravel())


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m", [1, 5, kernels.FORWARD_BLOCK + 3])
def test_feedforward(dtype, sizes, m):
    rng = np.random.default_rng(7)
    weights, biases, params = random_params(sizes, rng, dtype)
    X = rng.random((m, sizes[0])).astype(dtype)
    weights, biases = naive.unpack(sizes, params.astype(np.float64))
    expected = naive.forward(weights, biases, X.astype(np.float64))[-1]
    out = kernels.feedforward(params, np.array(sizes), X)
    assert out.dtype == dtype
    assert relative_error(out, expected) <= SUM_RTOL[dtype]


@pytest.mark.parametrize("cost", [kernels.QUADRATIC, kernels.CROSS_ENTROPY])
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m", [1, 3, 12])
def test_gradient(cost, sizes, m):
    rng = np.random.default_rng(8)
    weights, biases, params = random_params(sizes, rng)
    X = rng.random((m, sizes[0]))
    Y = rng.random((m, sizes[-1]))
    grad_w, grad_b = naive.unpack(
        sizes, kernels.gradient(params, np.array(sizes), X, Y, cost))
    expected_w, expected_b = naive.gradient(
        weights, biases, X, Y, cross_entropy=cost == kernels.CROSS_ENTROPY)
    for actual, expected in zip(grad_w + grad_b, expected_w + expected_b):
        assert relative_error(actual, expected) <= 1e-13


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sizes, batch_size, n", [
    ([5, 4, 3], 1, 7), ([5, 4, 3], 3, 10), ([7, 6, 5, 4], 4, 16),
    ([20, 10], 7, 30), ([784, 30, 10], 10, 95)])
def test_train_batches_is_minibatch_sgd(dtype, sizes, batch_size, n):
    rng = np.random.default_rng(9)
    weights, biases, params = random_params(sizes, rng, dtype)
    X = rng.random((n, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)].astype(dtype)
    order = rng.permutation(n)
    batches = -(-n // batch_size)
    # Two calls covering the epoch equal one call over all of it.
    split = batches // 2
    for first, stop in ((0, split), (split, batches)):
        kernels.train_batches(X, Y, order, params, np.array(sizes),
                              batch_size, 3.0, 1.0, kernels.QUADRATIC,
                              first, stop)
    weights, biases = naive.unpack(sizes, naive.pack(weights, biases)
                                   .astype(dtype).astype(np.float64))
    expected = naive.pack(*naive.sgd(weights, biases, X.astype(np.float64),
                                     Y.astype(np.float64), order, batch_size,
                                     3.0))
    # float64: ~10 steps of 1e-15; float32: each step rounds to ~6e-8 and
    # the products sum up to 784 terms.
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    assert relative_error(params, expected) <= rtol
