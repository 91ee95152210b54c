"""The fast Network against the per-sample oracle, fastnet.reference.

Tolerances.  Both sides compute in float64 and differ only in the order in
which BLAS adds up dot products (784 terms at most), so one gradient or
one update agrees to about 1e-15 of its scale; 1e-12 leaves room for
k * 2^-53 growth without hiding a real mistake (a dropped sample, a wrong
eta / m, a missed layer shows at 1e-3 or more; see
``test_tolerance_is_discriminating``).  Over whole epochs the rounding
differences are carried from step to step: after a few hundred steps they
stay below 1e-12 of the weights' scale here, and 1e-10 is asserted.
"""

import contextlib
import io
import random

import numpy as np
import pytest

import fastnet
from fastnet.reference import Network as Reference
from support import Examples, assert_layers_close, relative_error

STEP_RTOL = 1e-12
EPOCHS_RTOL = 1e-10

SWEEP = [  # (sizes, mini-batch sizes)
    ([1, 1], [1, 3]),
    ([2, 3, 1], [1, 2, 5]),
    ([6, 5, 4], [1, 4, 10]),
    ([8, 7, 6, 5, 3], [3, 16]),
    ([784, 30, 10], [10]),
    ([30, 20, 20, 20, 10], [7]),
]
CASES = [(sizes, m) for sizes, ms in SWEEP for m in ms]


def twins(sizes, seed=1):
    """A reference and a fast network from the same np.random.seed."""
    np.random.seed(seed)
    reference = Reference(sizes)
    np.random.seed(seed)
    fast = fastnet.Network(sizes)
    return reference, fast


