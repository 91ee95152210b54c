"""Numba-compiled loops behind ``fastnet.network3``'s layers.

The convolution and its two gradients are BLAS products on unrolled
patches; these kernels do the memory shuffling around them, which NumPy
would do in several strided copies per mini-batch:

- ``im2col`` unrolls the patches of a mini-batch of images into rows,
- ``col2im`` adds such rows back onto the images (its adjoint, for the
  gradient with a layer's input),
- ``max_pool`` takes each pooling window's maximum, adds the bias, and
  remembers which position of the window held the maximum, so that
  ``pool_backward`` can send each window's gradient back to that one
  position (multiplied by the activation's slope, and summed for the
  bias's gradient, in the same pass);
- ``gradient_step`` updates a fully connected layer's weights with one
  BLAS call, without storing their gradient.

The layers' other products are ``blas.gemm_in_blocks`` calls, in the
blocks ``blas.block_plan`` chooses (OpenBLAS's small-matrix path runs
network3's thin products up to twice as fast in pieces).

(Sending the pooled gradient straight through the maxima, without the
unpooled zeros, does a quarter of the arithmetic with 2x2 pools, but as
scattered vector updates that measured slower than the dense products.)

Layouts (row-major, as passed), chosen so that every innermost loop runs
along contiguous memory on both sides.  Images are channels last, ``(m,
h, w, channels)``.  Unrolled patches ``(m * oh * ow, kh * kw *
channels)`` have one column per filter tap (row, column, channel) and
one row per output position, ordered by its offset in its pooling
window first: block k (k = p * pw + q) holds the k-th position of every
window, window s = (example * qh + pooled row) * qw + pooled column at
row ``k * windows + s``.  So the convolution ``(m * oh * ow, maps)``,
the product of the patches with the filters (rows ``(maps, kh * kw *
channels)`` in tap order) transposed, is ``ph * pw`` blocks shaped like
the pooled maps ``(windows, maps)``, and pooling is an elementwise
maximum over whole blocks.  The argmax holds each maximum's offset k.
Arithmetic stays in the arrays' dtype (float32 or float64).  Nothing is
checked here: ``fastnet.network3`` checks shapes before any kernel runs.
The plain NumPy twins of these kernels are in ``tests/naive.py``.
"""

import numpy as np

from .blas import gemm_in_blocks, variable
from .compiled import jit

_jit = jit


@_jit
def im2col(x, kh, kw, ph, pw, columns):
    """Writes the ``kh`` x ``kw`` patches of ``x`` (m, h, w, channels)
    into the rows of ``columns`` (m * oh * ow, kh * kw * channels), in
    window-offset-major order for ``ph`` x ``pw`` pools (see the module
    docstring)."""
    m, h, w, channels = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    qh, qw = oh // ph, ow // pw
    span = kw * channels   # one patch row: contiguous in x
    rows = x.reshape(m * h, w * channels)
    for n in range(m):
        for i in range(oh):
            a, p = divmod(i, ph)
            for j in range(ow):
                b, q = divmod(j, pw)
                row = (((p * pw + q) * m + n) * qh + a) * qw + b
                for r in range(kh):
                    source = rows[n * h + i + r, j * channels:]
                    target = columns[row, r * span:]
                    if span <= SHORT_SPAN:
                        # a loop of known length, unrolled: one channel
                        # and 5-wide filters copy 5 numbers a time, too
                        # few for the vector loop (1.3-1.4x faster)
                        for t in range(SHORT_SPAN):
                            if t < span:
                                target[t] = source[t]
                    else:
                        for t in range(span):
                            target[t] = source[t]


#: Patch rows of at most this many numbers are copied by ``im2col`` in an
#: unrolled loop.
SHORT_SPAN = 8


@_jit
def col2im(columns, kh, kw, ph, pw, x):
    """Sets ``x`` (m, h, w, channels) to the sum of the rows of
    ``columns`` (m * oh * ow, kh * kw * channels, ordered as ``im2col``
    writes them) placed back on their patches: the adjoint of
    ``im2col``."""
    m, h, w, channels = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    qh, qw = oh // ph, ow // pw
    span = kw * channels
    rows = x.reshape(m * h, w * channels)
    rows[:] = 0
    for n in range(m):
        for i in range(oh):
            a, p = divmod(i, ph)
            for j in range(ow):
                b, q = divmod(j, pw)
                row = (((p * pw + q) * m + n) * qh + a) * qw + b
                for r in range(kh):
                    target = rows[n * h + i + r, j * channels:]
                    source = columns[row, r * span:]
                    for t in range(span):
                        target[t] += source[t]


