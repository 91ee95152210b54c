"""Numba-compiled loops behind ``fastnet.network3``'s convolutional layers.

The convolution itself is a BLAS product on unrolled patches; these
kernels do the memory shuffling around it, which NumPy would do in
several strided copies per mini-batch:

- ``im2col`` unrolls the patches of a mini-batch of images into rows,
- ``col2im`` adds such rows back onto the images (its adjoint, for the
  gradient with a layer's input),
- ``max_pool`` takes each pooling window's maximum and remembers which
  row of the convolution held it, so that ``unpool`` can send each
  window's gradient back to that one position.

Layouts (row-major, as passed): images ``(m, channels, h, w)``; unrolled
patches ``(m * oh * ow, channels * kh * kw)``, rows in (example, row,
column) order, each patch in (channel, row, column) order; the
convolution ``(m * oh * ow, maps)`` in the same row order; pooled maps
``(m, oh // ph, ow // pw, maps)``.  Arithmetic stays in the arrays' dtype
(float32 or float64).  Nothing is checked here: ``fastnet.network3`` checks
shapes before any kernel runs.  The plain NumPy twins of these kernels are
in ``tests/test_network3.py``.
"""

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True)


@_jit
def im2col(x, kh, kw, columns):
    """Writes the ``kh`` x ``kw`` patches of ``x`` (m, channels, h, w)
    into ``columns`` (m * oh * ow, channels * kh * kw)."""
    m, channels, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    for n in range(m):
        for i in range(oh):
            for j in range(ow):
                row = (n * oh + i) * ow + j
                k = 0
                for c in range(channels):
                    for p in range(kh):
                        for q in range(kw):
                            columns[row, k] = x[n, c, i + p, j + q]
                            k += 1


@_jit
def col2im(columns, kh, kw, x):
    """Sets ``x`` (m, channels, h, w) to the sum of the rows of
    ``columns`` (m * oh * ow, channels * kh * kw) placed back on their
    patches: the adjoint of ``im2col``."""
    m, channels, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    x[:] = 0
    for n in range(m):
        for i in range(oh):
            for j in range(ow):
                row = (n * oh + i) * ow + j
                k = 0
                for c in range(channels):
                    for p in range(kh):
                        for q in range(kw):
                            x[n, c, i + p, j + q] += columns[row, k]
                            k += 1


@_jit
def max_pool(conv, oh, ow, ph, pw, pooled, argmax):
    """For the convolution ``conv`` (m * oh * ow, maps), writes each
    ``ph`` x ``pw`` window's maximum into ``pooled`` (m, oh // ph,
    ow // pw, maps) and the row of ``conv`` holding it into ``argmax``
    (same shape, int64): the first maximum in row-major window order."""
    m, qh, qw, maps = pooled.shape
    for n in range(m):
        for a in range(qh):
            for b in range(qw):
                for f in range(maps):
                    best_row = (n * oh + a * ph) * ow + b * pw
                    best = conv[best_row, f]
                    for p in range(ph):
                        for q in range(pw):
                            row = (n * oh + a * ph + p) * ow + b * pw + q
                            if conv[row, f] > best:
                                best, best_row = conv[row, f], row
                    pooled[n, a, b, f] = best
                    argmax[n, a, b, f] = best_row


@_jit
def unpool(delta, argmax, delta_conv):
    """Sets ``delta_conv`` (m * oh * ow, maps) to zero except at each
    window's maximum, which gets the window's ``delta`` (m, oh // ph,
    ow // pw, maps)."""
    delta_conv[:] = 0
    m, qh, qw, maps = delta.shape
    for n in range(m):
        for a in range(qh):
            for b in range(qw):
                for f in range(maps):
                    delta_conv[argmax[n, a, b, f], f] = delta[n, a, b, f]


def warm_up():
    """Compile (or load from the cache) every kernel for float32 and
    float64, so that timings exclude compilation."""
    for dtype in (np.float32, np.float64):
        x = np.zeros((1, 1, 2, 2), dtype=dtype)
        columns = np.zeros((1, 4), dtype=dtype)
        im2col(x, 2, 2, columns)
        col2im(columns, 2, 2, x)
        pooled = np.zeros((1, 1, 1, 1), dtype=dtype)
        argmax = np.zeros((1, 1, 1, 1), dtype=np.int64)
        max_pool(columns.reshape(4, 1), 2, 2, 2, 2, pooled, argmax)
        unpool(pooled, argmax, np.zeros((4, 1), dtype=dtype))
