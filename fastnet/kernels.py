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

Arithmetic happens in the dtype of ``params`` (float64, or float32 for
speed).  Inputs ``X`` may be float32 while ``params`` are float64: rows
are widened exactly when a mini-batch is gathered, as NumPy does in the
reference's ``np.dot(w, x)``.

Nothing here checks its arguments: ``fastnet.validation`` does that
before any kernel runs.
"""

import numpy as np
from numba import njit

from .blas import add_outer_products

#: Output-layer error of each cost function, as passed to the kernels.
#: ``QUADRATIC``: C = |a - y|^2 / 2, delta^L = (a - y) * sigmoid'(z).
#: ``CROSS_ENTROPY``: C = -sum y ln a + (1 - y) ln(1 - a), delta^L = a - y.
QUADRATIC = 0
CROSS_ENTROPY = 1

#: Rows per block when only the forward pass is needed (prediction):
#: bounds the workspace for any number of samples.
FORWARD_BLOCK = 1024

_jit = njit(cache=True, nogil=True)


@_jit
def param_offsets(sizes):
    """Start of each layer's block in the flat parameter vector.

    ``sizes`` (L+1,) int64 -> (L+1,) int64; the last entry is the total
    number of parameters."""
    offsets = np.zeros(sizes.shape[0], np.int64)
    for l in range(sizes.shape[0] - 1):
        offsets[l + 1] = offsets[l] + sizes[l + 1] * (sizes[l] + 1)
    return offsets


@_jit
def layer_weights(params, sizes, offsets, l):
    """View of layer ``l``'s weights, ``(n_{l+1}, n_l)``."""
    start = offsets[l]
    return params[start:start + sizes[l + 1] * sizes[l]].reshape(
        (sizes[l + 1], sizes[l]))


@_jit
def layer_biases(params, sizes, offsets, l):
    """View of layer ``l``'s biases, ``(n_{l+1},)``."""
    return params[offsets[l] + sizes[l + 1] * sizes[l]:offsets[l + 1]]


@_jit
def sigmoid(z):
    """The sigmoid 1 / (1 + e^-z), for a scalar or an array."""
    return 1.0 / (1.0 + np.exp(-z))


@_jit
def sigmoid_prime(z):
    """sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)), for a scalar or an array."""
    s = sigmoid(z)
    return s * (1.0 - s)


@_jit
def activate(Z, b):
    """In place: ``Z <- sigmoid(Z + b)``, the bias added to every row.

    ``Z`` (m, n) weighted inputs without bias, ``b`` (n,)."""
    for j in range(Z.shape[0]):
        for i in range(Z.shape[1]):
            Z[j, i] = sigmoid(Z[j, i] + b[i])


@_jit
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


@_jit
def hidden_error(P, A):
    """In place: ``P <- P * sigmoid'(z)``, turning the back-propagated
    product ``P = delta^{l+1} W^{l+1}`` (m, n) into ``delta^l``; ``A``
    (m, n) holds the layer's activations sigmoid(z)."""
    for j in range(P.shape[0]):
        for i in range(P.shape[1]):
            a = A[j, i]
            P[j, i] = P[j, i] * (a * (1.0 - a))


@_jit
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


@_jit
def step_layer(W, b, D, A_in, decay, step, grad_b):
    """One layer's gradient step, in place:
    ``w <- decay * w - step * sum_x delta_x a_x^T`` and
    ``b <- b - step * sum_x delta_x``, the reference's update expressions.

    ``step`` is eta / m; ``decay`` is 1 - eta * lmbda / n with L2
    regularisation and exactly 1.0 without it.  The weight update is one
    BLAS call (``gemm`` with alpha = -step, beta = decay), so the weight
    gradient is never stored.  ``grad_b`` (n_out,) is scratch space."""
    add_outer_products(W, D, A_in, -step, decay)
    sum_rows(D, grad_b)
    for i in range(b.shape[0]):
        b[i] = b[i] - step * grad_b[i]


@_jit
def gather_rows(source, index, first, out):
    """``out[j] <- source[index[first + j]]`` for each row of ``out``,
    casting to ``out``'s dtype."""
    for j in range(out.shape[0]):
        row = index[first + j]
        for i in range(out.shape[1]):
            out[j, i] = source[row, i]


@_jit
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


@_jit
def block(buffer, start, m, width):
    """The first ``m`` rows of a ``(batch, width)`` block of ``buffer``."""
    return buffer[start:start + m * width].reshape((m, width))


@_jit
def forward_pass(params, sizes, offsets, acts, act_offsets, m):
    """Feed ``m`` samples, already in layer 0 of ``acts``, through every
    layer: ``a^{l+1} = sigmoid(a^l W^T + b)`` row by row."""
    for l in range(sizes.shape[0] - 1):
        A_in = block(acts, act_offsets[l], m, sizes[l])
        A_out = block(acts, act_offsets[l + 1], m, sizes[l + 1])
        np.dot(A_in, layer_weights(params, sizes, offsets, l).T, A_out)
        activate(A_out, layer_biases(params, sizes, offsets, l))


