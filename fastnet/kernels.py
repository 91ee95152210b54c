"""Numba-compiled kernels behind the fast networks.

Layout
------
The maths (and the public API) puts samples in columns: a mini-batch of
``m`` inputs is an ``(n_in, m)`` matrix ``A`` and a layer computes
``sigmoid(W A + b)``.  Inside these kernels the same mini-batch is stored
transposed, as an ``(m, n_in)`` C-contiguous array with one sample per row,
because then gathering a shuffled mini-batch is a copy of whole rows and
every product is a plain BLAS call on contiguous memory:
``(W A)^T = A^T W^T``.  Shapes in the docstrings below are the row-major
ones actually passed.

All weights and biases of a network live in one flat vector ``params``:
for each layer ``l`` the ``(n_{l+1}, n_l)`` weight matrix in C order, then
the ``n_{l+1}`` biases.  ``param_offsets`` says where each layer starts.
A network reaches the kernels as one record, ``Net(params, sizes,
offsets)`` (``make_net`` builds it), and a training step's settings as
another, ``Step(eta, decay, cost)``.

Arithmetic happens in the dtype of ``params`` (float64, or float32 for
speed).  Inputs ``X`` may be float32 while ``params`` are float64: rows
are widened exactly when a mini-batch is gathered, as NumPy does in the
reference's ``np.dot(w, x)``.

Nothing here checks its arguments: ``fastnet.validation`` does that
before any kernel runs.

Compile time
------------
A first ``fit`` in a new environment compiles ``train_batches`` and all
it calls; Numba compiles each jitted function as a module of its own and
links it into its callers, which costs a fraction of a second apiece.
The small helpers of the training loop are therefore marked
``inline="always"``: typed and compiled inside their caller, the first
``fit`` went from 6.1 to 5.0-5.5 s here (``train_batches`` itself is now
most of it).  ``activate`` stays apart: it needs its own error model.
"""

import ctypes
import math
import sys
from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .blas import gemm_in_blocks, plan_blocks, small_path_available, variable
from .compiled import jit

#: Output-layer error of each cost function, as passed to the kernels.
#: ``QUADRATIC``: C = |a - y|^2 / 2, delta^L = (a - y) * sigmoid'(z).
#: ``CROSS_ENTROPY``: C = -sum y ln a + (1 - y) ln(1 - a), delta^L = a - y.
QUADRATIC = 0
CROSS_ENTROPY = 1

#: Bytes of a block's activations, inputs included, when only the
#: forward pass is needed (prediction): bounds the workspace for any
#: number of samples and keeps a block in the core's own cache (half of
#: Zen 4's 1 MB L2), where the block's check for NaN and infinity leaves
#: its inputs for the first layer's product (see ``forward_rows``).
FORWARD_BLOCK_BYTES = 1 << 19
#: Bytes in a cache line, the unit ``prefetch_rows`` asks for.
CACHE_LINE = 64

_jit = jit

#: A network as the kernels see it: ``params`` the flat parameter vector
#: (float64 or float32), ``sizes`` (L+1,) int64 neurons per layer,
#: ``offsets`` (L+1,) int64 from ``param_offsets``, ``blocks`` whether
#: products are cut into the blocks of ``blas.plan_blocks`` (where the
#: BLAS has OpenBLAS's small-matrix path; see ``layer_product``).
Net = namedtuple("Net", "params sizes offsets blocks", defaults=(False,))

#: One gradient step's settings: learning rate ``eta``, weight ``decay``
#: (1 - eta * lmbda / n with L2 regularisation, exactly 1.0 without) and
#: the ``cost`` code (``QUADRATIC`` or ``CROSS_ENTROPY``).
Step = namedtuple("Step", "eta decay cost")


def param_offsets(sizes):
    """Start of each layer's block in the flat parameter vector.

    ``sizes`` (L+1,) int64 -> (L+1,) int64; the last entry is the total
    number of parameters.  Plain NumPy: only Python calls it, and
    compiling it would cost every new environment half a second at the
    first ``Network(...)``."""
    sizes = np.asarray(sizes, np.int64)
    offsets = np.zeros(sizes.shape[0], np.int64)
    np.cumsum(sizes[1:] * (sizes[:-1] + 1), out=offsets[1:])
    return offsets


