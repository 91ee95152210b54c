"""Slow, obvious NumPy twins of the compiled kernels (STUMPY's naive.py).

Every compiled function in ``fastnet.kernels`` has a twin here under its
own name, taking the same arguments and having the same effect: a kernel
that writes into an array has a twin that writes the same numbers into
the same array, and a kernel that returns a view has a twin that returns
the same view.  ``tests/test_kernels.py`` compares each pair.  The twins
are written for the reader, as Nielsen writes the maths, and call no
compiled code.

Layout as in ``fastnet.kernels``: one sample per row, so a layer computes
``a^{l+1} = sigmoid(a^l W^T + b)``; a network is a ``Net(params, sizes,
offsets)`` record with every layer's weights (C order) then biases in the
flat vector ``params``; a step's settings are ``Step(eta, decay, cost)``.

The workspace's two error buffers and its scratch row hold intermediate
results only: twins of the kernels that return their result there
(``output_layer_error``, ``error_below``) write the same blocks, the
others (``backward_gradient``, ``backward_step``, ``train_batches``)
promise only their documented outputs.
"""

import ctypes

import numpy as np

from fastnet.kernels import ALIGNED, C_CONTIGUOUS, CROSS_ENTROPY, \
    FORWARD_BLOCK_BYTES, QUADRATIC, Net, RowsAt

# -- Nielsen-style lists of matrices, for writing the maths plainly -----------


def pack(weights, biases):
    """Lists of (n_out, n_in) weights and (n_out, 1) biases -> the flat
    vector: each layer's weights then its biases."""
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()])
                           for w, b in zip(weights, biases)])


def unpack(sizes, flat):
    """Inverse of ``pack``: (weights, biases), views of ``flat``."""
    weights, biases, start = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights.append(flat[start:start + n_out * n_in].reshape(n_out, n_in))
        start += n_out * n_in
        biases.append(flat[start:start + n_out].reshape(n_out, 1))
        start += n_out
    return weights, biases


def forward(weights, biases, X):
    """All activations for the rows of X: [X, a^1, ..., a^L], each (m, n_l)."""
    activations = [X]
    for w, b in zip(weights, biases):
        activations.append(sigmoid(activations[-1] @ w.T + b.T))
    return activations


def deltas(weights, activations, Y, cost):
    """Backpropagation's errors [delta^1, ..., delta^L], each (m, n_l), from
    every layer's activations and the desired outputs ``Y`` (m, n_out)."""
    a = activations[-1]
    delta = (a - Y) * a * (1 - a) if cost == QUADRATIC else a - Y
    errors = [delta]
    for l in range(len(weights) - 1, 0, -1):
        a_l = activations[l]
        delta = (delta @ weights[l]) * a_l * (1 - a_l)
        errors.insert(0, delta)
    return errors


def backprop(weights, biases, X, Y, cost):
    """The cost gradient summed over the rows of X: (nabla_w, nabla_b)."""
    activations = forward(weights, biases, X)
    errors = deltas(weights, activations, Y, cost)
    nabla_w = [d.T @ a for d, a in zip(errors, activations[:-1])]
    nabla_b = [row_sum(d).reshape(-1, 1) for d in errors]
    return nabla_w, nabla_b


def row_sum(D):
    """sum_x delta_x: the rows of D added one after another in float64, as
    the reference adds its per-sample bias gradients."""
    total = np.zeros(D.shape[1])
    for row in D:
        total = total + row
    return total


# -- The network's layout -----------------------------------------------------