@_jit
def backward_pass(params, sizes, offsets, workspace, m, Y, cost, grad,
                  decay, step):
    """Back-propagate the error of ``m`` samples after ``forward_pass``;
    ``Y`` (m, n_out) are their desired outputs.

    With ``grad`` the size of ``params``, write the gradient summed over
    the samples into it (laid out like ``params``).  With an empty
    ``grad``, take the gradient step instead, each layer as soon as its
    error is known (``step_layer``), after the error of the layer below
    has been computed from the weights before the step."""
    acts, act_offsets, errors_a, errors_b, row = workspace
    L = sizes.shape[0] - 1
    D = block(errors_a, 0, m, sizes[L])
    output_error(block(acts, act_offsets[L], m, sizes[L]), Y, cost, D)
    for l in range(L - 1, -1, -1):
        A_in = block(acts, act_offsets[l], m, sizes[l])
        W = layer_weights(params, sizes, offsets, l)
        below = D
        if l > 0:
            # delta^l = (delta^{l+1} W^{l+1}) * sigmoid'(z^l), alternating
            # between the two error buffers.
            spare = errors_b if (L - l) % 2 == 1 else errors_a
            below = block(spare, 0, m, sizes[l])
            np.dot(D, W, below)
            hidden_error(below, A_in)
        if grad.shape[0] == 0:
            step_layer(W, layer_biases(params, sizes, offsets, l), D, A_in,
                       decay, step, row[:sizes[l + 1]])
        else:
            accumulate_gradient(D, A_in,
                                layer_weights(grad, sizes, offsets, l),
                                layer_biases(grad, sizes, offsets, l))
        D = below


@_jit
def train_batches(X, Y, order, params, sizes, batch_size, eta, decay, cost,
                  first, stop):
    """Mini-batch SGD over batches ``first .. stop-1`` of one epoch.

    ``X`` (n, n_in) inputs and ``Y`` (n, n_out) desired outputs, one sample
    per row; ``order`` (n,) the epoch's shuffled sample indices, cut into
    consecutive mini-batches of ``batch_size`` (the last one shorter when
    the sizes do not divide).  For each mini-batch of ``m`` samples:
    forward, backward, and ``w <- decay * w - (eta / m) * grad_w``,
    ``b <- b - (eta / m) * grad_b``.  ``params`` is updated in place."""
    n = order.shape[0]
    offsets = param_offsets(sizes)
    workspace = make_workspace(sizes, batch_size, params)
    acts, act_offsets = workspace[0], workspace[1]
    L = sizes.shape[0] - 1
    targets = np.empty(batch_size * sizes[L], params.dtype)
    no_grad = np.empty(0, params.dtype)
    for k in range(first, stop):
        start = k * batch_size
        m = min(batch_size, n - start)
        gather_rows(X, order, start, block(acts, 0, m, sizes[0]))
        Yb = block(targets, 0, m, sizes[L])
        gather_rows(Y, order, start, Yb)
        forward_pass(params, sizes, offsets, acts, act_offsets, m)
        backward_pass(params, sizes, offsets, workspace, m, Yb, cost,
                      no_grad, decay, eta / m)


@_jit
def gradient(params, sizes, X, Y, cost):
    """The cost gradient summed over all rows of ``X`` (m, n_in) with
    desired outputs ``Y`` (m, n_out), laid out like ``params``."""
    m = X.shape[0]
    offsets = param_offsets(sizes)
    workspace = make_workspace(sizes, m, params)
    acts, act_offsets = workspace[0], workspace[1]
    gather_rows(X, np.arange(m), 0, block(acts, 0, m, sizes[0]))
    forward_pass(params, sizes, offsets, acts, act_offsets, m)
    grad = np.empty_like(params)
    backward_pass(params, sizes, offsets, workspace, m,
                  Y.astype(params.dtype), cost, grad, 1.0, 0.0)
    return grad


@_jit
def feedforward(params, sizes, X):
    """Output activations (m, n_out) for the inputs ``X`` (m, n_in), in
    blocks of ``FORWARD_BLOCK`` rows."""
    m = X.shape[0]
    L = sizes.shape[0] - 1
    offsets = param_offsets(sizes)
    batch = max(1, min(m, FORWARD_BLOCK))
    acts, act_offsets = make_workspace(sizes, batch, params)[:2]
    out = np.empty((m, sizes[L]), params.dtype)
    order = np.arange(m)
    for start in range(0, m, batch):
        rows = min(batch, m - start)
        gather_rows(X, order, start, block(acts, 0, rows, sizes[0]))
        forward_pass(params, sizes, offsets, acts, act_offsets, rows)
        out[start:start + rows] = block(acts, act_offsets[L], rows, sizes[L])
    return out