def make_net(params, sizes):
    """The ``Net`` record of ``params`` for layer ``sizes`` (a sequence of
    ints); called from Python."""
    sizes = np.asarray(sizes, np.int64)
    return Net(params, sizes, param_offsets(sizes),
               small_path_available())


@_jit(inline="always")
def layer_weights(flat, net, l):
    """View of layer ``l``'s weights ``(n_{l+1}, n_l)`` in ``flat``, a
    vector laid out like ``net.params`` (the parameters or a gradient)."""
    start = net.offsets[l]
    return flat[start:start + net.sizes[l + 1] * net.sizes[l]].reshape(
        (net.sizes[l + 1], net.sizes[l]))


@_jit(inline="always")
def layer_biases(flat, net, l):
    """View of layer ``l``'s biases ``(n_{l+1},)`` in ``flat``."""
    return flat[net.offsets[l] + net.sizes[l + 1] * net.sizes[l]:
                net.offsets[l + 1]]


@_jit
def sigmoid(z):
    """The sigmoid 1 / (1 + e^-z), for a scalar or an array."""
    return 1.0 / (1.0 + np.exp(-z))


@_jit
def sigmoid_prime(z):
    """sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)), for a scalar or an array."""
    s = sigmoid(z)
    return s * (1.0 - s)


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE 754 bits are the int64 ``bits``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


#: ln 2 in two parts (the first exact in few bits), and 1 / ln 2.
_LN2_HIGH, _LN2_LOW = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_LOG2_E = 1.4426950408889634
#: ln of the largest float64: e^x overflows beyond.
_LOG_MAX = 709.782712893384
#: 1/k! for k = 13, 12, ..., 0: Taylor's series of e^r, Horner's order.
_EXP_TERMS = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))


@_jit(inline="always")
def exp(x):
    """e^x for a float64 ``x`` in plain arithmetic that LLVM vectorises
    (Numba's ``np.exp`` is a call per element, without Intel's SVML):
    x = n ln 2 + r with |r| <= ln 2 / 2, e^r from its Taylor series to
    r^13 (remainder under 4e-18), 2^n from its bits.  Within about 1 ulp
    of ``np.exp``; infinity where ``np.exp`` overflows, as a sigmoid
    needs to reach 0 exactly; ``x`` below -708 counts as -708 (where
    2^n stops being a normal float64; a sigmoid is 1 there all the
    same); NaN stays NaN."""
    overflows = x > _LOG_MAX
    x = -708.0 if x < -708.0 else x   # selects: NaN passes both
    x = _LOG_MAX if x > _LOG_MAX else x
    n = np.floor(x * _LOG2_E + 0.5)   # -1021 .. 1024
    r = (x - n * _LN2_HIGH) - n * _LN2_LOW
    p = 0.0
    for term in _EXP_TERMS:
        p = p * r + term
    half_scale = _float64_from_bits((np.int64(n) + 1022) << 52)  # 2^(n-1)
    return np.inf if overflows else p * half_scale * 2.0


@_jit(error_model="numpy")   # no zero-division branch: the loop vectorises
def activate(Z, b):
    """In place: ``Z <- sigmoid(Z + b)``, the bias added to every row.

    ``Z`` (m, n) C-contiguous weighted inputs without bias, ``b`` (n,).
    The sigmoid takes ``exp`` above: one pass over all of ``Z``, several
    elements at a time (2 to 3 times the speed of ``np.exp``'s)."""
    for j in range(Z.shape[0]):
        for i in range(Z.shape[1]):
            Z[j, i] += b[i]
    values = Z.reshape(-1)
    for k in range(values.shape[0]):
        values[k] = 1.0 / (1.0 + exp(-values[k]))


