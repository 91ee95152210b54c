"""Each compiled kernel against its naive twin (tests/naive.py).

Every compiled function in ``fastnet.kernels`` has a twin of the same name
in ``naive`` and a test here registered for it with ``@compares``;
``test_every_kernel_has_a_twin_and_a_test`` fails when a kernel is added
without both.  Kernel and twin run on copies of the same arrays, in
float64 and in float32, over a sweep of layer sizes and batch sizes.

Tolerances, relative to the largest entry (``support.relative_error``);
eps is 2^-52 ~ 2.2e-16 in float64 and 2^-23 ~ 1.2e-7 in float32.  Each
twin computes in the kernel's own dtype, so only rounding order differs:

* Exact (0): layout (offsets, views, workspace shapes), gathering rows
  (a copy with one cast) and the bias sums, which kernel and twin both
  add row after row in float64 before one rounding.
* Elementwise, float64 1e-15 (~5 eps) / float32 1e-6 (~8 eps): the same
  few operations on each entry; only the last bit of ``exp`` (NumPy's
  and LLVM's) and where a mixed float32/float64 expression rounds
  differ, so a few ulp (measured: 2.5 eps at most, in sigmoid).
* BLAS sums, float64 1e-13 / float32 1e-5: a product sums k terms (k up
  to 784 here) in BLAS's order, not NumPy's; a rounding error of about
  eps per partial sum grows like sqrt(k) on average and k at worst,
  measured against the scale of the terms.  1e-13 is ~450 eps and 1e-5
  ~80 float32 eps: sqrt(784) = 28 times a few roundings per layer, no
  more (measured: 1.7e-15 / 1.1e-6, in feedforward through 784 inputs).
* A whole run of SGD, float64 1e-13 / float32 1e-5, the BLAS tolerance
  (tightened from 1e-12 / 1e-4 when the twin was float64 only: a
  float32 kernel was then also measured against float64 arithmetic).
  Each of its up to 10 steps moves the parameters by (eta / m) times a
  gradient, small against the parameters themselves, so the steps'
  rounding adds little to that of the forward pass's sums (measured
  over 30 seeds of these runs: 4.2e-15 / 1.1e-6 at worst, at 784
  inputs).

The planted-mistake tests show each tolerance is far below the effect
of a real mistake (a sample dropped from a mini-batch, eta used for
eta / m, errors back-propagated through already-stepped weights, a
sample missing from a gradient, the wrong sigmoid' in the output error).
"""

import inspect
import math
import re

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import naive
from fastnet import blas, conv_kernels, kernels
from fastnet.kernels import CROSS_ENTROPY, QUADRATIC, Net, Step
from support import assert_layers_close, relative_error

FLOATS = [np.float64, np.float32]
ELEMENTWISE_RTOL = {np.float64: 1e-15, np.float32: 1e-6}
SUM_RTOL = {np.float64: 1e-13, np.float32: 1e-5}
SGD_RTOL = SUM_RTOL
COSTS = [QUADRATIC, CROSS_ENTROPY]

SIZES = [[1, 1], [3, 2], [5, 4, 3], [7, 6, 5, 4], [784, 30, 10]]
# (rows, columns) of the elementwise kernels' arrays.
SHAPES = [(1, 1), (7, 5), (10, 30), (3, 784)]

#: kernel name -> names of the tests comparing it with its twin.
COMPARED = {}


def compares(*names):
    """Register the decorated test as comparing these kernels with their
    twins."""
    def register(test):
        for name in names:
            COMPARED.setdefault(name, []).append(test)
        return test
    return register


def compiled_kernels():
    """Names of the Numba-compiled functions defined in fastnet.kernels
    and fastnet.conv_kernels."""
    return sorted(name for module in (kernels, conv_kernels)
                  for name, obj in vars(module).items()
                  if isinstance(obj, CPUDispatcher)
                  and obj.py_func.__module__ == module.__name__)


def test_every_kernel_has_a_twin_and_a_test():
    names = compiled_kernels() + ["make_net", "param_offsets"]
    assert {"train_batches", "backward_step", "sigmoid", "im2col",
            "max_pool", "col2im"} <= set(names)
    for name in names:
        twin = getattr(naive, name, None)
        assert callable(twin), f"tests/naive.py has no twin {name}"
        assert name in COMPARED, f"no test here is registered for {name}"
        for test in COMPARED[name]:
            source = inspect.getsource(test)
            for module in ("(?:conv_)?kernels", "naive"):
                assert re.search(rf"\b{module}\.{name}\b", source), \
                    f"{test.__name__} does not use {module}.{name}"
    assert set(COMPARED) <= set(names), "registered for no such kernel"


def test_twins_call_no_compiled_code():
    assert "kernels" not in vars(naive)
    assert not [name for name, obj in vars(naive).items()
                if isinstance(obj, CPUDispatcher)]


# -- Helpers ------------------------------------------------------------------


def random_net(sizes, rng, dtype=np.float64):
    weights = [rng.standard_normal((y, x)) for x, y in zip(sizes[:-1],
                                                            sizes[1:])]
    biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
    return kernels.make_net(naive.pack(weights, biases).astype(dtype), sizes)


def layers(sizes, flat):
    """Every layer's weights, then every layer's biases, of ``flat``."""
    weights, biases = naive.unpack(sizes, flat)
    return weights + biases


def copy_net(net):
    return Net(net.params.copy(), net.sizes, net.offsets)


def zeroed_workspace(net, batch):
    """A kernel-made workspace with every buffer zeroed, so that whole
    buffers can be compared afterwards (and writes outside a block show)."""
    workspace = kernels.make_workspace(net.sizes, batch, net.params)
    for buffer in (workspace[0], workspace[2], workspace[3], workspace[4]):
        buffer[:] = 0
    return workspace


def copy_workspace(workspace):
    return tuple(buffer.copy() for buffer in workspace)


def place(view, buffer):
    """(offset in elements into ``buffer``, shape, strides) of ``view``, a
    view into ``buffer``; None if it is not one."""
    if not np.shares_memory(view, buffer):
        return None
    offset = (view.ctypes.data - buffer.ctypes.data) // buffer.itemsize
    return offset, view.shape, view.strides


def assert_same_view(view, twin, buffer):
    """``view`` and ``twin`` are the same block of ``buffer``."""
    assert place(view, buffer) is not None
    assert place(view, buffer) == place(twin, buffer)


def after_forward_pass(sizes, dtype, m, batch, seed):
    """A network and a workspace holding the activations of ``m`` random
    samples (the kernel's forward pass, so later kernels start equal),
    desired outputs ``Y`` (m, n_out)."""
    rng = np.random.default_rng(seed)
    net = random_net(sizes, rng, dtype)
    workspace = zeroed_workspace(net, batch)
    naive.activations(workspace, net, 0, m)[...] = rng.random((m, sizes[0]))
    kernels.forward_pass(net, workspace, m)
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)].astype(dtype)
    return net, workspace, Y


# -- Layout -------------------------------------------------------------------


@compares("param_offsets", "make_net", "layer_weights", "layer_biases")
@pytest.mark.parametrize("sizes", SIZES)
def test_layout(sizes):
    params = np.arange(naive.param_offsets(sizes)[-1], dtype=np.float64)
    np.testing.assert_array_equal(kernels.param_offsets(np.array(sizes)),
                                  naive.param_offsets(sizes))
    net, twin_net = kernels.make_net(params, sizes), naive.make_net(params,
                                                                   sizes)
    assert net.params is params and twin_net.params is params
    for field in ("sizes", "offsets"):
        assert getattr(net, field).dtype == np.int64
        np.testing.assert_array_equal(getattr(net, field),
                                      getattr(twin_net, field))
    for l in range(len(sizes) - 1):
        for view, twin in ((kernels.layer_weights(params, net, l),
                            naive.layer_weights(params, net, l)),
                           (kernels.layer_biases(params, net, l),
                            naive.layer_biases(params, net, l))):
            assert_same_view(view, twin, params)


