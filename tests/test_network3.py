"""fastnet.network3 against the per-sample oracle fastnet.reference.network3,
against central finite differences, and on bad input.

Tolerances (relative to each array's largest entry, see support.py):

- ``ORACLE_RTOL = 1e-12`` in float64: both sides do the same arithmetic in
  a different order (BLAS blocking against per-example loops).  Each
  entry is a sum of at most a few hundred products of O(1) numbers, so
  the rounding difference is a few hundred times 1.1e-16, below 1e-13;
  1e-12 leaves a margin and still catches an error of one float32
  rounding (6e-8), as ``test_oracle_tolerance_catches_float32_rounding``
  shows.
- ``EPOCHS_RTOL = 1e-10`` after several SGD steps: rounding differences
  grow through the updates (eta 0.5, a few dozen steps).
- ``FLOAT32_RTOL = 1e-5`` for float32 against the float64 oracle: float32
  rounds at 6e-8, and sums of up to a few hundred terms lose at worst a
  few hundred of those (about 1e-6 seen); a real mistake (a wrong flip,
  a wrong pooling position, a missing bias) shows at O(1).
- ``FD_RTOL = 1e-6`` for gradients against central finite differences of
  step ``FD_STEP = 1e-6`` in float64: the truncation error is
  O(step**2 * third derivative) ~ 1e-12 and the rounding error
  O(1e-16 * cost / step) ~ 1e-10, relative to an array's largest gradient
  entry up to 4e-8 seen where that entry is small; 1e-6 is above all of
  these and below the 1e-4 error in a derivative that
  ``test_finite_difference_check_catches_a_wrong_derivative`` plants.
"""

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest

from fastnet import conv_models as models
from fastnet import network3 as fast
from fastnet.reference import network3 as oracle
from support import relative_error

ORACLE_RTOL = 1e-12
EPOCHS_RTOL = 1e-10
FLOAT32_RTOL = 1e-5
FD_RTOL = 1e-6
FD_STEP = 1e-6
ACTIVATIONS = ["sigmoid", "tanh", "ReLU", "linear"]
M = 4   # the mini-batch size of the small test networks


#### Small networks built twice, oracle and fast, from the same draws
def conv_spec(activation="sigmoid", p_dropout=0.0):
    """Two conv-pool layers (the second without pooling), a fully
    connected layer and softmax, on 9x9 images of 2 channels: every layer
    type, small enough to run per example in milliseconds."""
    return [("ConvPoolLayer", dict(filter_shape=(3, 2, 2, 2),
                                   image_shape=(M, 2, 9, 9), poolsize=(2, 2),
                                   activation_fn=activation)),
            ("ConvPoolLayer", dict(filter_shape=(4, 3, 2, 2),
                                   image_shape=(M, 3, 4, 4), poolsize=(1, 3),
                                   activation_fn=activation)),
            ("FullyConnectedLayer", dict(n_in=12, n_out=6,
                                         activation_fn=activation,
                                         p_dropout=p_dropout)),
            ("SoftmaxLayer", dict(n_in=6, n_out=3, p_dropout=p_dropout))]


N_IN = 2 * 9 * 9


def build(module, spec, seed=1, **network_options):
    np.random.seed(seed)
    layers = []
    for name, options in spec:
        options = dict(options)
        if "activation_fn" in options:
            options["activation_fn"] = getattr(module,
                                               options["activation_fn"])
        layers.append(getattr(module, name)(**options))
    # The softmax layer starts at zero, which would make every gradient
    # below it zero: give it random weights (the same on both sides).
    layers[-1].w = np.random.normal(size=layers[-1].w.shape)
    layers[-1].b = np.random.normal(size=layers[-1].b.shape)
    return module.Network(layers, M, **network_options)


def twins(spec, seed=1, dtype="float64"):
    return build(oracle, spec, seed), build(fast, spec, seed, dtype=dtype)


def examples(n, seed=0, n_in=N_IN, n_out=3):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in)), rng.integers(0, n_out, n)