@_jit
def max_pool(conv, bias, z, argmax):
    """Sets ``z`` (windows, maps) to each pooling window's maximum of
    ``conv`` (offsets * windows, maps: block k holds every window's k-th
    position, as ``im2col`` orders them) plus ``bias`` (maps,), and
    ``argmax`` (windows, maps, int64) to the offset k holding it: the
    first maximum in row-major window order."""
    windows, maps = z.shape
    # one window row at a time, its maps innermost: the running maxima
    # stay in registers (a pass over z per offset measured 1.8x slower)
    for s in range(windows):
        for f in range(maps):
            z[s, f] = conv[s, f]
            argmax[s, f] = 0
        for k in range(1, conv.shape[0] // windows):
            row = k * windows + s
            for f in range(maps):
                # selects, not branches: the loop vectorises
                larger = conv[row, f] > z[s, f]
                argmax[s, f] = k if larger else argmax[s, f]
                z[s, f] = conv[row, f] if larger else z[s, f]
        for f in range(maps):
            z[s, f] += bias[f]


#: How ``pool_backward`` finds the activation's slope at ``z`` from the
#: array it is given: the slope itself, or from the activation a (sigmoid:
#: a (1 - a); tanh: 1 - a^2), or from z (ReLU: 1 where z >= 0).
SLOPE_GIVEN, SLOPE_SIGMOID, SLOPE_TANH, SLOPE_RELU = 0, 1, 2, 3


@_jit
def pool_backward(delta, values, slope_kind, argmax, delta_conv, nabla_b):
    """The backward pass of ``max_pool`` and the activation after it.

    ``delta`` (m, maps, pooled positions): the gradient with the layer's
    output, in network3's channels-first order (any strides: a
    convolutional layer above sends a view of its channels-last array).
    ``values`` (windows, maps): what the slope is found from (see
    ``SLOPE_GIVEN`` and the rest).  Sets ``nabla_b`` (maps,) to the gradient with the bias, the
    sum of ``delta_z = slope * delta`` over every window, and
    ``delta_conv`` (offsets * windows, maps), the gradient with the
    convolution, to zero except at each window's maximum (at offset
    ``argmax``), which gets the window's ``delta_z``."""
    windows, maps = values.shape
    m = delta.shape[0]
    per_example = windows // m
    offsets = delta_conv.shape[0] // windows
    delta_z = np.empty(maps, values.dtype)
    one, zero = np.ones(1, values.dtype)[0], np.zeros(1, values.dtype)[0]
    nabla_b[:] = 0
    for n in range(m):
        for u in range(per_example):
            s = n * per_example + u
            for f in range(maps):
                v = values[s, f]
                if slope_kind == SLOPE_SIGMOID:
                    slope = v * (one - v)
                elif slope_kind == SLOPE_TANH:
                    slope = one - v * v
                elif slope_kind == SLOPE_RELU:
                    slope = one if v >= 0 else zero
                else:
                    slope = v
                delta_z[f] = slope * delta[n, f, u]
                nabla_b[f] += delta_z[f]
            for k in range(offsets):
                row = k * windows + s
                for f in range(maps):
                    delta_conv[row, f] = delta_z[f] if argmax[s, f] == k \
                        else 0


@_jit
def gradient_step(w, a, delta, alpha, beta):
    """In place: ``w`` (n_in, n_out) <- ``beta * w + alpha * a^T delta``
    for the inputs ``a`` (m, n_in) and the gradient with the outputs
    ``delta`` (m, n_out); all C-contiguous, of one dtype."""
    gemm_in_blocks(w, a, delta, variable(True), variable(False), alpha,
                   beta, variable(0), max(w.shape[0], 1))


def warm_up():
    """Compile (or load from the cache) every kernel for float32 and
    float64, so that timings exclude compilation."""
    for dtype in (np.float32, np.float64):
        x = np.zeros((1, 2, 2, 1), dtype=dtype)       # one 2x2 image
        columns = np.zeros((1, 4), dtype=dtype)        # its one 2x2 patch
        im2col(x, 2, 2, 1, 1, columns)
        z = np.zeros((1, 1), dtype=dtype)              # 1x1 pools of 1 map
        argmax = np.zeros((1, 1), dtype=np.int64)
        max_pool(z.copy(), np.zeros(1, dtype), z, argmax)
        pool_backward(z.reshape(1, 1, 1), z, SLOPE_SIGMOID, argmax,
                      z.copy(), np.zeros(1, dtype))
        col2im(columns, 2, 2, 1, 1, x)
        gradient_step(z, z, z, -1.0, 1.0)
        gemm_in_blocks(z, z, z, False, False, 1.0, 0.0, 0, 1)
