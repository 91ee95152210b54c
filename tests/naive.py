"""Slow, obvious NumPy versions of each compiled kernel (STUMPY's naive.py
pattern): each is the textbook formula, written for the reader, and the
tests compare the kernels with them.  Layouts as in ``fastnet.kernels``:
one sample per row."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def pack(weights, biases):
    """Nielsen-style lists of (n_out, n_in) weights and (n_out, 1) biases ->
    the kernels' flat vector: each layer's weights then its biases."""
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()])
                           for w, b in zip(weights, biases)])


def unpack(sizes, flat):
    """Inverse of ``pack``: (weights, biases)."""
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


def gradient(weights, biases, X, Y, cross_entropy=False):
    """Summed gradient of the cost over the rows of X, by matrix
    backpropagation: (nabla_w, nabla_b) lists."""
    activations = forward(weights, biases, X)
    a = activations[-1]
    delta = (a - Y) if cross_entropy else (a - Y) * a * (1 - a)
    nabla_w, nabla_b = [], []
    for l in range(len(weights) - 1, -1, -1):
        nabla_w.insert(0, delta.T @ activations[l])
        nabla_b.insert(0, delta.sum(axis=0).reshape(-1, 1))
        if l > 0:
            a_l = activations[l]
            delta = (delta @ weights[l]) * a_l * (1 - a_l)
    return nabla_w, nabla_b


def sgd(weights, biases, X, Y, order, batch_size, eta, decay=1.0,
        cross_entropy=False):
    """Mini-batch SGD over one epoch in the given sample order; returns new
    (weights, biases)."""
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        nabla_w, nabla_b = gradient(weights, biases, X[rows], Y[rows],
                                    cross_entropy)
        step = eta / len(rows)
        weights = [decay * w - step * nw for w, nw in zip(weights, nabla_w)]
        biases = [b - step * nb for b, nb in zip(biases, nabla_b)]
    return weights, biases


def quadratic_cost(weights, biases, X, Y):
    """sum over samples of |a - y|^2 / 2."""
    return 0.5 * np.sum((forward(weights, biases, X)[-1] - Y) ** 2)
