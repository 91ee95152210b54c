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

Layouts (row-major, as passed), chosen so that every loop's innermost
index runs along contiguous memory on both sides: images ``(m, channels,
h, w)``; unrolled patches ``(channels * kh * kw, m * oh * ow)``, one row
per filter tap (channel, row, column) and one column per output position
(example, row, column), the transpose of the usual im2col; the
convolution ``(maps, m * oh * ow)``, the product of the filters
``(maps, channels * kh * kw)`` with the patches; pooled maps ``(maps, m,
oh // ph, ow // pw)``.  Arithmetic stays in the arrays' dtype (float32 or
float64).  Nothing is checked here: ``fastnet.network3`` checks shapes
before any kernel runs.  The plain NumPy twins of these kernels are in
``tests/test_network3.py``.
"""

import numpy as np

from .compiled import jit

_jit = jit


@_jit
def im2col(x, kh, kw, columns):
    """Writes the ``kh`` x ``kw`` patches of ``x`` (m, channels, h, w)
    into ``columns`` (channels * kh * kw, m * oh * ow)."""
    m, channels, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    for c in range(channels):
        for p in range(kh):
            for q in range(kw):
                k = (c * kh + p) * kw + q
                for n in range(m):
                    for i in range(oh):
                        start = (n * oh + i) * ow
                        for j in range(ow):
                            columns[k, start + j] = x[n, c, i + p, j + q]


@_jit
def col2im(columns, kh, kw, x):
    """Sets ``x`` (m, channels, h, w) to the sum of the columns of
    ``columns`` (channels * kh * kw, m * oh * ow) placed back on their
    patches: the adjoint of ``im2col``."""
    m, channels, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    x[:] = 0
    for c in range(channels):
        for p in range(kh):
            for q in range(kw):
                k = (c * kh + p) * kw + q
                for n in range(m):
                    for i in range(oh):
                        start = (n * oh + i) * ow
                        for j in range(ow):
                            x[n, c, i + p, j + q] += columns[k, start + j]


@_jit
def max_pool(conv, oh, ow, ph, pw, pooled, argmax):
    """For the convolution ``conv`` (maps, m * oh * ow), writes each
    ``ph`` x ``pw`` window's maximum into ``pooled`` (maps, m, oh // ph,
    ow // pw) and its column in ``conv`` into ``argmax`` (same shape,
    int64): the first maximum in row-major window order."""
    maps, m, qh, qw = pooled.shape
    for f in range(maps):
        for n in range(m):
            for a in range(qh):
                top = (n * oh + a * ph) * ow
                for b in range(qw):
                    best_column = top + b * pw
                    best = conv[f, best_column]
                    for p in range(ph):
                        for q in range(pw):
                            column = top + p * ow + b * pw + q
                            if conv[f, column] > best:
                                best, best_column = conv[f, column], column
                    pooled[f, n, a, b] = best
                    argmax[f, n, a, b] = best_column


@_jit
def unpool(delta, argmax, delta_conv):
    """Sets ``delta_conv`` (maps, m * oh * ow) to zero except at each
    window's maximum, which gets the window's ``delta`` (maps, m,
    oh // ph, ow // pw)."""
    delta_conv[:] = 0
    maps, m, qh, qw = delta.shape
    for f in range(maps):
        for n in range(m):
            for a in range(qh):
                for b in range(qw):
                    delta_conv[f, argmax[f, n, a, b]] = delta[f, n, a, b]


def warm_up():
    """Compile (or load from the cache) every kernel for float32 and
    float64, so that timings exclude compilation."""
    for dtype in (np.float32, np.float64):
        x = np.zeros((1, 1, 2, 2), dtype=dtype)
        columns = np.zeros((4, 1), dtype=dtype)
        im2col(x, 2, 2, columns)
        col2im(columns, 2, 2, x)
        pooled = np.zeros((1, 1, 1, 1), dtype=dtype)
        argmax = np.zeros((1, 1, 1, 1), dtype=np.int64)
        max_pool(columns.reshape(1, 4), 2, 2, 2, 2, pooled, argmax)
        unpool(pooled, argmax, np.zeros((1, 4), dtype=dtype))