@_jit(inline="always")
def output_error(A, Y, cost, D):
    """``D <- delta^L``, the output layer's error, for each row.

    ``A`` (m, n_out) output activations, ``Y`` (m, n_out) desired outputs.
    sigmoid'(z) is taken as ``a (1 - a)``: ``a`` is sigmoid(z) itself, so
    this is the same number the reference computes from ``z``."""
    for j in range(A.shape[0]):
        for i in range(A.shape[1]):
            a = A[j, i]
            if cost == QUADRATIC:
                D[j, i] = (a - Y[j, i]) * (a * (1.0 - a))
            else:
                D[j, i] = a - Y[j, i]


@_jit(inline="always")
def hidden_error(P, A):
    """In place: ``P <- P * sigmoid'(z)``, turning the back-propagated
    product ``P = delta^{l+1} W^{l+1}`` (m, n) into ``delta^l``; ``A``
    (m, n) holds the layer's activations sigmoid(z)."""
    for j in range(P.shape[0]):
        for i in range(P.shape[1]):
            a = A[j, i]
            P[j, i] = P[j, i] * (a * (1.0 - a))


@_jit(inline="always")
def sum_rows(D, out):
    """``out <- sum_x delta_x``: the rows of ``D`` (m, n) added in order,
    as the reference adds up its per-sample bias gradients."""
    for i in range(D.shape[1]):
        total = 0.0
        for j in range(D.shape[0]):
            total += D[j, i]
        out[i] = total


@_jit
def accumulate_gradient(D, A_in, grad_w, grad_b):
    """The gradient of one layer summed over the mini-batch's samples:
    ``grad_w <- sum_x delta_x a_x^T`` (= D^T A_in) and
    ``grad_b <- sum_x delta_x``.

    ``D`` (m, n_out) errors, ``A_in`` (m, n_in) the layer's inputs,
    ``grad_w`` (n_out, n_in), ``grad_b`` (n_out,)."""
    np.dot(D.T, A_in, grad_w)
    sum_rows(D, grad_b)


@_jit(inline="always")
def layer_product(C, A, B, transpose_a, transpose_b, alpha, beta, blocks):
    """In place: ``C <- beta * C + alpha * op(A) op(B)`` (``op(X)`` is
    ``X.T`` if ``transpose_x``), one BLAS call, or with ``blocks`` the
    pieces ``blas.plan_blocks`` chooses for OpenBLAS's small-matrix path
    (at mini-batches of 100, [784, 30, 10]'s first layer: 1.5x faster in
    float64, 1.7x in float32).  Rows of all three contiguous.  Callers
    pass the flags through ``blas.variable``, so that this compiles once
    rather than once for each pair of constants."""
    m, n = C.shape
    k = A.shape[0] if transpose_a else A.shape[1]
    axis, size = 0, max(m, 1)
    if blocks:
        axis, size = plan_blocks(m, n, k, transpose_a, transpose_b)
    gemm_in_blocks(C, A, B, transpose_a, transpose_b, variable(alpha),
                   variable(beta), axis, size)


@_jit(inline="always")
def step_layer(W, b, D, A_in, decay, step, grad_b, blocks):
    """One layer's gradient step, in place:
    ``w <- decay * w - step * sum_x delta_x a_x^T`` and
    ``b <- b - step * sum_x delta_x``, the reference's update expressions.

    ``step`` is eta / m; ``decay`` is 1 - eta * lmbda / n with L2
    regularisation and exactly 1.0 without it.  The weight update is one
    BLAS call (``gemm`` with alpha = -step, beta = decay, in blocks with
    ``blocks``: see ``layer_product``), so the weight gradient is never
    stored.  ``grad_b`` (n_out,) is scratch space."""
    layer_product(W, D, A_in, variable(True), variable(False), -step, decay,
                  blocks)
    sum_rows(D, grad_b)
    for i in range(b.shape[0]):
        b[i] = b[i] - step * grad_b[i]


#: Samples that stay in the caller's own arrays, as the kernels read them:
#: row ``i`` is the ``width`` numbers of ``like``'s dtype at memory address
#: ``addresses[i]`` (int64).  ``rows_in_place`` builds it; whoever holds
#: one must keep those arrays alive.
RowsAt = namedtuple("RowsAt", "addresses width like")


