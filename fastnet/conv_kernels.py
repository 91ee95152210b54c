"""Numba-compiled loops behind ``fastnet.network3``'s layers.

The convolution and its two gradients are BLAS products on unrolled
patches; these kernels do the memory shuffling around them, which NumPy
would do in several strided copies per mini-batch:

- ``im2col`` unrolls the patches of a mini-batch of images into rows,
- ``col2im`` adds such rows back onto the images (its adjoint, for the
  gradient with a layer's input),
- ``max_pool`` takes each pooling window's maximum, adds the bias, and
  remembers which position of the window held the maximum, so that
  ``unpool`` can send each window's gradient back to that one position;
- ``gradient_step`` updates a fully connected layer's weights with one
  BLAS call, without storing their gradient.

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

from .blas import add_outer_products
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
                    for t in range(span):
                        target[t] = source[t]


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
    size = windows * maps
    values, best, where = conv.reshape(-1), z.reshape(-1), argmax.reshape(-1)
    for t in range(size):
        best[t] = values[t]
        where[t] = 0
    for k in range(1, conv.shape[0] // windows):
        block = values[k * size:]
        for t in range(size):
            # selects, not branches: the loop vectorises
            larger = block[t] > best[t]
            where[t] = k if larger else where[t]
            best[t] = block[t] if larger else best[t]
    for s in range(windows):
        for f in range(maps):
            z[s, f] += bias[f]


@_jit
def unpool(delta, argmax, delta_conv):
    """Sets ``delta_conv`` (offsets * windows, maps), the gradient with
    the convolution, to zero except at each window's maximum (at offset
    ``argmax``), which gets the window's ``delta`` (windows, maps)."""
    windows, maps = delta.shape
    size = windows * maps
    gradient, where = delta.reshape(-1), argmax.reshape(-1)
    spread = delta_conv.reshape(-1)
    for k in range(delta_conv.shape[0] // windows):
        block = spread[k * size:]
        for t in range(size):
            block[t] = gradient[t] if where[t] == k else 0


@_jit
def gradient_step(w, a, delta, alpha, beta):
    """In place: ``w`` (n_in, n_out) <- ``beta * w + alpha * a^T delta``
    for the inputs ``a`` (m, n_in) and the gradient with the outputs
    ``delta`` (m, n_out); all C-contiguous, of one dtype."""
    add_outer_products(w, a, delta, alpha, beta)


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
        unpool(z, argmax, z.copy())
        col2im(columns, 2, 2, 1, 1, x)
        gradient_step(z, z, z, -1.0, 1.0)