# -- Elementwise maths --------------------------------------------------------


@compares("sigmoid", "sigmoid_prime")
@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_including_saturation(dtype):
    z = np.concatenate([np.linspace(-50, 50, 1001),
                        [-800.0, 800.0, 0.0]]).astype(dtype)
    with np.errstate(over="ignore"):
        assert relative_error(kernels.sigmoid(z), naive.sigmoid(z)) <= \
            ELEMENTWISE_RTOL[dtype]
        assert relative_error(kernels.sigmoid_prime(z),
                              naive.sigmoid_prime(z)) <= \
            ELEMENTWISE_RTOL[dtype]
    assert kernels.sigmoid(-800.0) == 0.0 and kernels.sigmoid(800.0) == 1.0
    assert kernels.sigmoid(0.0) == 0.5 and kernels.sigmoid_prime(0.0) == 0.25


def in_place(kernel, twin, arrays, written):
    """Run ``kernel`` and ``twin`` on copies of ``arrays`` and return the
    two versions of ``arrays[written]``."""
    ours, theirs = ([a.copy() if isinstance(a, np.ndarray) else a
                     for a in arrays] for _ in range(2))
    kernel(*ours)
    twin(*theirs)
    return ours[written], theirs[written]


EXP_ARGUMENTS = np.concatenate([
    np.linspace(-720.0, 720.0, 20001), np.linspace(709.0, 710.0, 1001),
    np.random.default_rng(2).standard_normal(2000) * 30,
    [0.0, -0.0, 1e-300, -1e-300, 0.5 * np.log(2), -0.5 * np.log(2)]])
#: exp is a polynomial after an exact-as-possible range reduction: a few
#: ulps entry by entry (no cancellation here to excuse more).
EXP_RTOL = 4 * np.finfo(np.float64).eps


@compares("exp")
def test_exp():
    ours = np.array([kernels.exp(v) for v in EXP_ARGUMENTS])
    theirs = naive.exp(EXP_ARGUMENTS)
    finite = np.isfinite(theirs)
    assert np.max(np.abs(ours[finite] - theirs[finite]) / theirs[finite]) \
        <= EXP_RTOL
    np.testing.assert_array_equal(ours[~finite], theirs[~finite])   # inf
    specials = [kernels.exp(v) for v in (np.nan, np.inf, -np.inf)]
    assert np.isnan(specials[0]) and specials[1] == np.inf
    assert abs(specials[2] / naive.exp(-np.inf) - 1) <= EXP_RTOL


def test_exp_tolerance_catches_a_short_series():
    """Taylor's series stopped at r^6 (enough for float32) misses by far
    more than the tolerance."""
    x = EXP_ARGUMENTS.clip(-708, 709)
    n = np.floor(x / np.log(2) + 0.5)
    r = x - n * np.log(2)
    short = sum(r ** k / math.factorial(k) for k in range(7)) * 2.0 ** n
    theirs = naive.exp(x)
    assert np.max(np.abs(short - theirs) / theirs) > 1e3 * EXP_RTOL


@compares("activate")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_activate(dtype, shape):
    rng = np.random.default_rng(1)
    Z = (4 * rng.standard_normal(shape)).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    ours, theirs = in_place(kernels.activate, naive.activate, [Z, b], 0)
    assert relative_error(ours, theirs) <= ELEMENTWISE_RTOL[dtype]


@compares("output_error")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_output_error(dtype, cost, shape):
    rng = np.random.default_rng(2)
    A = rng.random(shape).astype(dtype)
    Y = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])].astype(dtype)
    D, twin_D = np.full_like(A, np.nan), np.full_like(A, np.nan)
    kernels.output_error(A, Y, cost, D)
    naive.output_error(A, Y, cost, twin_D)
    assert relative_error(D, twin_D) <= ELEMENTWISE_RTOL[dtype]


def test_output_error_uses_sigmoid_prime_of_z():
    """delta^L = (a - y) sigmoid'(z): the kernel takes sigmoid'(z) as
    a (1 - a) from the activation, Nielsen from z."""
    z = np.linspace(-8, 8, 12).reshape(3, 4)
    A, Y = naive.sigmoid(z), np.zeros((3, 4))
    D = np.empty_like(A)
    kernels.output_error(A, Y, QUADRATIC, D)
    assert relative_error(D, A * naive.sigmoid_prime(z)) <= 1e-15


@compares("hidden_error")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_hidden_error(dtype, shape):
    rng = np.random.default_rng(3)
    P = rng.standard_normal(shape).astype(dtype)
    A = rng.random(shape).astype(dtype)
    ours, theirs = in_place(kernels.hidden_error, naive.hidden_error, [P, A],
                            0)
    assert relative_error(ours, theirs) <= ELEMENTWISE_RTOL[dtype]


# -- One layer's sums ---------------------------------------------------------

LAYERS = [(1, 1, 1), (10, 784, 30), (3, 5, 2), (100, 30, 10)]  # m, n_in, n_out


def layer_arrays(m, n_in, n_out, dtype, seed):
    """A layer's errors D (m, n_out) and inputs A (m, n_in)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, n_out)).astype(dtype),
            rng.random((m, n_in)).astype(dtype))


@compares("sum_rows")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("m, n_in, n_out", LAYERS)
def test_sum_rows_adds_in_order_exactly(dtype, m, n_in, n_out):
    D, _ = layer_arrays(m, n_in, n_out, dtype, seed=4)
    out, twin_out = np.full(n_out, np.nan, dtype), np.full(n_out, np.nan,
                                                           dtype)
    kernels.sum_rows(D, out)
    naive.sum_rows(D, twin_out)
    np.testing.assert_array_equal(out, twin_out)


@compares("accumulate_gradient")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("m, n_in, n_out", LAYERS)
def test_accumulate_gradient(dtype, m, n_in, n_out):
    D, A = layer_arrays(m, n_in, n_out, dtype, seed=5)
    grads = [np.full((n_out, n_in), np.nan, dtype),
             np.full(n_out, np.nan, dtype)]
    twins = [g.copy() for g in grads]
    kernels.accumulate_gradient(D, A, *grads)
    naive.accumulate_gradient(D, A, *twins)
    assert relative_error(grads[0], twins[0]) <= SUM_RTOL[dtype]
    np.testing.assert_array_equal(grads[1], twins[1])


@compares("layer_product")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("m, n, k, transpose_a, transpose_b", [
    (100, 30, 784, False, True), (100, 784, 30, False, False),
    (30, 784, 100, True, False), (10, 100, 30, False, True),
    (3, 2, 1, True, True)])
@pytest.mark.parametrize("blocks", [False, True])
def test_layer_product(dtype, m, n, k, transpose_a, transpose_b, blocks):
    """With ``blocks`` (whatever the BLAS), the products of
    [784, 30, 10] at a mini-batch of 100, which OpenBLAS takes in pieces;
    alpha and beta as a gradient step uses them."""
    a, b = product_factors(m, n, k, transpose_a, transpose_b, dtype)
    c = np.random.default_rng(36).standard_normal((m, n)).astype(dtype)
    ours, theirs = in_place(kernels.layer_product, naive.layer_product,
                            [c, a, b, transpose_a, transpose_b, -0.5, 0.9,
                             blocks], 0)
    assert relative_error(ours, theirs) <= SUM_RTOL[dtype]
    assert relative_error(ours, 0.9 * c) > 1e3 * SUM_RTOL[dtype]


@compares("step_layer")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("decay", [1.0, 0.999])
@pytest.mark.parametrize("m, n_in, n_out", LAYERS)
@pytest.mark.parametrize("blocks", [False, True])
def test_step_layer(dtype, decay, m, n_in, n_out, blocks):
    """The weight update sums m products per entry in BLAS's order (BLAS
    tolerance); the bias update and the bias gradient left in the
    scratch row are the same expressions (bit for bit in float64)."""
    D, A = layer_arrays(m, n_in, n_out, dtype, seed=6)
    rng = np.random.default_rng(7)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    arrays = [W, b, D, A]
    ours, theirs = [a.copy() for a in arrays], [a.copy() for a in arrays]
    rows = [np.full(n_out, np.nan, dtype) for _ in range(2)]
    kernels.step_layer(*ours, decay, 3.0 / m, rows[0], blocks)
    naive.step_layer(*theirs, decay, 3.0 / m, rows[1], blocks)
    assert relative_error(ours[0], theirs[0]) <= SUM_RTOL[dtype]
    np.testing.assert_array_equal(rows[0], rows[1])
    if dtype == np.float64:
        np.testing.assert_array_equal(ours[1], theirs[1])
    assert relative_error(ours[1], theirs[1]) <= ELEMENTWISE_RTOL[dtype]


@compares("gather_rows")
@pytest.mark.parametrize("source_dtype", FLOATS)
@pytest.mark.parametrize("out_dtype", FLOATS)
@pytest.mark.parametrize("first, rows", [(0, 1), (1, 3), (0, 5), (4, 1)])
def test_gather_rows_casts_and_follows_the_index(source_dtype, out_dtype,
                                                 first, rows):
    source = (np.arange(20, dtype=np.float64).reshape(5, 4) / 3).astype(
        source_dtype)
    index = np.array([4, 0, 2, 2, 1])
    out, twin_out = (np.full((rows, 4), np.nan, out_dtype) for _ in range(2))
    kernels.gather_rows(source, index, first, out)
    naive.gather_rows(source, index, first, twin_out)
    np.testing.assert_array_equal(out, twin_out)


# -- Samples read where they are (Nielsen's tuples) ---------------------------


def nielsen_pairs(n, n_in, n_out, x_dtype=np.float32, seed=30):
    """``n`` Nielsen-format (x, y) tuples: x an (n_in, 1) view of one
    array, as mnist_loader gives them, y a fresh (n_out, 1) one-hot."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in)).astype(x_dtype)
    return [(X[i].reshape(n_in, 1), np.eye(n_out)[[rng.integers(n_out)]].T)
            for i in range(n)]