def quiet(function, *args, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        function(*args, **kwargs)
    return out.getvalue()


def oracle_gradient(net, x, y, masks):
    """The oracle's gradient of the mean cost over the examples, masks
    given per mini-batch as the fast network draws them."""
    masks = [np.ones((len(y), 1)) if mask is None else mask for mask in masks]
    total_w = [np.zeros(layer.w.shape) for layer in net.layers]
    total_b = [np.zeros(layer.b.shape) for layer in net.layers]
    for k in range(len(y)):
        nabla_w, nabla_b = net.backprop(x[k], y[k], [m[k] for m in masks])
        total_w = [t + n for t, n in zip(total_w, nabla_w)]
        total_b = [t + n for t, n in zip(total_b, nabla_b)]
    return ([t / len(y) for t in total_w], [t / len(y) for t in total_b])


def largest_error(actual, expected):
    return max(relative_error(a, e) for a, e in zip(actual, expected))


#### Initial weights: network3's draws
def test_initial_weights_are_network3s_draws():
    spec = conv_spec()
    np.random.seed(3)
    expected = [np.random.normal(0, np.sqrt(1 / (3 * 4 // 4)), (3, 2, 2, 2)),
                np.random.normal(0, 1.0, (3,)),
                np.random.normal(0, np.sqrt(1 / (4 * 4 // 3)), (4, 3, 2, 2)),
                np.random.normal(0, 1.0, (4,)),
                np.random.normal(0, np.sqrt(1 / 6), (12, 6)),
                np.random.normal(0, 1.0, (6,))]
    after = np.random.normal()
    for module in (oracle, fast):
        np.random.seed(3)
        layers = [getattr(module, name)(**dict(
            options, **({"activation_fn": module.sigmoid}
                        if "activation_fn" in options else {})))
            for name, options in spec]
        assert np.random.normal() == after
        drawn = [p for layer in layers[:3] for p in (layer.w, layer.b)]
        for d, e in zip(drawn, expected):
            np.testing.assert_array_equal(d, e)
        np.testing.assert_array_equal(layers[3].w, np.zeros((6, 3)))
        np.testing.assert_array_equal(layers[3].b, np.zeros(3))


def test_float32_by_default_float64_on_request():
    np.random.seed(0)
    net = fast.Network([fast.FullyConnectedLayer(4, 3),
                        fast.SoftmaxLayer(3, 2)], 2)
    assert all(p.dtype == np.float32 for p in net.params)
    x, y = examples(4, n_in=4, n_out=2)
    quiet(net.SGD, (x, y), 1, 2, 0.1, (x, y), None)
    assert all(p.dtype == np.float32 for p in net.params)
    net64 = build(fast, conv_spec(), dtype="float64")
    assert all(p.dtype == np.float64 for p in net64.params)


#### The oracle's own building blocks, against independent formulas
def test_oracle_convolution_is_a_true_convolution():
    from scipy.signal import convolve2d
    rng = np.random.default_rng(0)
    x, w = rng.random((2, 6, 7)), rng.normal(size=(3, 2, 3, 2))
    expected = [sum(convolve2d(x[c], w[f, c], mode="valid") for c in range(2))
                for f in range(3)]
    np.testing.assert_allclose(oracle.convolve(x, w), expected, rtol=1e-13)


def test_oracle_pooling_takes_window_maxima_and_first_position():
    conv = np.array([[[1., 5., 2., 2.], [3., 0., 2., 1.]]])
    pooled, argmax = oracle.max_pool(conv, (2, 2))
    np.testing.assert_array_equal(pooled, [[[5., 2.]]])
    # the tie among the 2s goes to the first in row-major order
    np.testing.assert_array_equal(argmax[0, 0], [[0, 0, 1], [0, 0, 2]])
    delta = oracle.unpool(np.array([[[7., 9.]]]), argmax, conv.shape)
    np.testing.assert_array_equal(
        delta, [[[0., 7., 9., 0.], [0., 0., 0., 0.]]])


#### Fast against oracle: forward, each layer's gradient, SGD
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_equals_oracle(activation):
    reference, net = twins(conv_spec(activation, p_dropout=0.25))
    x, _ = examples(2 * M)
    expected = np.array([reference.feedforward(row) for row in x])
    assert relative_error(net.feedforward(x), expected) <= ORACLE_RTOL


@pytest.mark.parametrize("p_dropout", [0.0, 0.5])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_layers_gradient_equals_oracle(activation, p_dropout):
    reference, net = twins(conv_spec(activation, p_dropout))
    x, y = examples(M, seed=2)
    masks = net.dropout_masks(M)
    nabla_w, nabla_b = net.backprop(x, y, masks)
    expected_w, expected_b = oracle_gradient(reference, x, y, masks)
    for j in range(4):
        assert relative_error(nabla_w[j], expected_w[j]) <= ORACLE_RTOL, j
        assert relative_error(nabla_b[j], expected_b[j]) <= ORACLE_RTOL, j
    assert all(np.any(nw) for nw in nabla_w)   # no layer vacuously zero


def test_float32_gradient_close_to_oracle():
    reference, net = twins(conv_spec("tanh"), dtype="float32")
    x, y = examples(M, seed=2)
    nabla_w, _ = net.backprop(x, y)
    assert all(nw.dtype == np.float32 for nw in nabla_w)
    expected_w, _ = oracle_gradient(reference, x, y, [None] * 4)
    assert largest_error(nabla_w, expected_w) <= FLOAT32_RTOL


def test_oracle_tolerance_catches_float32_rounding():
    """A planted mistake: the fast float64 gradient with one layer's
    weights rounded to float32 is off by ~1e-8, beyond ORACLE_RTOL."""
    reference, net = twins(conv_spec())
    x, y = examples(M, seed=2)
    net.layers[1].w = net.layers[1].w.astype(np.float32).astype(np.float64)
    nabla_w, _ = net.backprop(x, y)
    expected_w, _ = oracle_gradient(reference, x, y, [None] * 4)
    assert largest_error(nabla_w, expected_w) > ORACLE_RTOL


def test_float32_tolerance_catches_an_unflipped_filter(monkeypatch):
    """A planted mistake: cross-correlation (filters not flipped) in
    place of Theano's convolution."""
    reference, net = twins(conv_spec(), dtype="float32")
    x, _ = examples(M)
    monkeypatch.setattr(fast, "_filter_rows", lambda w: np.ascontiguousarray(
        w.transpose(0, 2, 3, 1)).reshape(len(w), -1))
    expected = np.array([reference.feedforward(row) for row in x])
    assert relative_error(net.feedforward(x), expected) > FLOAT32_RTOL


@pytest.mark.parametrize("lmbda", [0.0, 0.3])
def test_one_sgd_step_equals_oracle(lmbda):
    reference, net = twins(conv_spec("ReLU", p_dropout=0.5))
    x, y = examples(M, seed=4)
    reference.update_mini_batch(x, y, 0.5, lmbda, 7)
    net.update_mini_batch(x, y, 0.5, lmbda, 7)
    for r, f in zip(reference.layers, net.layers):
        assert relative_error(f.w, r.w) <= ORACLE_RTOL
        assert relative_error(f.b, r.b) <= ORACLE_RTOL


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_one_sgd_step_in_blocks_equals_oracle(monkeypatch, axis):
    """Every product cut into blocks along ``axis`` (as on a BLAS with
    OpenBLAS's small-matrix path, whichever this machine has): the same
    step as the oracle's."""
    monkeypatch.setattr(fast.blas, "block_plan",
                        lambda m, n, k, *flags: (axis, max(1, (m, n, k)[axis]
                                                           // 3)))
    reference, net = twins(conv_spec("ReLU", p_dropout=0.5))
    x, y = examples(M, seed=4)
    reference.update_mini_batch(x, y, 0.5, 0.1, 7)
    net.update_mini_batch(x, y, 0.5, 0.1, 7)
    for r, f in zip(reference.layers, net.layers):
        assert relative_error(f.w, r.w) <= ORACLE_RTOL
        assert relative_error(f.b, r.b) <= ORACLE_RTOL


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("weights", ["C", "Fortran", "float64 in float32"])
def test_step_equals_backprops_gradient_step(dtype, weights):
    """update_mini_batch steps each layer inside the backward pass (fully
    connected layers in one BLAS call); the same step as backprop's
    gradients applied afterwards, also for fully connected weights that
    BLAS cannot update in place (which take NumPy's route)."""
    _, net = twins(conv_spec("ReLU"), dtype=dtype)
    fc = net.layers[2]
    assert type(fc) is fast.FullyConnectedLayer
    if weights == "Fortran":
        fc.w = np.asfortranarray(fc.w)
    elif weights == "float64 in float32":
        fc.w = fc.w.astype(np.float64)
    x, y = examples(M, seed=4)
    nabla_w, nabla_b = net.backprop(x, y)
    expected = [(layer.w * (1 - 0.5 * 0.1) - 0.5 * nw, layer.b - 0.5 * nb)
                for layer, nw, nb in zip(net.layers, nabla_w, nabla_b)]
    net.update_mini_batch(x, y, 0.5, 0.7, 7)
    tolerance = FLOAT32_RTOL if dtype == "float32" else ORACLE_RTOL
    for layer, (w, b) in zip(net.layers, expected):
        assert relative_error(layer.w, w) <= tolerance
        assert relative_error(layer.b, b) <= tolerance


def test_read_only_weights_are_refused_not_written():
    _, net = twins(conv_spec("ReLU"))
    fc = net.layers[2]
    fc.w = fc.w.copy()
    fc.w.setflags(write=False)
    before = fc.w.copy()
    x, y = examples(M, seed=4)
    with pytest.raises(ValueError, match="read-only"):
        net.update_mini_batch(x, y, 0.5, 0.0, 7)
    np.testing.assert_array_equal(fc.w, before)


@pytest.mark.parametrize("odd", ["reversed", "broadcast", "overlapping"])
def test_inputs_and_weights_blas_cannot_read_row_by_row(odd):
    """Views whose rows are reversed, repeated or overlapping: NumPy's
    product instead of the blocked BLAS one, with the same numbers as on
    a copy (they once reached BLAS as if laid out row after row)."""
    np.random.seed(5)
    net = fast.Network([fast.FullyConnectedLayer(784, 100),
                        fast.SoftmaxLayer(100, 10)], 100, dtype="float64")
    rows = np.random.rand(300, 784)
    x = {"reversed": rows[::-1][:100],
         "broadcast": np.broadcast_to(rows[0], (100, 784)),
         "overlapping": np.lib.stride_tricks.sliding_window_view(
             rows.ravel(), 784)[:100]}[odd]
    expected = net.feedforward(np.ascontiguousarray(x))
    np.testing.assert_array_equal(net.feedforward(x), expected)
    w = net.layers[0].w
    net.layers[0].w = np.ascontiguousarray(w[::-1])[::-1]   # equal, reversed
    np.testing.assert_array_equal(
        net.feedforward(np.ascontiguousarray(x)), expected)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_activation_whose_derivative_is_a_number(dtype):
    """A user's linear activation with ``.prime`` returning 1.0 (no
    array): the step still equals the oracle's."""
    def identity(z):
        return z
    identity.prime = lambda z: 1.0
    nets = []
    for module, options in ((oracle, {}), (fast, {"dtype": dtype})):
        np.random.seed(1)
        layers = [module.FullyConnectedLayer(N_IN, 6, activation_fn=identity),
                  module.SoftmaxLayer(6, 3)]
        layers[-1].w = np.random.normal(size=layers[-1].w.shape)
        nets.append(module.Network(layers, M, **options))
    reference, net = nets
    x, y = examples(M, seed=4)
    reference.update_mini_batch(x, y, 0.5, 0.0, 7)
    net.update_mini_batch(x, y, 0.5, 0.0, 7)
    tolerance = FLOAT32_RTOL if dtype == "float32" else ORACLE_RTOL
    for r, f in zip(reference.layers, net.layers):
        assert relative_error(f.w, r.w) <= tolerance


@pytest.mark.parametrize("p_dropout", [0.0, 0.3])
def test_sgd_epochs_equal_oracle_and_print_network3s_lines(p_dropout):
    reference, net = twins(conv_spec("sigmoid", p_dropout))
    training, validation = examples(6 * M + 2, seed=5), examples(10, seed=6)
    arguments = (training, 3, M, 0.5, validation, validation)
    expected = quiet(reference.SGD, *arguments, lmbda=0.1)
    printed = quiet(net.SGD, *arguments, lmbda=0.1)
    for r, f in zip(reference.layers, net.layers):
        assert relative_error(f.w, r.w) <= EPOCHS_RTOL
        assert relative_error(f.b, r.b) <= EPOCHS_RTOL
    assert printed == expected
    lines = printed.splitlines()
    assert lines[0] == "Training mini-batch number 0"
    assert lines[1].startswith("Epoch 0: validation accuracy ")
    assert "Finished training network." in lines
    assert lines[-2].startswith("Best validation accuracy of ")
    assert lines[-1].startswith("Corresponding test accuracy of ")
    assert [epoch for epoch, _, _ in net.history] == [0, 1, 2]


def test_sgd_visits_mini_batches_in_order_unless_asked_to_shuffle():
    spec = conv_spec()
    x, y = examples(3 * M, seed=7)
    by_hand = build(fast, spec, dtype="float64")
    for k in range(3):
        by_hand.update_mini_batch(x[k * M:(k + 1) * M], y[k * M:(k + 1) * M],
                                  0.5, 0.0, 3)
    in_order = build(fast, spec, dtype="float64")
    quiet(in_order.SGD, (x, y), 1, M, 0.5, (x, y), None)
    shuffled = build(fast, spec, dtype="float64")
    quiet(shuffled.SGD, (x, y), 1, M, 0.5, (x, y), None, shuffle=True)
    again = build(fast, spec, dtype="float64")
    quiet(again.SGD, (x, y), 1, M, 0.5, (x, y), None, shuffle=True)
    for a, b, c, d in zip(by_hand.layers, in_order.layers, shuffled.layers,
                          again.layers):
        np.testing.assert_array_equal(a.w, b.w)
        np.testing.assert_array_equal(c.w, d.w)   # same seed, same order
    assert not np.array_equal(in_order.layers[0].w, shuffled.layers[0].w)


#### Gradients against central finite differences
def mean_cost(net, x, y, masks):
    """The mean of -log a_y over the examples, inputs masked by ``masks``
    as in training."""
    a = np.asarray(x, dtype=net.dtype)
    for layer, mask in zip(net.layers, masks):
        a, _ = layer.forward(a, mask)
    return -np.mean(np.log(a[np.arange(len(y)), y]))


def finite_difference_error(net, x, y, masks):
    """The largest error, relative to each parameter array's largest
    gradient entry, of ``net.backprop`` against central differences."""
    nabla_w, nabla_b = net.backprop(x, y, masks)
    worst = 0.0
    for param, gradient in zip(net.params, [g for pair in zip(nabla_w, nabla_b)
                                            for g in pair]):
        estimate = np.zeros(param.shape)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + FD_STEP
            up = mean_cost(net, x, y, masks)
            param[index] = saved - FD_STEP
            down = mean_cost(net, x, y, masks)
            param[index] = saved
            estimate[index] = (up - down) / (2 * FD_STEP)
        worst = max(worst, relative_error(gradient, estimate))
    return worst


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation):
    net = build(fast, conv_spec(activation, p_dropout=0.4), dtype="float64")
    x, y = examples(M, seed=8)
    assert finite_difference_error(net, x, y, net.dropout_masks(M)) <= FD_RTOL


def test_oracle_gradient_matches_finite_differences():
    """The oracle checked on its own, not only through the fast code."""
    reference = build(oracle, conv_spec("tanh"))
    x, y = examples(1, seed=9)
    nabla_w, _ = reference.backprop(x[0], y[0], [np.ones(1)] * 4)
    w = reference.layers[0].w
    index = (1, 0, 1, 0)

    def cost():
        return -np.log(reference.feedforward(x[0])[y[0]])
    saved = w[index]
    w[index] = saved + FD_STEP
    up = cost()
    w[index] = saved - FD_STEP
    down = cost()
    w[index] = saved
    estimate = (up - down) / (2 * FD_STEP)
    assert abs(nabla_w[0][index] - estimate) <= FD_RTOL * np.abs(
        nabla_w[0]).max()


def test_finite_difference_check_catches_a_wrong_derivative(monkeypatch):
    """A planted mistake: tanh's derivative off by 1e-4 relative."""
    net = build(fast, conv_spec("tanh"), dtype="float64")
    x, y = examples(M, seed=8)
    masks = [None] * 4
    for layer in net.layers[:3]:
        layer.activation_fn = lambda z: np.tanh(z)
        layer.activation_fn.prime = (
            lambda z: (1 - np.tanh(z) ** 2) * (1 + 1e-4))
    assert finite_difference_error(net, x, y, masks) > FD_RTOL


#### Dropout
def test_dropout_masks_in_training_scaled_weights_in_evaluation():
    np.random.seed(0)
    net = fast.Network([fast.FullyConnectedLayer(200, 5, p_dropout=0.3),
                        fast.SoftmaxLayer(5, 2, p_dropout=0.5)], 100,
                       dtype="float64")
    net.layers[1].w = np.random.normal(size=(5, 2))   # not zero: gradients
    masks = net.dropout_masks(100)
    assert masks[0].shape == (100, 200) and masks[1].shape == (100, 5)
    assert set(np.unique(masks[0])) == {0.0, 1.0}
    # 20,000 Bernoulli(0.7) draws: standard error 0.0032, 4 sigma = 0.013
    assert abs(masks[0].mean() - 0.7) < 0.013
    # dropped inputs take no part: their weight rows get no gradient
    x, y = examples(100, n_in=200, n_out=2)
    single = [masks[0][:1], masks[1][:1]]
    nabla_w, _ = net.backprop(x[:1], y[:1], single)
    dropped = single[0][0] == 0
    assert np.all(nabla_w[0][dropped] == 0) and np.any(nabla_w[0][~dropped])
    # evaluation: no mask, a w scaled by 1 - p_dropout, no random draws
    state = net.rng.bit_generator.state
    hidden = fast.sigmoid(0.7 * x @ net.layers[0].w + net.layers[0].b)
    expected = fast.softmax(0.5 * hidden @ net.layers[1].w + net.layers[1].b)
    np.testing.assert_allclose(net.feedforward(x), expected, rtol=1e-12)
    np.testing.assert_array_equal(net.feedforward(x), net.feedforward(x))
    assert net.rng.bit_generator.state == state


#### Data
def test_expand_mnist_shifts_each_image_four_ways_deterministically():
    rng = np.random.default_rng(0)
    X = rng.random((3, 784)).astype(np.float32)
    y = np.array([4, 7, 1])
    expanded, labels = fast.expand_mnist((X, y), seed=5)
    assert expanded.shape == (15, 784) and expanded.dtype == np.float32
    images = X.reshape(3, 28, 28)
    for i in range(3):
        # expand_mnist.py's displacements: np.roll, then zero the
        # row or column that wrapped round
        expected = [images[i]]
        for d, axis, index in [(1, 0, 0), (-1, 0, 27), (1, 1, 0), (-1, 1, 27)]:
            shifted = np.roll(images[i], d, axis)
            if axis == 0:
                shifted[index, :] = 0
            else:
                shifted[:, index] = 0
            expected.append(shifted)
        for image in expected:
            matches = np.all(expanded == image.reshape(784), axis=1)
            assert matches.sum() == 1 and labels[matches][0] == y[i]
    again, _ = fast.expand_mnist((X, y), seed=5)
    other, _ = fast.expand_mnist((X, y), seed=6)
    np.testing.assert_array_equal(again, expanded)
    assert not np.array_equal(other, expanded)


def test_load_data_shared_gives_nielsens_split_as_arrays():
    training, validation, test = fast.load_data_shared()
    assert [fast.size(d) for d in (training, validation, test)] == \
        [50000, 10000, 10000]
    assert training[0].shape == (50000, 784)
    assert training[0].dtype == np.float32 and training[1].dtype == np.int64
    assert fast.load_data_shared(dtype="float64")[2][0].dtype == np.float64


#### Bad input, refused before any work
def make_layers(**changes):
    spec = dict(image_shape=(M, 2, 9, 9), filter_shape=(3, 2, 2, 2),
                poolsize=(2, 2), n_in=48, n_out=5)
    spec.update(changes)
    return [fast.ConvPoolLayer(spec["filter_shape"], spec["image_shape"],
                               spec["poolsize"]),
            fast.FullyConnectedLayer(spec["n_in"], spec["n_out"]),
            fast.SoftmaxLayer(spec["n_out"], 3)]


@pytest.mark.parametrize("make, message", [
    (lambda: fast.ConvPoolLayer((3, 2, 10, 2), (M, 2, 9, 9)),
     r"filters of 10x2 do not fit images of 9x9"),
    (lambda: fast.ConvPoolLayer((3, 2, 3, 3), (M, 2, 9, 9)),
     r"poolsize \(2, 2\) does not divide the 7x7 output"),
    (lambda: fast.ConvPoolLayer((3, 1, 2, 2), (M, 2, 9, 9)),
     r"1 input feature maps but image_shape .* has 2"),
    (lambda: fast.ConvPoolLayer((3, 2, 2), (M, 2, 9, 9)),
     r"filter_shape must have 4 entries"),
    (lambda: fast.ConvPoolLayer((3, 2, 2, 2.5), (M, 2, 9, 9)),
     r"filter_shape entry must be an integer"),
    (lambda: fast.ConvPoolLayer((3, 2, 2, 2), (M, 2, 9, 9),
                                activation_fn=np.tanh),
     r"activation_fn must be sigmoid, tanh, ReLU, linear"),
    (lambda: fast.FullyConnectedLayer(0, 5), r"n_in must be at least 1"),
    (lambda: fast.FullyConnectedLayer(4, 5, p_dropout=1.0),
     r"p_dropout must be a number in \[0, 1\)"),
    (lambda: fast.SoftmaxLayer(4, 5, p_dropout=-0.1),
     r"p_dropout must be a number in \[0, 1\)"),
])
def test_bad_layers_are_refused_before_drawing(make, message):
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    with pytest.raises((ValueError, TypeError), match=message):
        make()
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("changes, mini_batch_size, dtype, message", [
    (dict(n_in=50), M, "float32",
     r"layer 1 \(FullyConnectedLayer\) takes 50 inputs but layer 0 "
     r"\(ConvPoolLayer\) gives 48"),
    (dict(image_shape=(M + 1, 2, 9, 9)), M, "float32",
     r"layer 0 \(ConvPoolLayer\): image_shape \(5, 2, 9, 9\) is for "
     r"mini-batches of 5, but mini_batch_size is 4"),
    (dict(last=None), M, "float32", r"the last layer must be a SoftmaxLayer"),
    (dict(first=fast.SoftmaxLayer(162, 162)), M, "float32",
     r"layer 0 \(SoftmaxLayer\): a SoftmaxLayer must be the last layer"),
    (dict(), 0, "float32", r"mini_batch_size must be at least 1"),
    (dict(), M, "int32", r"dtype must be 'float32' or 'float64'"),
])
def test_bad_networks_are_refused_naming_the_numbers(changes, mini_batch_size,
                                                     dtype, message):
    first, last = changes.pop("first", None), "last" in changes
    changes.pop("last", None)
    layers = make_layers(**changes)
    layers = ([first] if first else []) + layers[:2 if last else 3]
    before = [layer.w for layer in layers]
    with pytest.raises((ValueError, TypeError), match=message):
        fast.Network(layers, mini_batch_size, dtype=dtype)
    assert all(layer.w is w and w.dtype == np.float64
               for layer, w in zip(layers, before))
    with pytest.raises(TypeError, match="non-empty list"):
        fast.Network([], M)


def test_weights_replaced_by_the_wrong_shape_or_dtype_are_refused():
    np.random.seed(0)
    net = fast.Network(make_layers(), M, dtype="float64")
    x, y = examples(2 * M)
    net.layers[1].w = np.zeros((48, 4))
    with pytest.raises(ValueError, match=r"layer 1 \(FullyConnectedLayer\): "
                       r"w must be a float64 array of shape \(48, 5\); got "
                       r"float64 \(48, 4\)"):
        quiet(net.SGD, (x, y), 1, M, 0.1, (x, y), None)
    net.layers[1].w = np.zeros((48, 5), dtype=np.float32)
    with pytest.raises(ValueError, match="w must be a float64 array"):
        quiet(net.SGD, (x, y), 1, M, 0.1, (x, y), None)


def test_expand_mnist_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"expand_mnist needs \(X \(n, 784\)"):
        fast.expand_mnist((np.zeros((3, 100)), np.zeros(3, dtype=int)))


def refusal_of(change):
    """SGD on a small network with one argument replaced by ``change``;
    returns the error, and checks nothing moved or printed first."""
    np.random.seed(0)
    net = fast.Network(make_layers(), M, dtype="float64")
    x, y = examples(3 * M)
    arguments = dict(training_data=(x, y), epochs=1, mini_batch_size=M,
                     eta=0.1, validation_data=(x, y), test_data=(x, y))
    arguments.update(change(x, y))
    before = [p.copy() for p in net.params]
    rng_state = net.rng.bit_generator.state
    x_before = x.copy()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), \
            pytest.raises((ValueError, TypeError)) as error:
        net.SGD(**arguments)
    assert out.getvalue() == ""
    for b, p in zip(before, net.params):
        np.testing.assert_array_equal(b, p)
    assert net.rng.bit_generator.state == rng_state
    np.testing.assert_array_equal(x, x_before)
    return str(error.value)


@pytest.mark.parametrize("change, message", [
    (lambda x, y: dict(training_data=(x[:, :-1], y)),
     "training_data X: examples have 161 numbers but the first layer "
     "(ConvPoolLayer, image_shape (4, 2, 9, 9)) takes 2x9x9 = 162"),
    (lambda x, y: dict(validation_data=(x, y + 3)),
     "validation_data: labels must be in 0..2; got 3..5"),
    (lambda x, y: dict(test_data=(x, y[:-1])),
     "test_data: y must have shape (12,); got (11,)"),
    (lambda x, y: dict(training_data=(np.where(x > 0.5, np.nan, x), y)),
     "training_data X holds NaN or infinite values"),
    (lambda x, y: dict(validation_data=(x[:3], y[:3])),
     "validation_data has 3 examples, fewer than one mini-batch of 4"),
    (lambda x, y: dict(training_data=(x, y + 0.5)),
     "training_data: labels y must be integers"),
    (lambda x, y: dict(training_data=x),
     "training_data must be a pair (X, y) of arrays"),
    (lambda x, y: dict(validation_data=(x[0], y)),
     "validation_data X must be a 2-D array of real numbers"),
    (lambda x, y: dict(mini_batch_size=5),
     "SGD's mini_batch_size 5 differs from the network's 4"),
    (lambda x, y: dict(eta=0.0), "eta must be a positive number; got 0.0"),
    (lambda x, y: dict(lmbda=-1.0), "lmbda must be a non-negative number"),
    (lambda x, y: dict(epochs=-1), "epochs must be a non-negative integer"),
])
def test_bad_training_input_is_refused_before_any_work(change, message):
    assert message in refusal_of(change)


#### It learns: a short run on real MNIST
@pytest.mark.slow
def test_conv_network_learns_mnist():
    """The book's one-conv-layer network with ReLU (eta 0.03, as conv.py's
    ReLU runs) on 5,000 training images for one epoch: 500 steps reach
    about 88% on 1,000 validation images (seeds 0 and 1); a network
    that does not learn stays near 10%."""
    training, validation, _ = fast.load_data_shared()
    np.random.seed(0)
    net = fast.Network([
        fast.ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28),
                           activation_fn=fast.ReLU),
        fast.FullyConnectedLayer(20 * 12 * 12, 100, activation_fn=fast.ReLU),
        fast.SoftmaxLayer(100, 10)], 10)
    quiet(net.SGD, (training[0][:5000], training[1][:5000]), 1, 10, 0.03,
          (validation[0][:1000], validation[1][:1000]), None)
    assert net.best_validation_accuracy > 0.8


def test_prediction_checks_its_input_and_takes_any_number_of_rows():
    net = build(fast, conv_spec(), dtype="float64")
    x, y = examples(fast.EVALUATION_CHUNK + 3)
    predictions = net.predict(x)
    assert predictions.shape == (len(x),)
    np.testing.assert_array_equal(predictions,
                                  np.argmax(net.feedforward(x), axis=1))
    assert net.predict(x[:0]).shape == (0,)
    with pytest.raises(ValueError, match="examples have 80 numbers but the "
                       "first layer"):
        net.predict(x[:, :80])
    with pytest.raises(TypeError, match="2-D array"):
        net.feedforward(x[0])
    quiet(net.SGD, (x[:8], y[:8]), 1, M, 0.1, (x[:8], y[:8]), (x, y))
    np.testing.assert_array_equal(net.test_mb_predictions(1),
                                  net.predict(x[M:2 * M]))


#### For the command line: per-epoch reports, presets, descriptions
def test_on_epoch_reports_each_epoch_and_leaves_the_printed_lines():
    arguments = (examples(6 * M, seed=5), 3, M, 0.5, examples(10, seed=6),
                 examples(10, seed=7))
    plain = build(fast, conv_spec())
    expected = quiet(plain.SGD, *arguments)
    records = []
    net = build(fast, conv_spec())
    assert quiet(net.SGD, *arguments, on_epoch=records.append) == expected
    assert [(r["epoch"], r["validation_accuracy"], r["test_accuracy"])
            for r in records] == net.history == plain.history
    best = 0.0
    for record in records:   # best: as network3 decides, ties included
        assert record["best"] == (record["validation_accuracy"] >= best)
        best = max(best, record["validation_accuracy"])
        assert record["seconds"] > 0
    silent = build(fast, conv_spec())
    assert quiet(silent.SGD, *arguments, verbose=False) == ""
    assert silent.history == plain.history
    for a, b in zip(silent.params, plain.params):
        np.testing.assert_array_equal(a, b)


def test_a_bad_on_epoch_is_refused_before_any_work():
    net = build(fast, conv_spec())
    before = [p.copy() for p in net.params]
    with pytest.raises(TypeError, match="on_epoch must be callable"):
        net.SGD(examples(2 * M), 1, M, 0.5, examples(M), None, on_epoch=3)
    for a, b in zip(before, net.params):
        np.testing.assert_array_equal(a, b)


def test_progress_bar_over_each_epoch(capsys):
    pytest.importorskip("tqdm")
    net = build(fast, conv_spec())
    net.SGD(examples(6 * M), 1, M, 0.5, examples(M), None, verbose=False,
            progress=True)
    assert "epoch 1/1" in capsys.readouterr().err


#: The book's chapter 6 networks (conv.py and the chapter's text), written
#: out here so that a mistake in PRESETS fails: per layer, kind, n_out,
#: activation, p_dropout; every conv layer has 5x5 filters, 2x2 pools.
BOOK_LAYERS = {
    "shallow": [("FC", 100, "sigmoid", 0), ("Softmax", 10, None, 0)],
    "conv": [("Conv", 20 * 12 * 12, "sigmoid", 0),
             ("FC", 100, "sigmoid", 0), ("Softmax", 10, None, 0)],
    "conv2": [("Conv", 20 * 12 * 12, "sigmoid", 0),
              ("Conv", 40 * 4 * 4, "sigmoid", 0),
              ("FC", 100, "sigmoid", 0), ("Softmax", 10, None, 0)],
    "conv2-relu": [("Conv", 20 * 12 * 12, "ReLU", 0),
                   ("Conv", 40 * 4 * 4, "ReLU", 0),
                   ("FC", 100, "ReLU", 0), ("Softmax", 10, None, 0)],
    "dropout": [("Conv", 20 * 12 * 12, "ReLU", 0),
                ("Conv", 40 * 4 * 4, "ReLU", 0),
                ("FC", 1000, "ReLU", 0.5), ("FC", 1000, "ReLU", 0.5),
                ("Softmax", 10, None, 0.5)],
}
BOOK_LAYERS["conv2-relu-expanded"] = BOOK_LAYERS["conv2-relu"]


@pytest.mark.parametrize("name", sorted(BOOK_LAYERS))
def test_presets_are_the_books_networks(name):
    described = models.describe_layers(models.PRESETS[name].layers(7))
    assert [(d["kind"].replace("Layer", "").replace("FullyConnected", "FC")
             .replace("ConvPool", "Conv"), d["n_out"], d.get("activation"),
             d["p_dropout"]) for d in described] == BOOK_LAYERS[name]
    assert described[0]["n_in"] == 784
    for d in described:
        if d["kind"] == "ConvPoolLayer":
            assert d["filter_shape"][2:] == [5, 5] and \
                d["poolsize"] == [2, 2] and d["image_shape"][0] == 7


@pytest.mark.parametrize("name", sorted(models.PRESETS))
def test_a_network_rebuilt_from_its_description_is_the_same(name):
    np.random.seed(3)
    net = fast.Network(models.PRESETS[name].layers(5), 5, dtype="float64")
    state = np.random.get_state()
    copy = models.from_description(models.describe_layers(net.layers),
                                   net.params, 5, "float64")
    assert np.array_equal(np.random.get_state()[1], state[1])
    x = np.random.default_rng(0).random((7, 784))
    np.testing.assert_array_equal(copy.feedforward(x), net.feedforward(x))


def test_descriptions_are_checked_naming_the_layer_and_field():
    described = models.describe_layers(models.PRESETS["conv"].layers(10))
    described[0]["n_out"] = 2881
    with pytest.raises(ValueError, match=r"layer 0 \(ConvPoolLayer\): n_in, "
                       r"n_out are 784, 2881 but the shapes give 784, 2880"):
        models.parameter_shapes(described)
    with pytest.raises(ValueError, match="layers must be a non-empty list"):
        models.parameter_shapes([])
    bad_w = [np.zeros((2, 2))] * 6
    with pytest.raises(ValueError, match="params must have shapes"):
        models.from_description(models.describe_layers(
            models.PRESETS["conv"].layers(10)), bad_w, 10, "float32")


def test_only_the_named_activations_can_be_described():
    def softplus(z):
        return np.log1p(np.exp(z))
    softplus.prime = fast.sigmoid
    layers = [fast.FullyConnectedLayer(4, 3, activation_fn=softplus),
              fast.SoftmaxLayer(3, 2)]
    with pytest.raises(TypeError, match=r"layer 0 \(FullyConnectedLayer\): "
                       "only sigmoid, tanh, ReLU, linear can be saved"):
        models.describe_layers(layers)


@pytest.mark.parametrize("first", ["fastnet.network3", "fastnet.conv_models"])
def test_network3_still_answers_for_the_names_in_conv_models(first):
    # A fresh interpreter, so that either module may be imported first
    # without a cycle, and the star import finds the names loaded lazily.
    script = (f"import {first}\n"
              "from fastnet.network3 import *\n"
              "from fastnet import network3, conv_models\n"
              "for name in conv_models.__all__:\n"
              "    assert getattr(network3, name) is "
              "getattr(conv_models, name), name\n"
              "assert PRESETS is conv_models.PRESETS\n"
              "assert ACTIVATIONS is conv_models.ACTIVATIONS\n"
              "print(sorted(PRESETS))\n")
    result = subprocess.run([sys.executable, "-c", script],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == repr(sorted(BOOK_LAYERS))
    assert "PRESETS" in dir(fast)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        fast.nothing


def test_feedforward_in_chunks_equals_one_example_at_a_time():
    # 2.5 chunks: the buffers a conv layer reuses between chunks must not
    # leak one chunk's outputs into the next (an O(1) difference).  BLAS
    # blocks a product of one row differently from one of 25: rounding
    # differences, within ORACLE_RTOL for the same reason as there.
    net = build(fast, conv_spec("ReLU"), dtype="float64")
    x = examples(2 * fast.EVALUATION_CHUNK + fast.EVALUATION_CHUNK // 2)[0]
    together = net.feedforward(x)
    assert together.shape == (len(x), 3)
    for i in (0, fast.EVALUATION_CHUNK, len(x) - 1):
        assert relative_error(together[i], net.feedforward(
            x[i:i + 1])[0]) <= ORACLE_RTOL
    np.testing.assert_array_equal(net.predict(x), together.argmax(axis=1))


def test_a_fully_connected_layer_may_feed_a_convolutional_one():
    """Its outputs read as images in network3's channels-first order; the
    gradient comes back in the same order (once a broadcasting error)."""
    def spec():
        return [("FullyConnectedLayer", dict(n_in=N_IN, n_out=2 * 6 * 6)),
                ("ConvPoolLayer", dict(filter_shape=(3, 2, 3, 3),
                                       image_shape=(M, 2, 6, 6),
                                       poolsize=(2, 2))),
                ("SoftmaxLayer", dict(n_in=3 * 2 * 2, n_out=3))]
    reference, net = twins(spec())
    x, y = examples(M, seed=7)
    nabla_w, nabla_b = net.backprop(x, y)
    expected_w, expected_b = oracle_gradient(reference, x, y, [None] * 3)
    assert largest_error(nabla_w, expected_w) <= ORACLE_RTOL
    assert largest_error(nabla_b, expected_b) <= ORACLE_RTOL
