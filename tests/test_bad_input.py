"""Bad input gets a clear error naming the problem, raised before any
training work, with the network, the caller's data and the global random
state left exactly as they were."""

import random

import numpy as np
import pytest

import fastnet
from support import Examples

SIZES = [784, 30, 10]


@pytest.fixture
def net():
    np.random.seed(0)
    return fastnet.Network(SIZES)


@pytest.fixture
def data():
    return Examples(784, 10, 30, seed=1)


def expect_error(net, error, match, call, *args, **kwargs):
    """``call(*args, **kwargs)`` raises ``error`` matching ``match`` and
    changes nothing: weights, biases, training data order, random state."""
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    listed = [a for a in args if isinstance(a, list)]
    orders = [[id(item) for item in a] for a in listed]
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with pytest.raises(error, match=match):
        call(*args, **kwargs)
    for before, after in zip(weights + biases, net.weights + net.biases):
        np.testing.assert_array_equal(after, before)
    assert [[id(item) for item in a] for a in listed] == orders
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and (after[1] == numpy_state[1]).all()


# ---------------------------------------------------------------- sizes

@pytest.mark.parametrize("sizes, error, match", [
    ([784], ValueError, "at least an input and an output"),
    ([], ValueError, "at least an input and an output"),
    ([784, 0, 10], ValueError, r"sizes\[1\] must be at least 1"),
    ([784, -3, 10], ValueError, r"sizes\[1\] must be at least 1"),
    ([784.0, 30, 10], TypeError, r"sizes\[0\] must be an integer"),
    ([784, True], TypeError, r"sizes\[1\] must be an integer"),
    ("784,30", TypeError, "list or tuple of layer sizes"),
    (784, TypeError, "list or tuple of layer sizes"),
])
def test_bad_sizes(sizes, error, match):
    state = np.random.get_state()
    with pytest.raises(error, match=match):
        fastnet.Network(sizes)
    assert (np.random.get_state()[1] == state[1]).all()


def test_numpy_integer_sizes_are_fine():
    net = fastnet.Network(np.array([4, 3, 2]))
    assert net.sizes == [4, 3, 2] and all(type(s) is int for s in net.sizes)


# ------------------------------------------------------------ feedforward

def test_flat_vector_is_refused_with_a_hint(net):
    # The seed silently broadcasts (784,) into a (30, 30) hidden layer.
    expect_error(net, ValueError, r"shape \(784,\): a flat vector.*reshape",
                 net.feedforward, np.zeros(784))


@pytest.mark.parametrize("a, error, match", [
    (np.zeros((783, 1)), ValueError, "must have 784 rows"),
    (np.zeros((1, 784)), ValueError, r"one sample per row.*\.T"),
    (np.zeros((784, 0)), ValueError, "holds no samples"),
    (np.zeros((784, 1, 1)), ValueError, "must be 2-dimensional"),
    (np.full((784, 1), np.nan), ValueError, "NaN or infinity"),
    (np.full((784, 2), np.inf), ValueError, "NaN or infinity"),
    (np.array([["a"] * 1] * 784), TypeError, "real numbers"),
    (np.zeros((784, 1), dtype=complex), TypeError, "real numbers"),
])
def test_bad_feedforward_input(net, a, error, match):
    expect_error(net, error, match, net.feedforward, a)


def test_integer_and_float32_inputs_are_fine(net):
    x = np.ones((784, 1))
    out = net.feedforward(x)
    np.testing.assert_array_equal(net.feedforward(x.astype(np.uint8)), out)
    np.testing.assert_allclose(net.feedforward(x.astype(np.float32)), out,
                               rtol=1e-15)


# ------------------------------------------------------------------- SGD

def test_sgd_with_flat_vectors_in_training_data(net, data):
    bad = list(data.training)
    bad[3] = (bad[3][0].ravel(), bad[3][1])
    expect_error(net, ValueError,
                 r"training_data\[3\]\[0\] has shape \(784,\).*flat vector",
                 net.SGD, bad, 10, 1, 3.0)