def quiet(function, *args, **kwargs):
    """Call ``function`` and return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        function(*args, **kwargs)
    return out.getvalue()


def test_same_seed_gives_bit_identical_start():
    reference, fast = twins([784, 30, 10], seed=42)
    for r, f in zip(reference.weights + reference.biases,
                    fast.weights + fast.biases):
        np.testing.assert_array_equal(f, r)
    assert fast.sizes == reference.sizes
    assert fast.num_layers == reference.num_layers == 3
    # and each draws exactly the seed's numbers: the next draw matches.
    np.random.seed(42)
    Reference([784, 30, 10])
    after_reference = np.random.randn()
    np.random.seed(42)
    fastnet.Network([784, 30, 10])
    assert np.random.randn() == after_reference


@pytest.mark.parametrize("sizes, m", CASES)
def test_per_sample_gradient_equals_oracle(sizes, m):
    reference, fast = twins(sizes)
    data = Examples(sizes[0], sizes[-1], m, seed=len(sizes) + m)
    for x, y in data.training[:3]:
        expected_b, expected_w = reference.backprop(x, y)
        actual_b, actual_w = fast.backprop(x, y)
        assert [a.shape for a in actual_b] == [e.shape for e in expected_b]
        assert_layers_close(actual_w, expected_w, STEP_RTOL)
        assert_layers_close(actual_b, expected_b, STEP_RTOL)


@pytest.mark.parametrize("sizes, m", CASES)
def test_batched_gradient_equals_sum_of_per_sample_gradients(sizes, m):
    reference, fast = twins(sizes)
    data = Examples(sizes[0], sizes[-1], m, seed=m)
    expected_b = [np.zeros(b.shape) for b in reference.biases]
    expected_w = [np.zeros(w.shape) for w in reference.weights]
    for x, y in data.training:
        nabla_b, nabla_w = reference.backprop(x, y)
        expected_b = [e + n for e, n in zip(expected_b, nabla_b)]
        expected_w = [e + n for e, n in zip(expected_w, nabla_w)]
    actual_b, actual_w = fast.backprop(data.X.T, data.Y.T)
    assert_layers_close(actual_w, expected_w, STEP_RTOL)
    assert_layers_close(actual_b, expected_b, STEP_RTOL)


@pytest.mark.parametrize("sizes", [[3, 4, 2], [5, 4, 4, 3], [784, 30, 10]])
def test_gradient_matches_central_differences(sizes):
    """dC/dp against (C(p + h) - C(p - h)) / 2h for the quadratic cost
    C = sum_x |a - y|^2 / 2.  Truncation error is O(h^2) ~ 1e-12 and
    rounding error ~ eps * C / h ~ 1e-10 for h = 1e-6, so 1e-6 relative
    (to the largest gradient entry) is a safe but telling bound."""
    _, fast = twins(sizes, seed=3)
    data = Examples(sizes[0], sizes[-1], 4, seed=3, dtype=np.float64)
    nabla_b, nabla_w = fast.backprop(data.X.T, data.Y.T)
    rng = np.random.default_rng(0)
    h = 1e-6

    def cost():
        return 0.5 * np.sum((fast.feedforward(data.X.T) - data.Y.T) ** 2)

    for params, grads in ((fast.weights, nabla_w), (fast.biases, nabla_b)):
        for layer, (p, g) in enumerate(zip(params, grads)):
            scale = np.max(np.abs(g))
            for flat_index in rng.choice(p.size, min(p.size, 12),
                                         replace=False):
                index = np.unravel_index(flat_index, p.shape)
                original = p[index]
                p[index] = original + h
                up = cost()
                p[index] = original - h
                down = cost()
                p[index] = original
                numeric = (up - down) / (2 * h)
                assert abs(numeric - g[index]) <= 1e-6 * scale, \
                    (layer, index, numeric, g[index])


@pytest.mark.parametrize("sizes, m", CASES)
def test_update_mini_batch_equals_oracle(sizes, m):
    reference, fast = twins(sizes)
    data = Examples(sizes[0], sizes[-1], m, seed=m + 7)
    reference.update_mini_batch(data.training, 3.0)
    fast.update_mini_batch(data.training, 3.0)
    assert_layers_close(fast.weights, reference.weights, STEP_RTOL)
    assert_layers_close(fast.biases, reference.biases, STEP_RTOL)


@pytest.mark.parametrize("sizes, m, n", [
    ([6, 5, 4], 1, 40), ([6, 5, 4], 4, 43), ([8, 7, 6, 5, 3], 16, 100),
    ([784, 30, 10], 10, 205), ([2, 3, 1], 7, 7), ([2, 3, 1], 10, 3)])
def test_sgd_epochs_follow_the_oracle_trajectory(sizes, m, n):
    """Same random.seed and np.random.seed: the same shuffles, the same
    mini-batches (the last one shorter), the same printed accuracies, the
    same final weights to float64 rounding, and the caller's list left in
    the same order."""
    reference, fast = twins(sizes, seed=n)
    data = Examples(sizes[0], sizes[-1], n, seed=n)
    test = data.test[: n // 2 + 1]
    reference_list, fast_list = list(data.training), list(data.training)
    random.seed(11)
    printed_reference = quiet(reference.SGD, reference_list, m, 3, 3.0,
                              test_data=test)
    state_after_reference = random.getstate()
    random.seed(11)
    printed_fast = quiet(fast.SGD, fast_list, m, 3, 3.0, test_data=test)
    assert printed_fast == printed_reference
    assert printed_fast.count("Epoch") == 3
    assert random.getstate() == state_after_reference
    assert all(a is b for a, b in zip(fast_list, reference_list))
    assert_layers_close(fast.weights, reference.weights, EPOCHS_RTOL)
    assert_layers_close(fast.biases, reference.biases, EPOCHS_RTOL)


def test_sgd_on_zips_and_without_test_data_prints_as_the_seed():
    reference, fast = twins([4, 3, 2])
    data = Examples(4, 2, 12)
    random.seed(5)
    printed_reference = quiet(reference.SGD, zip(*zip(*data.training)), 5, 2,
                              1.0)
    random.seed(5)
    printed_fast = quiet(fast.SGD, zip(*zip(*data.training)), 5, 2, 1.0)
    assert printed_fast == printed_reference == \
        " Epoch : 0 complete.\n Epoch : 1 complete.\n"
    assert_layers_close(fast.weights, reference.weights, STEP_RTOL)


def test_sgd_keywords_follow_the_seed_names():
    reference, fast = twins([4, 3, 2])
    data = Examples(4, 2, 12)
    kwargs = dict(training_data=data.training, mini_batch_size=4, epochs=2,
                  eta=0.5, test_data=data.test)
    random.seed(2)
    expected = quiet(reference.SGD, **dict(kwargs,
                                           training_data=list(data.training)))
    random.seed(2)
    assert quiet(fast.SGD, **kwargs) == expected


def test_evaluate_and_feedforward_equal_oracle():
    reference, fast = twins([784, 30, 10], seed=4)
    data = Examples(784, 10, 300, seed=4)
    assert fast.evaluate(data.test) == reference.evaluate(data.test)
    assert isinstance(fast.evaluate(data.test), int)
    x = data.training[0][0]
    assert fast.feedforward(x).shape == (10, 1)
    assert relative_error(fast.feedforward(x),
                          reference.feedforward(x)) <= STEP_RTOL
    # A matrix of samples as columns is the same as column by column.
    outputs = fast.feedforward(data.X[:50].T)
    expected = np.hstack([reference.feedforward(x) for x, _ in
                          data.training[:50]])
    assert relative_error(outputs, expected) <= STEP_RTOL


def test_cost_derivative():
    _, fast = twins([3, 2])
    a, y = np.array([[0.25], [0.75]]), np.array([[0.0], [1.0]])
    np.testing.assert_array_equal(fast.cost_derivative(a, y),
                                  [[0.25], [-0.25]])


def test_fit_is_minibatch_sgd_in_its_generator_order():
    """fit() visits samples in numpy.random.default_rng(seed).permutation
    order each epoch; the oracle's update_mini_batch over that order must
    land on the same weights."""
    sizes, m, n, epochs = [784, 30, 10], 10, 95, 2
    reference, fast = twins(sizes, seed=6)
    data = Examples(784, 10, n, seed=6)
    fast.fit(data.X.T, data.labels, epochs=epochs, mini_batch_size=m,
             eta=3.0, seed=123)
    rng = np.random.default_rng(123)
    for _ in range(epochs):
        order = rng.permutation(n)
        for k in range(0, n, m):
            reference.update_mini_batch(
                [data.training[i] for i in order[k:k + m]], 3.0)
    assert_layers_close(fast.weights, reference.weights, EPOCHS_RTOL)
    assert_layers_close(fast.biases, reference.biases, EPOCHS_RTOL)


def test_fit_float32_stays_near_the_float64_oracle():
    """float32 rounds every product to ~6e-8 and sums of 784 of them to
    ~1e-5 at worst; after 10 steps the weights stay within 1e-4 of the
    float64 trajectory relative to their scale (a wrong step would be
    ~1e-1 off)."""
    sizes, m, n = [784, 30, 10], 10, 100
    reference, fast = twins(sizes, seed=8)
    data = Examples(784, 10, n, seed=8)
    fast.fit(data.X.T, data.labels, epochs=1, mini_batch_size=m, eta=3.0,
             seed=5, dtype="float32")
    assert all(w.dtype == np.float32 for w in fast.weights + fast.biases)
    order = np.random.default_rng(5).permutation(n)
    for k in range(0, n, m):
        reference.update_mini_batch([data.training[i] for i in order[k:k + m]],
                                    3.0)
    assert_layers_close(fast.weights, reference.weights, 1e-4)


def test_tolerance_is_discriminating():
    """The equivalence tolerances would catch the smallest real mistakes:
    one sample left out of a mini-batch, or eta / m replaced by eta / (m+1).
    """
    reference, fast = twins([784, 30, 10], seed=9)
    data = Examples(784, 10, 10, seed=9)
    reference.update_mini_batch(data.training, 3.0)
    fast.update_mini_batch(data.training[:-1], 3.0 * 9 / 10)
    assert relative_error(fast.weights[0], reference.weights[0]) > 1e3 * \
        STEP_RTOL or relative_error(fast.biases[0], reference.biases[0]) > \
        1e3 * STEP_RTOL
    _, other = twins([784, 30, 10], seed=9)
    other.update_mini_batch(data.training, 3.0 * 10 / 11)
    assert relative_error(other.weights[-1], reference.weights[-1]) > \
        1e3 * EPOCHS_RTOL


@pytest.mark.slow
def test_real_mnist_trajectory_equals_oracle():
    """Two epochs on 2,000 real MNIST images (float32 pixels with many
    exact zeros, as Nielsen's loader gives them): same printed accuracies,
    same weights to float64 rounding."""
    from fastnet import mnist_loader
    training, _, test = mnist_loader.load_data_wrapper()
    reference, fast = twins([784, 30, 10], seed=0)
    random.seed(1)
    expected = quiet(reference.SGD, training[:2000], 10, 2, 3.0,
                     test_data=test[:1000])
    random.seed(1)
    assert quiet(fast.SGD, training[:2000], 10, 2, 3.0,
                 test_data=test[:1000]) == expected
    assert_layers_close(fast.weights, reference.weights, EPOCHS_RTOL)
    assert_layers_close(fast.biases, reference.biases, EPOCHS_RTOL)
