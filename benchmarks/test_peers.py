"""Peers: the same epoch ([784, 30, 10], quadratic cost, mini-batch 10,
eta 3.0) written in PyTorch and in JAX, each skipped when not installed
(``pip install torch jax``), beside fastnet's ``fit`` in the same run.

Each peer is the book's matrix-based backpropagation with its framework's
own tensors: PyTorch eagerly on the CPU with one intra-op thread (as
fastnet trains), JAX compiled once (``jit`` over a ``lax.scan`` of the
whole epoch's mini-batches).  Compile and warm-up are not timed.
"""

import numpy as np
import pytest

import fastnet
from fastnet import bench

SIZES, MINI_BATCH, ETA = (784, 30, 10), 10, 3.0
DTYPES = ["float64", "float32"]


@pytest.fixture(scope="module")
def arrays(training_set, samples):
    """Inputs (n, 784) and one-hot targets (n, 10), rows shuffled once."""
    n = min(samples, training_set.X.shape[1])
    order = np.random.default_rng(0).permutation(n)
    X = np.ascontiguousarray(training_set.X[:, order].T)
    Y = np.eye(10)[training_set.labels[order]]
    return X, Y


def initial(dtype):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((b, a)).astype(dtype),
             rng.standard_normal((b, 1)).astype(dtype))
            for a, b in zip(SIZES[:-1], SIZES[1:])]


def torch_epoch(torch, X, Y, dtype):
    layers = [(torch.tensor(w), torch.tensor(b)) for w, b in initial(dtype)]
    X, Y = torch.tensor(X.astype(dtype)), torch.tensor(Y.astype(dtype))

    def run():
        for start in range(0, X.shape[0], MINI_BATCH):
            a = [X[start:start + MINI_BATCH].T]
            for w, b in layers:
                a.append(torch.sigmoid(w @ a[-1] + b))
            y = Y[start:start + MINI_BATCH].T
            delta = (a[-1] - y) * a[-1] * (1 - a[-1])
            step = ETA / a[0].shape[1]
            for l in range(len(layers) - 1, -1, -1):
                w, b = layers[l]
                below = (w.T @ delta) * a[l] * (1 - a[l]) if l else None
                w.sub_(step * (delta @ a[l].T))
                b.sub_(step * delta.sum(1, keepdim=True))
                delta = below
    return run


def jax_epoch(jax, X, Y, dtype):
    jnp = jax.numpy
    n = X.shape[0] // MINI_BATCH * MINI_BATCH
    batches = (X[:n].astype(dtype).reshape(-1, MINI_BATCH, X.shape[1]),
               Y[:n].astype(dtype).reshape(-1, MINI_BATCH, Y.shape[1]))

    def step(layers, batch):
        x, y = batch
        a = [x.T]
        for w, b in layers:
            a.append(jax.nn.sigmoid(w @ a[-1] + b))
        delta = (a[-1] - y.T) * a[-1] * (1 - a[-1])
        new = list(layers)
        for l in range(len(layers) - 1, -1, -1):
            w, b = layers[l]
            below = (w.T @ delta) * a[l] * (1 - a[l]) if l else None
            new[l] = (w - ETA / MINI_BATCH * (delta @ a[l].T),
                      b - ETA / MINI_BATCH * delta.sum(1, keepdims=True))
            delta = below
        return new, None

    epoch = jax.jit(lambda layers, data: jax.lax.scan(step, layers, data)[0])
    start = [(jnp.asarray(w), jnp.asarray(b)) for w, b in initial(dtype)]
    jax.block_until_ready(epoch(start, batches))  # compile
    return lambda: jax.block_until_ready(epoch(start, batches))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("peer", ["fastnet", "torch", "jax"])
def test_one_epoch_beside_peers(benchmark, arrays, rates, record, peer,
                                dtype):
    X, Y = arrays
    if peer == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(1)
        run = torch_epoch(torch, X, Y, dtype)
    elif peer == "jax":
        jax = pytest.importorskip("jax")
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        run = jax_epoch(jax, X, Y, dtype)
    else:
        network = fastnet.Network(list(SIZES), seed=0)
        labels = np.argmax(Y, axis=1)
        run = lambda: network.fit(X.T, labels, epochs=1,  # noqa: E731
                                  mini_batch_size=MINI_BATCH, eta=ETA,
                                  seed=0, dtype=dtype)
    workload = bench.Workload(SIZES, MINI_BATCH, X.shape[0], ETA)
    label = f"peers: {workload.label}, {X.shape[0]}"
    benchmark.group = label
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    record(label, f"{peer}-{dtype}", benchmark,
           bench.Workload(SIZES, MINI_BATCH, X.shape[0], ETA))