@pytest.mark.parametrize("position, replacement, error, match", [
    (0, (np.zeros((783, 1)), None), ValueError,
     r"training_data\[5\]\[0\] has shape \(783, 1\), expected \(784, 1\)"),
    (1, (None, np.zeros((9, 1))), ValueError,
     r"training_data\[5\]\[1\] has shape \(9, 1\), expected \(10, 1\)"),
    (1, (None, 3), ValueError,
     r"training_data\[5\]\[1\] has shape \(\), expected \(10, 1\) \(a label"),
    (0, (np.full((784, 1), np.nan), None), ValueError,
     r"training_data\[5\]\[0\] contains NaN"),
    (1, (None, np.full((10, 1), np.inf)), ValueError,
     r"training_data\[5\]\[1\] contains NaN"),
    (0, (np.zeros((784, 1), dtype=object), None), TypeError, "real numbers"),
])
def test_sgd_with_bad_examples(net, data, position, replacement, error,
                               match):
    bad = list(data.training)
    x, y = bad[5]
    bad[5] = (replacement[0], y) if position == 0 else (x, replacement[1])
    expect_error(net, error, match, net.SGD, bad, 10, 1, 3.0)


def test_sgd_with_items_that_are_not_pairs(net, data):
    bad = list(data.training)
    bad[2] = bad[2][0]
    expect_error(net, TypeError, r"training_data\[2\] must be an \(x, y\)",
                 net.SGD, bad, 10, 1, 3.0)


@pytest.mark.parametrize("args, error, match", [
    ((10, 1, 3.0), ValueError, "training_data is empty"),
])
def test_sgd_with_empty_data(net, args, error, match):
    expect_error(net, error, match, net.SGD, [], *args)


def test_sgd_with_an_array_instead_of_a_list(net, data):
    expect_error(net, TypeError, "list \\(or zip\\) of \\(x, y\\) tuples",
                 net.SGD, data.X, 10, 1, 3.0)


@pytest.mark.parametrize("mini_batch_size, epochs, eta, error, match", [
    (0, 1, 3.0, ValueError, "mini_batch_size must be at least 1, got 0"),
    (-5, 1, 3.0, ValueError, "mini_batch_size must be at least 1"),
    (2.5, 1, 3.0, TypeError, "mini_batch_size must be an integer"),
    (10, -1, 3.0, ValueError, "epochs must be at least 0, got -1"),
    (10, 1.0, 3.0, TypeError, "epochs must be an integer"),
    (10, 1, "3.0", TypeError, "eta must be a real number, got '3.0'"),
    (10, 1, None, TypeError, "eta must be a real number"),
    (10, 1, True, TypeError, "eta must be a real number"),
    (10, 1, float("nan"), ValueError, "eta must be a finite positive"),
    (10, 1, float("inf"), ValueError, "eta must be a finite positive"),
    (10, 1, -3.0, ValueError, "eta must be a finite positive"),
    (10, 1, 0, ValueError, "eta must be a finite positive"),
])
def test_sgd_with_bad_hyperparameters(net, data, mini_batch_size, epochs,
                                      eta, error, match):
    expect_error(net, error, match, net.SGD, list(data.training),
                 mini_batch_size, epochs, eta)


@pytest.mark.parametrize("label, error, match", [
    (10, ValueError, r"test_data\[4\]\[1\] is 10, outside .* 0\.\.9"),
    (-1, ValueError, r"test_data\[4\]\[1\] is -1, outside"),
    (2.0, TypeError, r"test_data\[4\]\[1\] must be an integer class label"),
    (np.eye(10)[:, :1], TypeError, "one-hot vector"),
])
def test_sgd_with_bad_test_labels(net, data, label, error, match):
    test = list(data.test)
    test[4] = (test[4][0], label)
    expect_error(net, error, match, net.SGD, list(data.training), 10, 1, 3.0,
                 test)
    expect_error(net, error, match, net.evaluate, test)


def test_network_edited_into_inconsistency(net, data):
    net.weights[1] = np.zeros((10, 29))
    expect_error(net, ValueError, r"weights\[1\] has shape \(10, 29\), "
                 r"expected \(10, 30\)", net.SGD, list(data.training), 10, 1,
                 3.0)
    net.weights[1] = np.zeros((10, 30))
    net.biases[0] = np.full((30, 1), np.nan)
    expect_error(net, ValueError, r"biases\[0\] contains NaN",
                 net.feedforward, np.zeros((784, 1)))
    net.biases = net.biases[:1]
    expect_error(net, ValueError, "biases must be a list of 2 arrays",
                 net.feedforward, np.zeros((784, 1)))