def source_row(source, i):
    """Row ``i`` of ``source``, a 2-D array or a ``RowsAt``, as a 1-D
    array (a view).  Only callable from Numba code."""
    raise NotImplementedError("source_row runs inside Numba kernels")


@intrinsic
def _pointer_to(typingctx, address, like):
    """The integer ``address`` as a pointer to ``like``'s dtype."""
    pointer = types.CPointer(like.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer))
    return pointer(types.intp, like), codegen


@overload(source_row)
def _source_row(source, i):
    if isinstance(source, types.Array):
        return lambda source, i: source[i]

    def impl(source, i):
        return carray(_pointer_to(source.addresses[i], source.like),
                      (source.width,))
    return impl


@intrinsic
def _load_address(typingctx, address):
    """The pointer-sized integer stored at memory ``address``."""
    def codegen(context, builder, signature, args):
        pointer = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.load(pointer)
    return types.intp(types.intp), codegen


@_jit
def first_nonfinite_row(source, n):
    """The first of rows ``0 .. n-1`` of ``source`` (a 2-D array or a
    ``RowsAt``) holding NaN or infinity, or -1."""
    for i in range(n):
        row = source_row(source, i)
        finite = True
        for k in range(row.shape[0]):
            finite &= np.isfinite(row[k])  # no early exit: vectorises
        if not finite:
            return i
    return -1


#: NumPy's array flags (``ndarraytypes.h``) that reading rows in place
#: needs.
C_CONTIGUOUS, ALIGNED = 0x0001, 0x0100


def _object_layout():
    """Byte offsets, from an object's address (CPython's ``id``), of the
    fields ``pair_addresses`` reads: the type pointer, a tuple's length
    and first item, and an array's data pointer, ``nd``, dimensions,
    dtype and flags (NumPy's ``PyArrayObject_fields``: the object
    header, ``data``, ``nd``, ``dimensions``, ``strides``, ``base``,
    ``descr``, ``flags``).  Every offset is checked on probe objects
    before use; None where any does not hold (another Python or NumPy),
    and then samples are stacked instead."""
    if sys.implementation.name != "cpython" or sys.byteorder != "little":
        return None

    def word(obj, offset):
        return ctypes.c_ssize_t.from_address(id(obj) + offset).value

    kind, size, items = 8, 16, tuple.__basicsize__
    data, nd, dims, descr, flags = 16, 24, 32, 56, 64
    probes = [np.empty((3, 1)), np.empty((5, 7), np.float32, order="F"),
              np.empty(4)[::2]]
    pair = (probes[0], probes[1])
    ok = word(pair, kind) == id(tuple) and word(pair, size) == 2 and \
        word(pair, items) == id(probes[0]) and \
        word(pair, items + 8) == id(probes[1])
    for probe in probes:
        ok = ok and word(probe, kind) == id(np.ndarray) and \
            word(probe, data) == probe.ctypes.data and \
            word(probe, nd) & 0xFFFFFFFF == probe.ndim and \
            word(probe, descr) == id(probe.dtype) and \
            word(probe, flags) & 0xFFFFFFFF == probe.flags.num
    # Only once the struct is known to match: follow the dimensions.
    ok = ok and all(
        (ctypes.c_ssize_t * p.ndim).from_address(word(p, dims))[:] ==
        list(p.shape) for p in probes)
    return np.array([kind, size, items, data, nd, dims, descr, flags],
                    np.int64) if ok else None


#: See ``_object_layout``.
OBJECT_LAYOUT = _object_layout()


@_jit
def array_address(array, layout, dtype, width):
    """The data address of the object at address ``array`` if it is a
    plain ``numpy.ndarray`` of the dtype object at ``dtype``, of shape
    ``(width, 1)``, C-contiguous and aligned; else -1.  ``layout`` as in
    ``pair_addresses``."""
    kind, data, nd, dims = layout[0], layout[3], layout[4], layout[5]
    descr, flags, array_type = layout[6], layout[7], layout[9]
    wanted = C_CONTIGUOUS | ALIGNED
    if _load_address(array + kind) != array_type or \
            _load_address(array + descr) != dtype or \
            _load_address(array + nd) & 0xFFFFFFFF != 2 or \
            _load_address(array + flags) & wanted != wanted:
        return -1
    shape = _load_address(array + dims)
    if _load_address(shape) != width or _load_address(shape + 8) != 1:
        return -1
    return _load_address(array + data)