def param_offsets(sizes):
    """Where each layer starts in the flat vector; the last entry is the
    total: layer l has n_{l+1} * n_l weights and n_{l+1} biases."""
    counts = [n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return np.array([0] + list(np.cumsum(counts)), np.int64)


def make_net(params, sizes):
    sizes = np.array(sizes, np.int64)
    return Net(params, sizes, param_offsets(sizes))


def layer_weights(flat, net, l):
    return unpack(net.sizes, flat)[0][l]


def layer_biases(flat, net, l):
    return unpack(net.sizes, flat)[1][l].reshape(-1)


# -- Elementwise maths --------------------------------------------------------


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def exp(x):
    """e^x, infinity where it overflows, ``x`` below -708 taken as -708
    as the kernel takes it."""
    with np.errstate(over="ignore"):
        return np.exp(np.maximum(x, -708.0))


def activate(Z, b):
    Z[...] = sigmoid(Z + b)


def output_error(A, Y, cost, D):
    """delta^L = (a - y) sigmoid'(z) for the quadratic cost, a - y for the
    cross-entropy; sigmoid'(z) = a (1 - a) since a = sigmoid(z)."""
    if cost == QUADRATIC:
        D[...] = (A - Y) * (A * (1 - A))
    else:
        assert cost == CROSS_ENTROPY
        D[...] = A - Y


def hidden_error(P, A):
    P[...] = P * (A * (1 - A))


# -- One layer's sums ---------------------------------------------------------


def sum_rows(D, out):
    out[...] = row_sum(D)


def accumulate_gradient(D, A_in, grad_w, grad_b):
    grad_w[...] = D.T @ A_in
    grad_b[...] = row_sum(D)


def layer_product(C, A, B, transpose_a, transpose_b, alpha, beta, blocks):
    """``C`` <- ``beta C + alpha op(A) op(B)``, whole."""
    C[...] = beta * C + alpha * ((A.T if transpose_a else A)
                                 @ (B.T if transpose_b else B))


def step_layer(W, b, D, A_in, decay, step, grad_b, blocks):
    """w <- decay w - step sum_x delta_x a_x^T, b <- b - step sum_x delta_x;
    ``grad_b`` is left holding the bias gradient, as the kernel leaves it."""
    W[...] = decay * W - step * (D.T @ A_in)
    grad_b[...] = row_sum(D)
    b[...] = b - step * grad_b


def take_rows(source, picked):
    """Rows ``picked`` of ``source``, a 2-D array or a ``RowsAt`` (the
    numbers at each address, read through ctypes)."""
    if not isinstance(source, RowsAt):
        return source[picked]
    size = source.width * source.like.itemsize
    return np.array([np.frombuffer((ctypes.c_char * size).from_address(
        int(source.addresses[i])), source.like.dtype) for i in picked])


def gather_rows(source, index, first, out):
    out[...] = take_rows(source, index[first:first + len(out)])


def prefetch_rows(source, index, first, count):
    """Only a hint to the processor's caches: no effect to twin."""


def first_nonfinite_row(source, n):
    bad = ~np.isfinite(take_rows(source, np.arange(n))).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else -1


# -- Arrays found by address (the objects themselves, through ctypes) --------


def array_address(array, layout, dtype, width):
    """The data address of the object at ``array`` if it is a plain
    ndarray of the dtype object at ``dtype``, shaped (width, 1),
    C-contiguous and aligned, else -1."""
    array = ctypes.cast(int(array), ctypes.py_object).value
    wanted = C_CONTIGUOUS | ALIGNED
    if type(array) is not np.ndarray or id(array.dtype) != dtype or \
            array.shape != (width, 1) or \
            array.flags.num & wanted != wanted:
        return -1
    return array.ctypes.data


def pair_addresses(pairs, layout, out_x, out_y):
    for i, pair in enumerate(pairs):
        pair = ctypes.cast(int(pair), ctypes.py_object).value
        if type(pair) is not tuple or len(pair) != 2:
            return i
        out_x[i] = array_address(id(pair[0]), layout, layout[10], layout[12])
        out_y[i] = array_address(id(pair[1]), layout, layout[11], layout[13])
        if out_x[i] < 0 or out_y[i] < 0:
            return i
    return -1


# -- The workspace: every layer's activations, two error buffers, a row -------


def make_workspace(sizes, batch, dtype_like):
    dtype, widest = dtype_like.dtype, max(sizes)
    act_offsets = np.array([0] + list(np.cumsum([batch * n for n in sizes])),
                           np.int64)
    return (np.empty(act_offsets[-1], dtype), act_offsets,
            np.empty(batch * widest, dtype), np.empty(batch * widest, dtype),
            np.empty(widest, dtype))


def block(buffer, start, m, width):
    return buffer[start:start + m * width].reshape(m, width)


def activations(workspace, net, l, m):
    acts, act_offsets = workspace[0], workspace[1]
    return block(acts, act_offsets[l], m, net.sizes[l])


def all_activations(workspace, net, m):
    """[a^0, ..., a^L] of the first ``m`` samples, views of the workspace."""
    return [activations(workspace, net, l, m) for l in range(len(net.sizes))]


def forward_pass(net, workspace, m):
    """a^{l+1} = sigmoid(a^l W^T + b) for each layer, into the workspace."""
    weights, biases = unpack(net.sizes, net.params)
    for l, (w, b) in enumerate(zip(weights, biases)):
        a = activations(workspace, net, l, m)
        activations(workspace, net, l + 1, m)[...] = sigmoid(a @ w.T + b.T)


def forward_from(net, workspace, inputs, m):
    """forward_pass from ``inputs`` (m, n_in) instead of layer 0."""
    weights, biases = unpack(net.sizes, net.params)
    a = inputs
    for l, (w, b) in enumerate(zip(weights, biases)):
        a = sigmoid(a @ w.T + b.T)
        activations(workspace, net, l + 1, m)[...] = a


def output_layer_error(net, workspace, m, Y, cost):
    """delta^L, written at the start of the first error buffer."""
    L = len(net.sizes) - 1
    D = block(workspace[2], 0, m, net.sizes[L])
    output_error(activations(workspace, net, L, m), Y, cost, D)
    return D


def error_below(net, workspace, l, D, m):
    """delta^l = (delta^{l+1} W^{l+1}) sigmoid'(z^l), written at the start
    of whichever error buffer ``D`` = delta^{l+1} is not in."""
    errors_a, errors_b = workspace[2], workspace[3]
    spare = errors_b if np.shares_memory(D, errors_a) else errors_a
    below = block(spare, 0, m, net.sizes[l])
    a_l = activations(workspace, net, l, m)
    below[...] = (D @ layer_weights(net.params, net, l)) * a_l * (1 - a_l)
    return below


def backward_gradient(net, workspace, m, Y, cost, grad):
    weights, _ = unpack(net.sizes, net.params)
    a = all_activations(workspace, net, m)
    errors = deltas(weights, a, Y, cost)
    for l, (d, a_in) in enumerate(zip(errors, a)):
        accumulate_gradient(d, a_in, layer_weights(grad, net, l),
                            layer_biases(grad, net, l))


def backward_step(net, workspace, m, Y, step):
    """Every layer's error from the weights before the step, then the step
    w <- decay w - (eta / m) sum_x delta_x a_x^T, b <- b - (eta / m) sum_x
    delta_x."""
    weights, biases = unpack(net.sizes, net.params)
    a = all_activations(workspace, net, m)
    errors = deltas(weights, a, Y, step.cost)
    for w, b, d, a_in in zip(weights, biases, errors, a):
        w[...] = step.decay * w - (step.eta / m) * (d.T @ a_in)
        b[...] = b - (step.eta / m) * row_sum(d).reshape(-1, 1)


# -- Whole passes over data: Nielsen's loops, without the workspace -----------


def train_batches(net, X, Y, order, batch_size, first, stop, step):
    """Mini-batch SGD over batches first .. stop-1 of the epoch whose sample
    order is ``order``; inputs are cast to the parameters' dtype.  ``X``
    and ``Y``: 2-D arrays or ``RowsAt``."""
    weights, biases = unpack(net.sizes, net.params)
    dtype = net.params.dtype
    for k in range(first, stop):
        rows = order[k * batch_size:(k + 1) * batch_size]
        nabla_w, nabla_b = backprop(
            weights, biases, take_rows(X, rows).astype(dtype),
            take_rows(Y, rows).astype(dtype), step.cost)
        m = len(rows)
        for w, b, nw, nb in zip(weights, biases, nabla_w, nabla_b):
            w[...] = step.decay * w - (step.eta / m) * nw
            b[...] = b - (step.eta / m) * nb


def gradient(net, X, Y, cost):
    dtype = net.params.dtype
    weights, biases = unpack(net.sizes, net.params)
    nabla_w, nabla_b = backprop(weights, biases, X.astype(dtype),
                                Y.astype(dtype), cost)
    return pack(nabla_w, nabla_b).astype(dtype)


def column_forward(net, x):
    """The output layer's activations for one sample ``x`` (n_in,); empty
    if ``x`` holds NaN or infinity."""
    if not np.isfinite(x).all():
        return np.empty(0, net.params.dtype)
    weights, biases = unpack(net.sizes, net.params)
    return forward(weights, biases,
                   x.astype(net.params.dtype)[np.newaxis])[-1][0]


def feedforward(net, X):
    """The output layer's activations (the kernel's blocks of rows only
    bound its memory: the numbers are those of one pass over all rows)."""
    weights, biases = unpack(net.sizes, net.params)
    return forward(weights, biases, X.astype(net.params.dtype))[-1]


def forward_batch(net, m):
    """Rows of about ``FORWARD_BLOCK_BYTES`` of activations; 1 to ``m``."""
    row_bytes = sum(net.sizes) * net.params.itemsize
    return max(1, min(m, FORWARD_BLOCK_BYTES // row_bytes))


def forward_rows(net, X, outputs, classes):
    """``feedforward``'s outputs, and each row's most activated output
    neuron, into whichever of ``outputs`` and ``classes`` has a place for
    every row; whether every input is finite."""
    result = feedforward(net, X)
    if len(outputs) == len(X):
        outputs[...] = result
    if len(classes) == len(X):
        classes[:] = np.argmax(result, axis=1)
    return all_finite(X)


def all_finite(A):
    return bool(np.isfinite(A).all())


# -- fastnet.conv_kernels: the convolutional network's kernels ----------------
# Channels last: images (m, h, w, channels); patches one per row, columns
# in (row, column, channel) order, rows in window-offset-major order for
# ph x pw pools; the convolution and the pooled maps one column per map.

def by_window_offset(positions, ph, pw):
    """``positions`` (m, oh, ow, k) as rows (ph * pw * windows, k): block
    p * pw + q holds position (p, q) of every window, in window order."""
    m, oh, ow, k = positions.shape
    return positions.reshape(m, oh // ph, ph, ow // pw, pw, k).transpose(
        2, 4, 0, 1, 3, 5).reshape(m * oh * ow, k)


def im2col(x, kh, kw, ph, pw, columns):
    """``columns`` <- every ``kh`` x ``kw`` patch of ``x`` (m, h, w,
    channels), one patch per row, column ``(r * kw + q) * channels + c``
    holding pixel (r, q) of channel c."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw),
                                                       axis=(1, 2))
    m, oh, ow, channels = windows.shape[:4]
    patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(m, oh, ow, -1)
    columns[...] = by_window_offset(patches, ph, pw)


def col2im(columns, kh, kw, ph, pw, x):
    """``x`` <- the sum of each row of ``columns`` put back on its patch:
    the adjoint of ``im2col``, pixel by pixel."""
    m, h, w, channels = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    patches = columns.reshape(ph, pw, m, oh // ph, ow // pw, -1).transpose(
        2, 3, 0, 4, 1, 5).reshape(m, oh, ow, kh, kw, channels)
    x[...] = 0
    for r in range(kh):
        for q in range(kw):
            x[:, r:r + oh, q:q + ow, :] += patches[:, :, :, r, q, :]


def max_pool(conv, bias, z, argmax):
    """``z`` (windows, maps) <- each window's maximum plus ``bias``,
    ``argmax`` <- its offset in the window (the first maximum, as
    ``argmax`` finds it)."""
    blocks = conv.reshape(-1, *z.shape)
    z[...] = blocks.max(axis=0) + bias
    argmax[...] = blocks.argmax(axis=0)


def pool_backward(delta, values, slope_kind, argmax, delta_conv, nabla_b):
    """``delta_z`` = the activation's slope (from ``values``, as
    ``slope_kind`` says) times ``delta`` (m, maps, positions) in window
    order; ``nabla_b`` <- its sum over windows; ``delta_conv`` <- zero
    but at each window's maximum, which gets the window's ``delta_z``."""
    from fastnet import conv_kernels
    slope = {conv_kernels.SLOPE_GIVEN: values,
             conv_kernels.SLOPE_SIGMOID: values * (1 - values),
             conv_kernels.SLOPE_TANH: 1 - values * values,
             conv_kernels.SLOPE_RELU: (values >= 0).astype(values.dtype),
             }[slope_kind]
    delta_z = slope * delta.transpose(0, 2, 1).reshape(values.shape)
    nabla_b[...] = delta_z.sum(axis=0)
    delta_conv[...] = 0
    windows, maps = np.indices(values.shape)
    delta_conv.reshape(-1, *values.shape)[argmax, windows, maps] = delta_z


def product(C, A, B, transpose_a, transpose_b, axis, size):
    """``C`` <- ``op(A) op(B)``, whole: the twin of ``blas.gemm_in_blocks``
    as network3 calls it (alpha 1, beta 0, in blocks along ``axis``)."""
    C[...] = (A.T if transpose_a else A) @ (B.T if transpose_b else B)


def gradient_step(w, a, delta, alpha, beta):
    """``w`` <- ``beta * w + alpha * a^T delta``."""
    w[...] = beta * w + alpha * (a.T @ delta)