# ------------------------------------------------- other drop-in methods

def test_backprop_with_mismatched_samples(net):
    expect_error(net, ValueError, "x holds 3 samples .* y holds 2",
                 net.backprop, np.zeros((784, 3)), np.zeros((10, 2)))
    expect_error(net, ValueError, "y has shape \\(9, 1\\)",
                 net.backprop, np.zeros((784, 1)), np.zeros((9, 1)))


def test_update_mini_batch_with_bad_input(net, data):
    expect_error(net, ValueError, "mini_batch is empty",
                 net.update_mini_batch, [], 3.0)
    expect_error(net, TypeError, "eta must be a real number",
                 net.update_mini_batch, data.training[:3], "fast")


def test_cost_derivative_with_mismatched_shapes(net):
    expect_error(net, ValueError, "output_activations has shape",
                 net.cost_derivative, np.zeros((10, 1)), np.zeros(10))


# ------------------------------------------------------------- array API

@pytest.mark.parametrize("y, error, match", [
    (np.arange(29) % 10, ValueError, "y has 29 labels but there are 30"),
    (np.full(30, 10), ValueError, r"y\[0\] is 10, outside"),
    (np.full(30, 2.0), TypeError, "integer class labels"),
    (np.zeros((10, 29)), ValueError, r"\(10, 30\) matrix"),
    (np.full((10, 30), np.nan), ValueError, "y contains NaN"),
])
def test_fit_with_bad_labels(net, data, y, error, match):
    expect_error(net, error, match, net.fit, data.X.T, y, epochs=1)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(dtype="int32"), ValueError, "dtype must be float32 or float64"),
    (dict(dtype="float16"), ValueError, "dtype must be float32 or float64"),
    (dict(seed="abc"), TypeError, "seed must be None, an int or"),
    (dict(callback=3), TypeError, "callback must be callable"),
    (dict(epochs=-2), ValueError, "epochs must be at least 0"),
    (dict(validation_data=np.zeros((784, 3))), TypeError,
     "validation_data must be an \\(X, y\\) pair"),
])
def test_fit_with_bad_options(net, data, kwargs, error, match):
    expect_error(net, error, match, net.fit, data.X.T, data.labels, **kwargs)


def test_fit_with_rows_as_samples(net, data):
    expect_error(net, ValueError, r"one sample per row.*X\.T", net.fit,
                 data.X, data.labels)


def test_predict_and_score_with_bad_input(net, data):
    expect_error(net, ValueError, "flat vector", net.predict, np.zeros(784))
    expect_error(net, ValueError, "y has 3 labels but there are 30",
                 net.score, data.X.T, np.zeros(3, int))


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("where", [0, 1234, -1])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_large_inputs_checked_in_shares_name_the_bad_column(monkeypatch,
                                                            order, where,
                                                            bad):
    """Inputs of 8 MB or more are summed one share per core
    (``threads.all_finite``): a NaN or infinity in any share, either
    memory order, is still found, and named, before any work."""
    from fastnet import threads
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads, "FINITE_BYTES_PER_THREAD", 1 << 20)
    X = np.asarray(np.random.default_rng(3).random((784, 2700)),
                   order=order)   # 17 MB: both shares used
    column = where % X.shape[1]
    X[where % 784, column] = bad
    assert not threads.all_finite(X)
    net = fastnet.Network([784, 30, 10], seed=0)
    before = net.weights[0].copy()
    with pytest.raises(ValueError, match=f"first in column {column}"):
        net.fit(X, np.zeros(X.shape[1], int), epochs=1)
    np.testing.assert_array_equal(net.weights[0], before)
    X[where % 784, column] = 0.5
    assert threads.all_finite(X)
    assert threads.all_finite(X[:, ::2]) and not threads.all_finite(
        np.full((3, 3), np.nan))   # the one-thread route