@_jit
def pair_addresses(pairs, layout, out_x, out_y):
    """The data addresses of the arrays in Nielsen-format ``(x, y)``
    tuples, read from CPython's and NumPy's object structs: ``pairs``
    holds the tuples' ``id``s; ``layout`` is ``OBJECT_LAYOUT`` followed
    by the ids of ``tuple``, ``numpy.ndarray``, the x and y dtypes, and
    the x and y widths.  Returns the first sample that is not a tuple of
    two such arrays (see ``array_address``), or -1; ``out_x`` and
    ``out_y`` are filled up to it."""
    kind, size, items = layout[0], layout[1], layout[2]
    tuple_type, x_dtype, y_dtype = layout[8], layout[10], layout[11]
    x_width, y_width = layout[12], layout[13]
    for i in range(pairs.shape[0]):
        pair = pairs[i]
        if _load_address(pair + kind) != tuple_type or \
                _load_address(pair + size) != 2:
            return i
        out_x[i] = array_address(_load_address(pair + items), layout,
                                 x_dtype, x_width)
        out_y[i] = array_address(_load_address(pair + items + 8), layout,
                                 y_dtype, y_width)
        if out_x[i] < 0 or out_y[i] < 0:
            return i
    return -1


def pairs_in_place(pairs, n_in, n_out):
    """``(X, Y)``, two ``RowsAt`` reading the inputs and desired outputs
    of Nielsen-format ``(x, y)`` tuples where they are; or None unless
    every ``x`` is a finite ``(n_in, 1)`` array and every ``y`` a finite
    ``(n_out, 1)`` one, plain, C-contiguous, aligned, each side of one
    dtype, float32 or float64 (callers then copy them as they always
    could, and say what is wrong).

    Stacking 50,000 MNIST columns copies 157 MB and took as long as an
    epoch; asking each array for its address from Python costs a
    microsecond apiece.  Here one C loop takes the tuples' ids and one
    compiled loop reads every field from the objects themselves.  The
    caller must keep the tuples alive (a list of them) while the
    ``RowsAt`` are used."""
    n = len(pairs)
    if OBJECT_LAYOUT is None or n == 0 or type(pairs[0]) is not tuple or \
            len(pairs[0]) != 2:
        return None
    dtypes = [getattr(v, "dtype", None) for v in pairs[0]]
    if not all(d in (np.float32, np.float64) and d.isnative
               for d in dtypes):
        return None
    layout = np.concatenate([OBJECT_LAYOUT, np.array(
        [id(tuple), id(np.ndarray), id(dtypes[0]), id(dtypes[1]), n_in,
         n_out], np.int64)])
    addresses = np.empty((2, n), np.int64)
    ids = np.fromiter(map(id, pairs), np.int64, n)
    if pair_addresses(ids, layout, addresses[0], addresses[1]) >= 0:
        return None
    rows = (RowsAt(addresses[0], n_in, np.empty(0, dtypes[0])),
            RowsAt(addresses[1], n_out, np.empty(0, dtypes[1])))
    if first_nonfinite_row(rows[0], n) >= 0 or \
            first_nonfinite_row(rows[1], n) >= 0:
        return None
    return rows