def misaligned(x):
    """A copy of ``x`` one byte off its dtype's alignment."""
    buffer = np.zeros(x.nbytes + 1, np.uint8)[1:]
    copy = buffer.view(x.dtype).reshape(x.shape)
    copy[...] = x
    assert not copy.flags.aligned
    return copy


def bad_pairs(pairs):
    """Copies of ``pairs`` with one entry each way wrong for reading in
    place, and what is wrong."""
    x, y = pairs[0]
    wide = np.zeros((2 * len(x), 1), x.dtype)
    cases = {"a list, not a tuple": [x, y], "three items": (x, y, y),
             "x a list": (x.tolist(), y), "x a matrix": (np.asmatrix(x), y),
             "x float64": (x.astype(np.float64), y),
             "x (n_in,)": (x.ravel(), y), "x (1, n_in)": (x.T.copy(), y),
             "x strided": (wide[::2], y),
             "x misaligned": (misaligned(x), y),
             "y (n_out + 1, 1)": (x, np.zeros((len(y) + 1, 1))),
             "y float32": (x, y.astype(np.float32))}
    for reason, pair in cases.items():
        for position in (0, len(pairs) // 2, len(pairs) - 1):
            yield reason, position, pairs[:position] + [pair] + \
                pairs[position + 1:]


def layout_for(pairs, n_in, n_out):
    x, y = pairs[0]
    return np.concatenate([kernels.OBJECT_LAYOUT, np.array(
        [id(tuple), id(np.ndarray), id(x.dtype), id(y.dtype), n_in, n_out],
        np.int64)])


def test_object_layout_is_found():
    assert kernels.OBJECT_LAYOUT is not None  # CPython, little-endian


@compares("pair_addresses", "array_address")
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # matrix
def test_pair_addresses_finds_the_arrays_and_refuses_the_rest():
    pairs = nielsen_pairs(7, 5, 3)
    layout = layout_for(pairs, 5, 3)
    for reason, position, given in [("none", -1, pairs),
                                    *bad_pairs(pairs)]:
        ids = np.array([id(pair) for pair in given], np.int64)
        out = [np.full(len(given), -7, np.int64) for _ in range(4)]
        found = kernels.pair_addresses(ids, layout, out[0], out[1])
        twin = naive.pair_addresses(ids, layout, out[2], out[3])
        assert found == twin == position, reason
        np.testing.assert_array_equal(out[0], out[2])
        np.testing.assert_array_equal(out[1], out[3])
    x, y = pairs[0]
    assert kernels.array_address(id(x), layout, id(x.dtype), 5) == \
        naive.array_address(id(x), layout, id(x.dtype), 5) == x.ctypes.data
    assert kernels.array_address(id(x), layout, id(y.dtype), 5) == \
        naive.array_address(id(x), layout, id(y.dtype), 5) == -1


@pytest.mark.parametrize("x_dtype", FLOATS)
def test_pairs_in_place_reads_what_stacking_copies(x_dtype):
    pairs = nielsen_pairs(9, 6, 4, x_dtype)
    X, Y = kernels.pairs_in_place(pairs, 6, 4)
    for rows, side in ((X, 0), (Y, 1)):
        assert rows.like.dtype == pairs[0][side].dtype
        np.testing.assert_array_equal(
            naive.take_rows(rows, np.arange(9)),
            np.hstack([pair[side] for pair in pairs]).T)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # matrix
def test_pairs_in_place_refuses_anything_else():
    pairs = nielsen_pairs(6, 5, 3)
    assert kernels.pairs_in_place(pairs, 5, 4) is None
    assert kernels.pairs_in_place(pairs, 4, 3) is None
    assert kernels.pairs_in_place([], 5, 3) is None
    for reason, _, given in bad_pairs(pairs):
        assert kernels.pairs_in_place(given, 5, 3) is None, reason
    for bad in (np.nan, np.inf, -np.inf):
        for side in (0, 1):
            given = [(x.copy(), y.copy()) for x, y in pairs]
            given[4][side][1, 0] = bad
            assert kernels.pairs_in_place(given, 5, 3) is None


@compares("first_nonfinite_row")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("in_place", [False, True])
def test_first_nonfinite_row(dtype, in_place):
    pairs = nielsen_pairs(6, 5, 3, dtype)
    for row, column, bad in [(None, 0, 0), (0, 0, np.nan), (3, 4, np.inf),
                             (5, 2, -np.inf)]:
        given = [(x.copy(), y) for x, y in pairs]
        if row is not None:
            given[row][0][column, 0] = bad
        source = np.hstack([x for x, _ in given]).T
        if in_place:
            source = kernels.RowsAt(np.array([x.ctypes.data for x, _ in given],
                                             np.int64), 5, np.empty(0, dtype))
        expected = -1 if row is None else row
        assert kernels.first_nonfinite_row(source, 6) == \
            naive.first_nonfinite_row(source, 6) == expected
        assert kernels.first_nonfinite_row(source, expected) == -1 \
            if row else True


@compares("gather_rows")
@pytest.mark.parametrize("out_dtype", FLOATS)
def test_gather_rows_in_place(out_dtype):
    pairs = nielsen_pairs(5, 4, 3)
    X, _ = kernels.pairs_in_place(pairs, 4, 3)
    index = np.array([4, 0, 2, 2, 1])
    out, twin_out = (np.full((3, 4), np.nan, out_dtype) for _ in range(2))
    kernels.gather_rows(X, index, 1, out)
    naive.gather_rows(X, index, 1, twin_out)
    np.testing.assert_array_equal(out, twin_out)
    np.testing.assert_array_equal(out, np.hstack(
        [pairs[i][0] for i in index[1:4]]).T)


@compares("prefetch_rows")
@pytest.mark.parametrize("in_place", [False, True])
def test_prefetch_rows_changes_nothing(in_place):
    """A cache hint: runs on both kinds of source, past the last row's
    index too, and leaves every argument as it was (as the twin does)."""
    pairs = nielsen_pairs(5, 40, 3)
    source = kernels.pairs_in_place(pairs, 40, 3)[0] if in_place else \
        np.hstack([x for x, _ in pairs]).T.copy()
    index = np.array([4, 0, 2, 3, 1])
    before = naive.take_rows(source, np.arange(5)).copy()
    for first, count in ((0, 5), (3, 10), (5, 2)):
        kernels.prefetch_rows(source, index, first, count)
        naive.prefetch_rows(source, index, first, count)
    np.testing.assert_array_equal(naive.take_rows(source, np.arange(5)), before)
    np.testing.assert_array_equal(index, [4, 0, 2, 3, 1])


# -- The workspace ------------------------------------------------------------


@compares("make_workspace", "block", "activations")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("batch", [1, 10])
def test_workspace_layout(dtype, sizes, batch):
    net = kernels.make_net(np.zeros(naive.param_offsets(sizes)[-1], dtype),
                           sizes)
    workspace = kernels.make_workspace(net.sizes, batch, net.params)
    twin = naive.make_workspace(net.sizes, batch, net.params)
    assert len(workspace) == len(twin)
    for buffer, twin_buffer in zip(workspace, twin):
        assert (buffer.shape, buffer.dtype) == (twin_buffer.shape,
                                                twin_buffer.dtype)
    np.testing.assert_array_equal(workspace[1], twin[1])
    acts = workspace[0]
    for m in {1, batch}:
        for l in range(len(sizes)):
            assert_same_view(kernels.activations(workspace, net, l, m),
                             naive.activations(workspace, net, l, m), acts)
            start = workspace[1][l]
            assert_same_view(kernels.block(acts, start, m, sizes[l]),
                             naive.block(acts, start, m, sizes[l]), acts)


@compares("forward_pass")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m, batch", [(1, 1), (3, 5), (12, 12)])
def test_forward_pass(dtype, sizes, m, batch):
    rng = np.random.default_rng(8)
    net = random_net(sizes, rng, dtype)
    workspace = zeroed_workspace(net, batch)
    naive.activations(workspace, net, 0, m)[...] = rng.random((m, sizes[0]))
    twin = copy_workspace(workspace)
    kernels.forward_pass(net, workspace, m)
    naive.forward_pass(net, twin, m)
    # Whole buffers: rows m .. batch-1 must stay untouched (zero).
    assert_layers_close(
        [naive.activations(workspace, net, l, batch)
         for l in range(len(sizes))],
        [naive.activations(twin, net, l, batch) for l in range(len(sizes))],
        SUM_RTOL[dtype])


@compares("forward_from")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m, batch", [(1, 1), (3, 5)])
def test_forward_from_inputs_outside_the_workspace(dtype, sizes, m, batch):
    """Every layer above the input written as forward_pass writes it;
    layer 0 of the workspace untouched (zero)."""
    rng = np.random.default_rng(24)
    net = random_net(sizes, rng, dtype)
    workspace = zeroed_workspace(net, batch)
    twin = copy_workspace(workspace)
    inputs = rng.random((m, sizes[0])).astype(dtype)
    kernels.forward_from(net, workspace, inputs, m)
    naive.forward_from(net, twin, inputs, m)
    assert_layers_close(
        [naive.activations(workspace, net, l, batch)
         for l in range(len(sizes))],
        [naive.activations(twin, net, l, batch) for l in range(len(sizes))],
        SUM_RTOL[dtype])
    assert not workspace[0][:batch * sizes[0]].any()


def assert_same_errors(workspace, twin, dtype):
    """Both error buffers equal, to the tolerance of the sums behind them."""
    for k in (2, 3):
        assert relative_error(workspace[k], twin[k]) <= SUM_RTOL[dtype]


@compares("output_layer_error", "error_below")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m, batch", [(1, 1), (3, 5), (12, 12)])
def test_errors_layer_by_layer(dtype, cost, sizes, m, batch):
    """delta^L, then delta^l for each hidden layer from the one above,
    each written in the error buffer the one above is not in."""
    net, workspace, Y = after_forward_pass(sizes, dtype, m, batch, seed=9)
    twin = copy_workspace(workspace)
    D = kernels.output_layer_error(net, workspace, m, Y, cost)
    twin_D = naive.output_layer_error(net, twin, m, Y, cost)
    for l in range(len(sizes) - 2, -1, -1):
        places = [place(D, buffer) for buffer in workspace[2:4]]
        assert places.count(None) == 1
        assert places == [place(twin_D, buffer) for buffer in twin[2:4]]
        assert_same_errors(workspace, twin, dtype)
        if l > 0:
            D = kernels.error_below(net, workspace, l, D, m)
            twin_D = naive.error_below(net, twin, l, twin_D, m)


@compares("backward_gradient")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m, batch", [(1, 1), (3, 5), (12, 12)])
def test_backward_gradient(dtype, cost, sizes, m, batch):
    net, workspace, Y = after_forward_pass(sizes, dtype, m, batch, seed=10)
    grad = np.full_like(net.params, np.nan)
    twin_grad = grad.copy()
    kernels.backward_gradient(net, workspace, m, Y, cost, grad)
    naive.backward_gradient(net, copy_workspace(workspace), m, Y, cost,
                            twin_grad)
    assert_layers_close(layers(sizes, grad), layers(sizes, twin_grad),
                        SUM_RTOL[dtype])


@compares("backward_step")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("step", [Step(3.0, 1.0, QUADRATIC),
                                  Step(0.5, 0.999, CROSS_ENTROPY)])
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m, batch", [(1, 1), (3, 5), (12, 12)])
def test_backward_step(dtype, step, sizes, m, batch):
    net, workspace, Y = after_forward_pass(sizes, dtype, m, batch, seed=11)
    twin_net = copy_net(net)
    acts = workspace[0].copy()
    kernels.backward_step(net, workspace, m, Y, step)
    naive.backward_step(twin_net, copy_workspace(workspace), m, Y, step)
    assert relative_error(net.params, twin_net.params) <= SUM_RTOL[dtype]
    np.testing.assert_array_equal(workspace[0], acts)


# -- Whole passes over data ---------------------------------------------------


def labelled_data(sizes, n, seed):
    """``n`` random inputs (float32, as the loaders give) and one-hot
    desired outputs (float64)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0])).astype(np.float32)
    return X, np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]


SGD_RUNS = [([5, 4, 3], 1, 7), ([5, 4, 3], 3, 10), ([7, 6, 5, 4], 4, 16),
            ([20, 10], 7, 30), ([784, 30, 10], 10, 95),
            ([784, 30, 10], 100, 250)]  # sizes, batch, n


@compares("train_batches")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("step", [Step(3.0, 1.0, QUADRATIC),
                                  Step(0.5, 0.999, CROSS_ENTROPY)])
@pytest.mark.parametrize("sizes, batch_size, n", SGD_RUNS)
@pytest.mark.parametrize("blocks", [False, True])
def test_train_batches(dtype, step, sizes, batch_size, n, blocks):
    """Two calls covering the epoch (as the networks make them) against
    the twin's one call over all of it; with and without the products
    cut into OpenBLAS's small-matrix blocks (the plan cuts those of
    [784, 30, 10] at a mini-batch of 100), whatever this machine's BLAS."""
    net = random_net(sizes, np.random.default_rng(12), dtype)._replace(
        blocks=blocks)
    X, Y = labelled_data(sizes, n, seed=13)
    order = np.random.default_rng(14).permutation(n)
    twin_net = copy_net(net)
    batches = -(-n // batch_size)
    for first, stop in ((0, batches // 2), (batches // 2, batches)):
        kernels.train_batches(net, X, Y, order, batch_size, first, stop,
                              step)
    naive.train_batches(twin_net, X, Y, order, batch_size, 0, batches, step)
    assert relative_error(net.params, twin_net.params) <= SGD_RTOL[dtype]


@compares("train_batches")
@pytest.mark.parametrize("dtype", FLOATS)
def test_train_batches_on_rows_in_place(dtype):
    """The caller's own arrays (``RowsAt``) train to exactly the numbers
    the stacked copies do: the same values are gathered."""
    sizes, batch_size, n = [12, 6, 4], 5, 23
    pairs = nielsen_pairs(n, 12, 4, seed=31)
    in_place = kernels.pairs_in_place(pairs, 12, 4)
    stacked = [np.hstack([pair[side] for pair in pairs]).T.copy()
               for side in (0, 1)]
    order = np.random.default_rng(32).permutation(n)
    net = random_net(sizes, np.random.default_rng(33), dtype)
    twin_net = copy_net(net)
    step = Step(3.0, 1.0, QUADRATIC)
    kernels.train_batches(net, *in_place, order, batch_size, 0, 5, step)
    kernels.train_batches(twin_net, *stacked, order, batch_size, 0, 5, step)
    np.testing.assert_array_equal(net.params, twin_net.params)
    naive.train_batches(twin_net, *in_place, order, batch_size, 0, 5, step)
    kernels.train_batches(net, *in_place, order, batch_size, 0, 5, step)
    assert relative_error(net.params, twin_net.params) <= SGD_RTOL[dtype]


@compares("gradient")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m", [1, 3, 12])
def test_gradient(dtype, cost, sizes, m):
    net = random_net(sizes, np.random.default_rng(15), dtype)
    X, Y = labelled_data(sizes, m, seed=16)
    grad = kernels.gradient(net, X, Y, cost)
    assert grad.dtype == dtype
    assert_layers_close(layers(sizes, grad),
                        layers(sizes, naive.gradient(net, X, Y, cost)),
                        SUM_RTOL[dtype])


@compares("column_forward")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_dtype", FLOATS)
@pytest.mark.parametrize("sizes", SIZES)
def test_column_forward(dtype, x_dtype, sizes):
    """One sample's forward pass: held to the BLAS tolerance, and empty
    (the caller's signal to refuse it) when the sample holds NaN or
    infinity."""
    net = random_net(sizes, np.random.default_rng(19), dtype)
    x = np.random.default_rng(20).random(sizes[0]).astype(x_dtype)
    out = kernels.column_forward(net, x)
    assert out.dtype == dtype and out.shape == (sizes[-1],)
    assert relative_error(out, naive.column_forward(net, x)) <= \
        SUM_RTOL[dtype]
    for bad in (np.nan, np.inf, -np.inf):
        x_bad = x.copy()
        x_bad[-1] = bad
        assert kernels.column_forward(net, x_bad).shape == (0,)
        assert naive.column_forward(net, x_bad).shape == (0,)


@compares("forward_batch")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m", [1, 5, 700, 10**6])
def test_forward_batch(dtype, sizes, m):
    """Blocks bounded by all their activations, not only their inputs."""
    net = random_net(sizes, np.random.default_rng(23), dtype)
    batch = kernels.forward_batch(net, m)
    assert batch == naive.forward_batch(net, m)
    assert 1 <= batch <= m


@pytest.mark.parametrize("dtype", FLOATS)
def test_forward_batch_counts_every_layer(dtype):
    """A network of 2 inputs and wide hidden layers gets small blocks."""
    wide = random_net([2, 1000, 1000, 2], np.random.default_rng(23), dtype)
    rows = kernels.forward_batch(wide, 10**6)
    assert rows * 2002 * np.dtype(dtype).itemsize <= \
        kernels.FORWARD_BLOCK_BYTES


def rows_laid_out(X, layout):
    """``X`` (m, n) as a C array, a Fortran one (a C-order matrix of
    columns, transposed) or a view with gaps between rows and between
    inputs."""
    if layout == "C":
        return np.ascontiguousarray(X)
    if layout == "F":
        return np.asfortranarray(X)
    spaced = np.zeros((2 * X.shape[0], 2 * X.shape[1]), X.dtype)
    spaced[::2, ::2] = X
    return spaced[::2, ::2]


@compares("forward_rows")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_dtype", FLOATS)
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("m", [1, 5, 700])
@pytest.mark.parametrize("layout", ["C", "F", "spaced"])
def test_forward_rows(dtype, x_dtype, sizes, m, layout):
    """The twin's outputs within the BLAS tolerance, whatever the rows'
    layout.  The same classes, except where the twin's two most activated
    neurons are within that tolerance (rounding may then pick either):
    fewer than one row in ten, so most rows are held to exact equality.
    False for NaN or infinity in any block."""
    net = random_net(sizes, np.random.default_rng(24), dtype)
    X = np.random.default_rng(25).random((m, sizes[0])).astype(x_dtype)
    X = rows_laid_out(X, layout)
    none = np.empty((0, sizes[-1]), dtype), np.empty(0, np.intp)
    outputs, expected = (np.full((m, sizes[-1]), np.nan, dtype)
                         for _ in range(2))
    assert kernels.forward_rows(net, X, outputs, none[1])
    assert naive.forward_rows(net, X, expected, none[1])
    assert relative_error(outputs, expected) <= SUM_RTOL[dtype]
    classes, expected_classes = (np.full(m, -1, np.intp) for _ in range(2))
    assert kernels.forward_rows(net, X, none[0], classes)
    assert naive.forward_rows(net, X, none[0], expected_classes)
    ranked = np.sort(expected, axis=1)
    if sizes[-1] > 1:
        clear = ranked[:, -1] - ranked[:, -2] > \
            SUM_RTOL[dtype] * np.abs(ranked).max()
        assert clear.mean() > 0.9
        np.testing.assert_array_equal(classes[clear],
                                      expected_classes[clear])
    else:
        np.testing.assert_array_equal(classes, 0)
    for bad in (np.nan, np.inf, -np.inf):
        for row in {0, m - 1}:
            X_bad = np.array(X)
            X_bad[row, -1] = bad
            X_bad = rows_laid_out(X_bad, layout)
            assert not kernels.forward_rows(net, X_bad, outputs, classes)
            with np.errstate(invalid="ignore"):
                assert not naive.forward_rows(net, X_bad, expected,
                                              expected_classes)


@compares("all_finite")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_all_finite(dtype, shape):
    """True for finite entries however large (their products with zero
    are zero), False for a NaN or an infinity at any place."""
    rng = np.random.default_rng(26)
    A = rng.standard_normal(shape).astype(dtype)
    A.flat[:2] = np.finfo(dtype).max   # their plain sum overflows
    assert kernels.all_finite(A) and naive.all_finite(A)
    for bad in (np.nan, np.inf, -np.inf):
        for place in {0, A.size // 2, A.size - 1}:
            A_bad = A.copy()
            A_bad.flat[place] = bad
            assert not kernels.all_finite(A_bad)
            assert not naive.all_finite(A_bad)


def test_column_forward_tolerance_catches_a_missing_bias():
    """The tolerance is far below a real mistake's effect: leaving out one
    layer's bias moves the outputs by more than 1e-3."""
    net = random_net([784, 30, 10], np.random.default_rng(21), np.float64)
    x = np.random.default_rng(22).random(784)
    weights, biases = naive.unpack(net.sizes, net.params)
    wrong = naive.forward(weights, [0 * biases[0], biases[1]],
                          x[np.newaxis])[-1][0]
    assert relative_error(kernels.column_forward(net, x), wrong) > 1e-3


# -- The convolutional network's kernels (fastnet.conv_kernels) --------------
# Copies, maxima and their positions: exact.  col2im sums up to kh * kw
# overlapping patches per pixel, in another order than its twin: the BLAS
# tolerance (a patch position left out moves the sums by far more).

CONV_SHAPES = [  # (m, h, w, channels), (kh, kw), (ph, pw)
    ((1, 5, 5, 1), (2, 2), (2, 2)), ((3, 9, 8, 2), (2, 3), (2, 3)),
    ((2, 28, 28, 1), (5, 5), (2, 2)), ((2, 12, 12, 3), (5, 5), (2, 2))]


def conv_layer(shape, kernel_shape, pool, dtype, ties=False, maps=4,
               seed=30):
    """Everything a convolutional layer's kernels take, from random
    images of ``shape`` (cropped so that the pools divide the
    convolution, as network3 checks): a dict of x, columns, conv, bias,
    z, argmax (from the compiled kernels), delta (a gradient with z) and
    filters."""
    (kh, kw), (ph, pw) = kernel_shape, pool
    m, h, w, channels = shape
    oh, ow = (h - kh + 1) // ph * ph, (w - kw + 1) // pw * pw
    h, w = oh + kh - 1, ow + kw - 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, h, w, channels))
    if ties:  # MNIST's blank background: many equal maxima
        x = np.round(x)
    x = x.astype(dtype)
    taps = kh * kw * channels
    columns = np.empty((m * oh * ow, taps), dtype)
    conv_kernels.im2col(x, kh, kw, ph, pw, columns)
    filters = rng.standard_normal((maps, taps)).astype(dtype)
    conv = columns @ filters.T
    if ties:
        conv = np.round(conv)
    windows = m * (oh // ph) * (ow // pw)
    z = np.empty((windows, maps), dtype)
    argmax = np.empty((windows, maps), np.int64)
    bias = rng.standard_normal(maps).astype(dtype)
    conv_kernels.max_pool(conv, bias, z, argmax)
    delta = rng.standard_normal(z.shape).astype(dtype)
    return dict(x=x, columns=columns, conv=conv, bias=bias, z=z,
                argmax=argmax, delta=delta, filters=filters)


def test_conv_kernels_warm_up_compiles_both_precisions():
    conv_kernels.warm_up()
    for kernel in (conv_kernels.im2col, conv_kernels.max_pool,
                   conv_kernels.pool_backward, conv_kernels.col2im,
                   conv_kernels.gradient_step):
        dtypes = {str(array.dtype) for signature in kernel.signatures
                  for array in signature if hasattr(array, "dtype")}
        assert {"float32", "float64"} <= dtypes, kernel


@compares("im2col")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape, kernel_shape, pool", CONV_SHAPES)
def test_im2col(dtype, shape, kernel_shape, pool):
    layer = conv_layer(shape, kernel_shape, pool, dtype)
    ours, theirs = in_place(conv_kernels.im2col, naive.im2col,
                            [layer["x"], *kernel_shape, *pool,
                             layer["columns"]], 5)
    np.testing.assert_array_equal(ours, theirs)


@compares("max_pool")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("shape, kernel_shape, pool", CONV_SHAPES)
def test_max_pool(dtype, ties, shape, kernel_shape, pool):
    layer = conv_layer(shape, kernel_shape, pool, dtype, ties)
    arrays = [layer["conv"], layer["bias"], layer["z"], layer["argmax"]]
    for written in (2, 3):  # the maxima plus bias, then where they are
        ours, theirs = in_place(conv_kernels.max_pool, naive.max_pool,
                                arrays, written)
        np.testing.assert_array_equal(ours, theirs)


SLOPES = [conv_kernels.SLOPE_GIVEN, conv_kernels.SLOPE_SIGMOID,
          conv_kernels.SLOPE_TANH, conv_kernels.SLOPE_RELU]


@compares("pool_backward")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("slope_kind", SLOPES)
@pytest.mark.parametrize("shape, kernel_shape, pool", CONV_SHAPES)
def test_pool_backward(dtype, ties, slope_kind, shape, kernel_shape, pool):
    layer = conv_layer(shape, kernel_shape, pool, dtype, ties)
    z = layer["z"]
    values = z.copy() if slope_kind in (conv_kernels.SLOPE_GIVEN,
                                        conv_kernels.SLOPE_RELU) \
        else np.tanh(z)   # an activation in (-1, 1)
    values.flat[::7] = 0      # ReLU's slope is 1 at 0, as Theano's
    values.flat[3] = np.nan   # a diverged network: no slope, as before
    m = shape[0]
    # the gradient with the output, channels first as network3 sends it
    delta = np.ascontiguousarray(layer["delta"].reshape(
        m, -1, z.shape[1]).transpose(0, 2, 1))
    delta_conv = np.full_like(layer["conv"], np.nan)   # all overwritten
    nabla_b = np.full(z.shape[1], np.nan, dtype)
    arrays = [delta, values, slope_kind, layer["argmax"], delta_conv,
              nabla_b]
    ours, theirs = in_place(conv_kernels.pool_backward, naive.pool_backward,
                            arrays, 4)
    np.testing.assert_array_equal(ours, theirs)   # one product each
    ours, theirs = in_place(conv_kernels.pool_backward, naive.pool_backward,
                            arrays, 5)
    finite = np.isfinite(theirs)
    np.testing.assert_array_equal(finite, np.isfinite(ours))
    assert relative_error(ours[finite], theirs[finite]) <= SUM_RTOL[dtype]


def test_pool_backward_reads_a_channels_last_view():
    """A convolutional layer above sends its gradient as a transposed
    view; the kernel reads it where it lies."""
    layer = conv_layer((2, 12, 12, 3), (5, 5), (2, 2), np.float64)
    z, m = layer["z"], 2
    channels_last = layer["delta"].reshape(m, -1, z.shape[1])
    view = channels_last.transpose(0, 2, 1)   # (m, maps, positions)
    results = []
    for delta in (view, np.ascontiguousarray(view)):
        delta_conv, nabla_b = np.empty_like(layer["conv"]), np.empty(
            z.shape[1])
        conv_kernels.pool_backward(delta, z, conv_kernels.SLOPE_GIVEN,
                                   layer["argmax"], delta_conv, nabla_b)
        results.append((delta_conv, nabla_b))
    for ours, contiguous in zip(*results):
        np.testing.assert_array_equal(ours, contiguous)


def test_pool_backward_tolerance_catches_a_window_left_out():
    layer = conv_layer((2, 12, 12, 3), (5, 5), (2, 2), np.float64)
    z, m = layer["z"], 2
    delta = np.ascontiguousarray(layer["delta"].reshape(
        m, -1, z.shape[1]).transpose(0, 2, 1))
    nabla_b, wrong = np.empty(z.shape[1]), np.empty(z.shape[1])
    conv_kernels.pool_backward(delta, z, conv_kernels.SLOPE_GIVEN,
                               layer["argmax"], np.empty_like(layer["conv"]),
                               nabla_b)
    delta[-1, :, -1] = 0   # the last window's gradient forgotten
    naive.pool_backward(delta, z, conv_kernels.SLOPE_GIVEN, layer["argmax"],
                        np.empty_like(layer["conv"]), wrong)
    assert relative_error(nabla_b, wrong) > 1e3 * SUM_RTOL[np.float64]


#: (m, n, k, transpose_a, transpose_b) of network3's products and odd ones.
PRODUCTS = [(10, 2880, 100, False, True), (5760, 20, 25, False, False),
            (20, 25, 5760, True, False), (40, 500, 640, True, False),
            (7, 5, 3, True, True), (1, 1, 1, False, False)]


def product_factors(m, n, k, transpose_a, transpose_b, dtype, seed=35):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    return a, b


def blocked_product(C, A, B, transpose_a, transpose_b, axis, size):
    """``C`` <- ``op(A) op(B)`` by ``blas.gemm_in_blocks`` in blocks of
    ``size`` along ``axis``, as network3 calls it."""
    blas.gemm_in_blocks(C, A, B, transpose_a, transpose_b, 1.0, 0.0, axis,
                        size)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("m, n, k, transpose_a, transpose_b", PRODUCTS)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_product(dtype, m, n, k, transpose_a, transpose_b, axis):
    a, b = product_factors(m, n, k, transpose_a, transpose_b, dtype)
    size = max((m, n, k)[axis] // 3, 1)   # blocks that do not divide
    c = np.full((m, n), np.nan, dtype)    # all overwritten
    ours, theirs = in_place(blocked_product, naive.product,
                            [c, a, b, transpose_a, transpose_b, axis, size],
                            0)
    assert relative_error(ours, theirs) <= SUM_RTOL[dtype]


@pytest.mark.parametrize("m, n, k, transpose_a, transpose_b", PRODUCTS)
def test_block_plan_cuts_into_whole_blocks(m, n, k, transpose_a,
                                           transpose_b):
    axis, size = blas.block_plan(m, n, k, transpose_a, transpose_b)
    assert axis in (0, 1, 2) and 1 <= size <= (m, n, k)[axis]
    assert -(-(m, n, k)[axis] // size) <= blas.MOST_BLOCKS


def test_block_plan_keeps_each_block_on_the_small_path(monkeypatch):
    monkeypatch.setattr(blas, "small_path_available", lambda: True)
    blas.block_plan.cache_clear()
    try:
        # the gradient a 2880 x 100 layer sends down: column-major "TN",
        # so at most 1,200 numbers of the result per block
        assert blas.block_plan(10, 2880, 100, False, True) == (1, 120)
        # the first conv layer's weight gradient: the shared side cut
        assert blas.block_plan(20, 25, 5760, True, False) == (2, 2000)
        # small enough already, or never on the path (both transposed)
        assert blas.block_plan(10, 30, 784) == (0, 10)
        assert blas.block_plan(10, 2880, 100, True, True) == (0, 10)
    finally:
        blas.block_plan.cache_clear()


@pytest.mark.parametrize("m, n, k, transpose_a, transpose_b", PRODUCTS)
def test_plan_blocks_compiled_as_in_python(m, n, k, transpose_a,
                                           transpose_b):
    assert blas.plan_blocks(m, n, k, transpose_a, transpose_b) == \
        blas.plan_blocks.py_func(m, n, k, transpose_a, transpose_b)


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_plan_blocks_keeps_every_block_on_the_small_path(transpose_a,
                                                         transpose_b):
    """Against the rule as OpenBLAS states it (``small_path_takes``), on
    random shapes: every block of a cut product takes the path, and a
    product left whole either takes it or cannot be cut into few enough
    pieces that would."""
    rng = np.random.default_rng(37)
    for m, n, k in rng.integers(1, 3000, (300, 3)):
        axis, size = blas.plan_blocks.py_func(m, n, k, transpose_a,
                                              transpose_b)
        dims = [m, n, k]
        if size == dims[axis]:
            whole = blas.small_path_takes(m, n, k, transpose_a, transpose_b)
            if not whole:
                for cut in range(3):
                    for pieces in range(2, blas.MOST_BLOCKS + 1):
                        block = dims.copy()
                        block[cut] = -(-dims[cut] // pieces)
                        # (only a shared side cut under 32 may take
                        # it: the plan does not cut the shared side so
                        # fine, nor need to)
                        assert not blas.small_path_takes(
                            *block, transpose_a, transpose_b) or (
                            cut == 2 and
                            block[cut] < blas.SMALL_TRANSPOSED_SHARED)
            continue
        block = dims.copy()
        block[axis] = size
        assert blas.small_path_takes(*block, transpose_a, transpose_b)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_product_of_views_wider_apart_than_a_row(dtype, transpose_a,
                                                 transpose_b, axis):
    """Blocks of columns of larger arrays (row stride > row width), the
    result too: the right numbers, and nothing written outside it."""
    m, n, k = 7, 5, 9
    a, b = product_factors(m, n, k, transpose_a, transpose_b, dtype)
    big_a = np.zeros((a.shape[0], a.shape[1] + 6), dtype)
    big_b = np.zeros((b.shape[0], b.shape[1] + 4), dtype)
    big_a[:, 2:2 + a.shape[1]], big_b[:, 3:3 + b.shape[1]] = a, b
    big_c = np.full((m, n + 5), np.nan, dtype)
    c = big_c[:, 1:1 + n]
    blocked_product(c, big_a[:, 2:2 + a.shape[1]],
                    big_b[:, 3:3 + b.shape[1]], transpose_a, transpose_b,
                    axis, 2)
    expected = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
    assert relative_error(c, expected) <= SUM_RTOL[dtype]
    assert np.isnan(big_c[:, :1]).all() and np.isnan(big_c[:, 1 + n:]).all()


@pytest.mark.parametrize("odd", ["reversed", "broadcast", "overlapping"])
def test_product_refuses_rows_blas_cannot_read(odd):
    a = np.random.default_rng(38).standard_normal((6, 4))
    b = np.ones((4, 3))
    view = {"reversed": a[::-1],
            "broadcast": np.broadcast_to(a[0], (6, 4)),
            "overlapping": np.lib.stride_tricks.sliding_window_view(
                a.ravel(), 4)[:6]}[odd]
    with pytest.raises(ValueError, match="rows must be contiguous"):
        blocked_product(np.empty((6, 3)), view, b, False, False, 0, 6)


def test_product_with_nothing_to_add_up():
    """A shared dimension of 0 gives zeros; an empty result is left be."""
    c = np.full((3, 2), np.nan)
    blocked_product(c, np.empty((3, 0)), np.empty((0, 2)), False, False, 2,
                    1)
    np.testing.assert_array_equal(c, 0)
    blocked_product(np.empty((0, 2)), np.empty((0, 4)), np.ones((4, 2)),
                    False, False, 0, 1)


def test_product_tolerance_catches_a_block_left_out():
    a, b = product_factors(20, 25, 5760, True, False, np.float64)
    c = np.empty((20, 25))
    blocked_product(c, a, b, True, False, 2, 2000)
    wrong = a[:4000].T @ b[:4000]   # the last block forgotten
    assert relative_error(c, wrong) > 1e3 * SUM_RTOL[np.float64]


@compares("col2im")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape, kernel_shape, pool", CONV_SHAPES)
def test_col2im(dtype, shape, kernel_shape, pool):
    layer = conv_layer(shape, kernel_shape, pool, dtype)
    columns = np.random.default_rng(31).standard_normal(
        layer["columns"].shape).astype(dtype)
    x = np.full_like(layer["x"], np.nan)   # all overwritten
    ours, theirs = in_place(conv_kernels.col2im, naive.col2im,
                            [columns, *kernel_shape, *pool, x], 5)
    assert relative_error(ours, theirs) <= SUM_RTOL[dtype]


def test_col2im_tolerance_catches_a_patch_position_left_out():
    layer = conv_layer((2, 12, 12, 3), (5, 5), (2, 2), np.float64)
    columns = np.random.default_rng(31).standard_normal(
        layer["columns"].shape)
    ours, wrong = np.empty_like(layer["x"]), np.empty_like(layer["x"])
    conv_kernels.col2im(columns, 5, 5, 2, 2, ours)
    skipped = columns.copy()
    skipped[:, 12] = 0   # one filter tap forgotten
    naive.col2im(skipped, 5, 5, 2, 2, wrong)
    assert relative_error(ours, wrong) > 1e3 * SUM_RTOL[np.float64]


@compares("gradient_step")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("m, n_in, n_out", [(1, 1, 1), (10, 2880, 100),
                                            (7, 30, 10)])
@pytest.mark.parametrize("beta", [1.0, 0.999])
def test_gradient_step(dtype, m, n_in, n_out, beta):
    rng = np.random.default_rng(34)
    w, a, delta = (rng.standard_normal(shape).astype(dtype) for shape in
                   [(n_in, n_out), (m, n_in), (m, n_out)])
    ours, theirs = in_place(conv_kernels.gradient_step, naive.gradient_step,
                            [w, a, delta, -0.5, beta], 0)
    # m products per entry after w's own term: the BLAS tolerance; the
    # step itself is far larger (a step left out would be caught)
    assert relative_error(ours, theirs) <= SUM_RTOL[dtype]
    assert relative_error(ours, w) > 1e3 * SUM_RTOL[dtype]


# -- The tolerances catch real mistakes ---------------------------------------


def sgd_dropping_a_sample(net, X, Y, order, batch_size, step):
    """Each mini-batch's last sample left out."""
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size][:-1]
        naive.train_batches(net, X, Y, rows, len(rows), 0, 1, step)


def sgd_with_eta_not_divided_by_m(net, X, Y, order, batch_size, step):
    """The step eta * sum of gradients instead of eta / m times it."""
    batches = -(-len(order) // batch_size)
    naive.train_batches(net, X, Y, order, batch_size, 0, batches,
                        Step(step.eta * batch_size, step.decay, step.cost))


def sgd_back_propagating_through_stepped_weights(net, X, Y, order,
                                                 batch_size, step):
    """Each layer stepped before the error below it is computed from its
    weights: the ordering ``backward_step`` must get right."""
    weights, biases = naive.unpack(net.sizes, net.params)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        a = naive.forward(weights, biases, X[rows].astype(net.params.dtype))
        delta, m = naive.deltas(weights, a, Y[rows], step.cost)[-1], len(rows)
        for l in range(len(weights) - 1, -1, -1):
            weights[l][...] = step.decay * weights[l] - \
                (step.eta / m) * (delta.T @ a[l])
            biases[l][...] -= (step.eta / m) * delta.sum(0).reshape(-1, 1)
            delta = (delta @ weights[l]) * a[l] * (1 - a[l])


MISTAKES = [sgd_dropping_a_sample, sgd_with_eta_not_divided_by_m,
            sgd_back_propagating_through_stepped_weights]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mistake", MISTAKES)
def test_sgd_tolerance_catches_planted_mistakes(dtype, mistake):
    """Each mistake moves the parameters by over 100 times the SGD
    tolerance (measured: 0.03 at least), so a kernel making it would fail
    test_train_batches."""
    sizes, batch_size, n = [20, 10, 5], 5, 30
    step = Step(3.0, 1.0, QUADRATIC)
    net = random_net(sizes, np.random.default_rng(19), dtype)
    X, Y = labelled_data(sizes, n, seed=20)
    order = np.random.default_rng(21).permutation(n)
    wrong = copy_net(net)
    kernels.train_batches(net, X, Y, order, batch_size, 0, n // batch_size,
                          step)
    mistake(wrong, X, Y, order, batch_size, step)
    assert relative_error(wrong.params, net.params) > 100 * SGD_RTOL[dtype]


@pytest.mark.parametrize("dtype", FLOATS)
def test_sum_and_elementwise_tolerances_catch_planted_mistakes(dtype):
    """A gradient missing one of 30 samples, and sigmoid'(a) written for
    sigmoid'(z) in the quadratic cost's output error, each differ from
    the kernel by over 100 times the tolerance it is held to."""
    sizes, n = [20, 10, 5], 30
    net = random_net(sizes, np.random.default_rng(22), dtype)
    X, Y = labelled_data(sizes, n, seed=23)
    grad = kernels.gradient(net, X, Y, QUADRATIC)
    assert relative_error(naive.gradient(net, X[1:], Y[1:], QUADRATIC),
                          grad) > 100 * SUM_RTOL[dtype]
    A, D = naive.feedforward(net, X), np.empty((n, sizes[-1]), dtype)
    kernels.output_error(A, Y.astype(dtype), QUADRATIC, D)
    assert relative_error((A - Y) * naive.sigmoid_prime(A), D) > \
        100 * ELEMENTWISE_RTOL[dtype]


# -- Threads --------------------------------------------------------------------


def one_pass(net, X):
    """Output activations of the rows of ``X`` in one compiled call."""
    out = np.empty((X.shape[0], net.sizes[-1]), net.params.dtype)
    kernels.forward_rows(net, X, out, np.empty(0, np.intp))
    return out


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_dtype", FLOATS)
@pytest.mark.parametrize("layout", ["C", "F", "spaced"])
def test_threaded_feedforward_equals_one_pass(dtype, x_dtype, layout,
                                              monkeypatch):
    """Shares of the rows on threads of their own give the numbers one
    call gives: the same kernel on the same rows."""
    from fastnet import threads
    monkeypatch.setattr(threads, "cores", lambda: 2)
    sizes = [8, 5, 3]
    net = random_net(sizes, np.random.default_rng(40), dtype)
    m = 2 * threads.ROWS_PER_THREAD + 7
    X = np.random.default_rng(41).random((m, 8)).astype(x_dtype)
    X = rows_laid_out(X, layout)
    np.testing.assert_array_equal(threads.feedforward(net, X),
                                  one_pass(net, X))


def test_shares_finish_before_an_error_leaves(monkeypatch):
    """When the calling thread's share raises, the error leaves only after
    the other shares have finished: none still writes the caller's arrays
    (or runs with one-thread BLAS) after the call returns."""
    import time

    from fastnet import threads
    monkeypatch.setattr(threads, "cores", lambda: 2)
    finished = []

    def work(start, stop):
        if start == 0:
            raise ValueError("first share")
        time.sleep(0.2)
        finished.append(start)
    with pytest.raises(ValueError, match="first share"):
        threads._in_shares(2 * threads.ROWS_PER_THREAD, work)
    assert finished == [threads.ROWS_PER_THREAD]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
def test_threaded_feedforward_after_fork(monkeypatch):
    """A forked child inherits the parent's thread pool without its
    threads: it must make its own rather than wait for ever."""
    import multiprocessing

    from fastnet import threads
    monkeypatch.setattr(threads, "cores", lambda: 2)
    net = random_net([8, 5, 3], np.random.default_rng(42), np.float64)
    X = np.random.default_rng(43).random((2 * threads.ROWS_PER_THREAD, 8))
    threads.feedforward(net, X)  # the parent's pool exists before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        outputs = pool.apply_async(threads.feedforward, (net, X)).get(60)
    np.testing.assert_array_equal(outputs, one_pass(net, X))


def blas_threads():
    from threadpoolctl import threadpool_info
    return [pool["num_threads"] for pool in threadpool_info()
            if pool["user_api"] == "blas"]


@pytest.mark.parametrize("way", ["threadpoolctl", "openblas"])
def test_single_threaded_blas_and_back(way, monkeypatch):
    """Inside ``single_threaded()`` every BLAS library runs one thread
    (through threadpoolctl, or through the OpenBLAS SciPy bundles when
    threadpoolctl is missing); afterwards each has its own count again."""
    pytest.importorskip("threadpoolctl")
    from fastnet import blas
    if way == "openblas":
        monkeypatch.setattr(blas, "_libraries", [blas._OpenBLASThreads(
            blas._gemm_library())])
    before = blas_threads()
    with blas.single_threaded():
        inside = blas_threads()
    assert blas_threads() == before
    if way == "threadpoolctl":
        assert set(inside) == {1}
    else:  # only the library the kernels call is set
        assert 1 in inside


# -- The drop-in reads the caller's arrays ---------------------------------------


def test_book_sgd_reads_the_lists_in_place(monkeypatch):
    """``Network.SGD`` on Nielsen-format tuples trains from the caller's
    arrays without stacking them (and so to what stacking gives: see
    test_train_batches_on_rows_in_place and tests/test_equivalence.py);
    a list that cannot be read in place is stacked, as it always was."""
    import contextlib
    import io

    import fastnet
    from fastnet import core

    stack_examples, stacked = core.stack_examples, []

    def counted(*args):
        stacked.append(args[0])
        return stack_examples(*args)
    monkeypatch.setattr(core, "stack_examples", counted)
    pairs = nielsen_pairs(30, 12, 4, seed=34)
    network = fastnet.Network([12, 5, 4], seed=0)
    with contextlib.redirect_stdout(io.StringIO()):
        network.SGD(pairs, 10, 1, 3.0)
        assert stacked == []
        pairs[3] = (pairs[3][0].astype(np.float64), pairs[3][1])  # mixed
        network.SGD(pairs, 10, 1, 3.0)
    assert stacked == ["training_data"]