@intrinsic
def _prefetch(typingctx, address):
    """LLVM's ``prefetch`` hint for the cache line at ``address`` (an
    integer): read, keep in every cache level.  A hint: never faults."""
    def codegen(context, builder, signature, args):
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        hint = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(),
                                            [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        builder.call(hint, [builder.inttoptr(args[0], i8p), i32(0), i32(3),
                            i32(1)])
        return context.get_dummy_value()
    return types.void(types.intp), codegen


@_jit(inline="always")
def prefetch_rows(source, index, first, count):
    """Start loading rows ``source[index[first + j]]``, ``j < count``, into
    the cache, and return at once; changes nothing.

    A shuffled mini-batch's rows lie anywhere in a training set far larger
    than the caches, so gathering them waits on memory (a sixth of a fast
    epoch); asked for one mini-batch ahead, they arrive while the current
    one is computed."""
    for j in range(min(count, index.shape[0] - first)):
        row = source_row(source, index[first + j])
        start = row.ctypes.data
        for offset in range(0, row.shape[0] * row.itemsize, CACHE_LINE):
            _prefetch(start + offset)


@_jit(inline="always")
def gather_rows(source, index, first, out):
    """``out[j] <- source[index[first + j]]`` for each row of ``out``,
    casting to ``out``'s dtype; ``source`` a 2-D array or a ``RowsAt``."""
    for j in range(out.shape[0]):
        row = source_row(source, index[first + j])
        for i in range(out.shape[1]):
            out[j, i] = row[i]


@_jit(inline="always")
def make_workspace(sizes, batch, dtype_like):
    """Preallocated buffers for mini-batches of up to ``batch`` samples:
    ``acts`` holds every layer's activations (layer 0 = the inputs),
    ``act_offsets`` where each layer's (batch, n_l) block starts, two
    error buffers used in turn while back-propagating, and a row for
    bias gradients."""
    act_offsets = np.zeros(sizes.shape[0] + 1, np.int64)
    widest = 0
    for l in range(sizes.shape[0]):
        act_offsets[l + 1] = act_offsets[l] + batch * sizes[l]
        widest = max(widest, sizes[l])
    acts = np.empty(act_offsets[-1], dtype_like.dtype)
    errors_a = np.empty(batch * widest, dtype_like.dtype)
    errors_b = np.empty(batch * widest, dtype_like.dtype)
    row = np.empty(widest, dtype_like.dtype)
    return acts, act_offsets, errors_a, errors_b, row


@_jit(inline="always")
def block(buffer, start, m, width):
    """The first ``m`` rows of a ``(batch, width)`` block of ``buffer``."""
    return buffer[start:start + m * width].reshape((m, width))


@_jit(inline="always")
def activations(workspace, net, l, m):
    """Layer ``l``'s activations of the first ``m`` samples, ``(m, n_l)``
    (layer 0: the inputs)."""
    acts, act_offsets = workspace[0], workspace[1]
    return block(acts, act_offsets[l], m, net.sizes[l])


@_jit(inline="always")
def forward_pass(net, workspace, m):
    """Feed ``m`` samples, already in layer 0 of the workspace, through
    every layer: ``a^{l+1} = sigmoid(a^l W^T + b)`` row by row."""
    forward_from(net, workspace, activations(workspace, net, 0, m), m)


@_jit(inline="always")
def forward_from(net, workspace, inputs, m):
    """``forward_pass`` for ``m`` samples whose inputs ``inputs`` (m, n_in),
    of the parameters' dtype, may lie outside the workspace (layer 0 of
    the workspace is then left as it was)."""
    for l in range(net.sizes.shape[0] - 1):
        A_in = inputs if l == 0 else activations(workspace, net, l, m)
        A_out = activations(workspace, net, l + 1, m)
        layer_product(A_out, A_in, layer_weights(net.params, net, l),
                      variable(False), variable(True), 1.0, 0.0, net.blocks)
        activate(A_out, layer_biases(net.params, net, l))


@_jit(inline="always")
def error_below(net, workspace, l, D, m):
    """delta^l = (delta^{l+1} W^{l+1}) * sigmoid'(z^l), ``(m, n_l)``, from
    layer ``l``'s error ``D`` = delta^{l+1} (m, n_{l+1}); written into the
    error buffer ``D`` is not in, so the two alternate."""
    errors_a, errors_b = workspace[2], workspace[3]
    L = net.sizes.shape[0] - 1
    spare = errors_b if (L - l) % 2 == 1 else errors_a
    below = block(spare, 0, m, net.sizes[l])
    layer_product(below, D, layer_weights(net.params, net, l),
                  variable(False), variable(False), 1.0, 0.0, net.blocks)
    hidden_error(below, activations(workspace, net, l, m))
    return below


@_jit(inline="always")
def output_layer_error(net, workspace, m, Y, cost):
    """delta^L of ``m`` samples after ``forward_pass``, ``(m, n_out)``;
    ``Y`` (m, n_out) are their desired outputs."""
    L = net.sizes.shape[0] - 1
    D = block(workspace[2], 0, m, net.sizes[L])
    output_error(activations(workspace, net, L, m), Y, cost, D)
    return D


@_jit
def backward_gradient(net, workspace, m, Y, cost, grad):
    """Back-propagate the error of ``m`` samples after ``forward_pass``
    and write the gradient summed over them into ``grad``, laid out like
    ``net.params``."""
    D = output_layer_error(net, workspace, m, Y, cost)
    for l in range(net.sizes.shape[0] - 2, -1, -1):
        accumulate_gradient(D, activations(workspace, net, l, m),
                            layer_weights(grad, net, l),
                            layer_biases(grad, net, l))
        if l > 0:
            D = error_below(net, workspace, l, D, m)


@_jit(inline="always")
def backward_step(net, workspace, m, Y, step):
    """Back-propagate the error of ``m`` samples after ``forward_pass``
    and take the gradient step, each layer as soon as its error is known
    and after the error of the layer below has been computed from the
    weights before the step."""
    D = output_layer_error(net, workspace, m, Y, step.cost)
    for l in range(net.sizes.shape[0] - 2, -1, -1):
        below = D
        if l > 0:
            below = error_below(net, workspace, l, D, m)
        step_layer(layer_weights(net.params, net, l),
                   layer_biases(net.params, net, l), D,
                   activations(workspace, net, l, m), step.decay,
                   step.eta / m, workspace[4][:net.sizes[l + 1]], net.blocks)
        D = below


@_jit
def train_batches(net, X, Y, order, batch_size, first, stop, step):
    """Mini-batch SGD over batches ``first .. stop-1`` of one epoch.

    ``X`` (n, n_in) inputs and ``Y`` (n, n_out) desired outputs, one sample
    per row (2-D arrays, or ``RowsAt``: the caller's own arrays);
    ``order`` (n,) the epoch's shuffled sample indices, cut into
    consecutive mini-batches of ``batch_size`` (the last one shorter when
    the sizes do not divide).  For each mini-batch of ``m`` samples:
    forward, backward, and ``w <- decay * w - (eta / m) * grad_w``,
    ``b <- b - (eta / m) * grad_b``.  ``net.params`` is updated in place."""
    n = order.shape[0]
    workspace = make_workspace(net.sizes, batch_size, net.params)
    L = net.sizes.shape[0] - 1
    targets = np.empty(batch_size * net.sizes[L], net.params.dtype)
    for k in range(first, stop):
        start = k * batch_size
        m = min(batch_size, n - start)
        prefetch_rows(X, order, start + batch_size, batch_size)
        gather_rows(X, order, start, activations(workspace, net, 0, m))
        Yb = block(targets, 0, m, net.sizes[L])
        gather_rows(Y, order, start, Yb)
        forward_pass(net, workspace, m)
        backward_step(net, workspace, m, Yb, step)


@_jit
def gradient(net, X, Y, cost):
    """The cost gradient summed over all rows of ``X`` (m, n_in) with
    desired outputs ``Y`` (m, n_out), laid out like ``net.params``."""
    m = X.shape[0]
    workspace = make_workspace(net.sizes, m, net.params)
    gather_rows(X, np.arange(m), 0, activations(workspace, net, 0, m))
    forward_pass(net, workspace, m)
    grad = np.empty_like(net.params)
    backward_gradient(net, workspace, m, Y.astype(net.params.dtype), cost,
                      grad)
    return grad


@_jit(inline="always")
def forward_batch(net, m):
    """Rows per block of a forward pass over ``m`` samples: about
    ``FORWARD_BLOCK_BYTES`` of every layer's activations, at least one
    row, at most ``m``."""
    row_bytes = net.sizes.sum() * net.params.itemsize
    return max(1, min(m, FORWARD_BLOCK_BYTES // row_bytes))


@_jit
def forward_rows(net, X, outputs, classes):
    """The forward pass of the rows of ``X`` (m, n_in), in blocks of
    ``forward_batch`` rows: writes their output activations into
    ``outputs`` (m, n_out), and each row's most activated output neuron
    into ``classes`` (m,) integers; either may be left empty (no rows),
    for no such output.  Returns whether every input was finite (outputs
    of a row that was not mean nothing).

    Each block is checked before its forward pass, and that pass over it
    brings it into the cache for the first layer's product: on 10,000
    MNIST images the check and the product together took less time than
    the product reading the rows from memory itself (measured on this
    project's Zen 4), so the check costs nothing."""
    m = X.shape[0]
    L = net.sizes.shape[0] - 1
    batch = forward_batch(net, m)
    workspace = make_workspace(net.sizes, batch, net.params)
    finite = True
    for start in range(0, m, batch):
        rows = min(batch, m - start)
        inputs = input_block(X, start, rows, workspace, net)
        finite = all_finite(inputs) and finite
        forward_from(net, workspace, inputs, rows)
        result = activations(workspace, net, L, rows)
        for j in range(rows):
            if outputs.shape[0] == m:
                for i in range(result.shape[1]):
                    outputs[start + j, i] = result[j, i]
            if classes.shape[0] == m:
                classes[start + j] = np.argmax(result[j])
    return finite


@_jit(fastmath={"reassoc"})   # sums in any order (vectorised), NaN as usual
def all_finite(A):
    """Whether every entry of ``A`` (m, n) is finite: the sum of the
    entries times zero is zero unless one of them is NaN or infinite.
    One vectorised pass (NumPy's ``isfinite`` makes an array of
    booleans)."""
    zero = zero_like(A)
    total = zero
    for j in range(A.shape[0]):
        for i in range(A.shape[1]):
            total += A[j, i] * zero
    return total == zero


@_jit
def column_forward(net, x):
    """Output activations ``(n_out,)`` of one sample ``x`` ``(n_in,)``, or
    an empty array if ``x`` holds NaN or infinity.

    ``forward_rows`` checks the input in the same compiled call as the
    forward pass, for a fraction of NumPy's ``isfinite(x.sum())`` round
    trip: what makes a script that feeds the book's network one column at
    a time at least as fast as the book's NumPy code."""
    out = np.empty((1, net.sizes[-1]), net.params.dtype)
    if not forward_rows(net, x.reshape((1, x.shape[0])), out,
                        np.empty(0, np.intp)):
        return np.empty(0, net.params.dtype)
    return out[0]


def zero_like(a):
    """A zero of ``a``'s dtype, so that a float32 sum stays float32.  Only
    callable from Numba code."""
    raise NotImplementedError("zero_like runs inside Numba kernels")


@overload(zero_like)
def _zero_like(a):
    kind = a.dtype
    return lambda a: kind(0)


def input_block(X, start, rows, workspace, net):
    """Rows ``start .. start+rows-1`` of ``X`` as the first layer's input:
    a view of ``X`` when it is C-contiguous in the parameters' dtype, else
    copied (widened) into layer 0 of the workspace.  Only callable from
    Numba code."""
    raise NotImplementedError("input_block runs inside Numba kernels")


@overload(input_block)
def _input_block(X, start, rows, workspace, net):
    if X.dtype == net[0].dtype and X.layout == "C":
        return lambda X, start, rows, workspace, net: X[start:start + rows]

    def impl(X, start, rows, workspace, net):
        A = activations(workspace, net, 0, rows)
        if abs(X.strides[0]) >= abs(X.strides[1]):   # read along rows
            for j in range(rows):
                for i in range(A.shape[1]):
                    A[j, i] = X[start + j, i]
        else:   # a sample's inputs apart (columns matrix in C order)
            for i in range(A.shape[1]):
                for j in range(rows):
                    A[j, i] = X[start + j, i]
        return A
    return impl
