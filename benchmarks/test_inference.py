"""Inference: ``score`` on the 10,000 MNIST test images, and the cost of
one call on a single image (validation and packing, no real work).

Both precisions, [784, 30, 10] and [784, 100, 10], beside the same
forward pass written in plain NumPy (a matrix product per layer) and in
JAX (``jit``-compiled, compile not timed; skipped when JAX is not
installed); each benchmark's ``extra_info`` gives the floor: the pass's
matrix-product FLOPs at this machine's large-product rate on one core.
"""

import numpy as np
import pytest

import fastnet
from fastnet import data

NETWORKS = [(784, 30, 10), (784, 100, 10)]
DTYPES = ["float64", "float32"]


@pytest.fixture(scope="module")
def mnist_test():
    images, labels = data.load_mnist("test")
    return data.to_columns(images), labels


def trained(sizes, dtype, mnist_test):
    X, labels = mnist_test
    network = fastnet.Network(list(sizes), seed=0)
    return network.fit(X[:, :100], labels[:100], epochs=1, dtype=dtype)


def forward_flops(sizes, samples):
    return 2 * samples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", NETWORKS,
                         ids=lambda sizes: "-".join(map(str, sizes)))
@pytest.mark.parametrize("implementation", ["fastnet", "numpy", "jax"])
def test_score_test_set(benchmark, rates, mnist_test, implementation, sizes,
                        dtype):
    if implementation == "jax":
        jax = pytest.importorskip("jax")   # before timing: no empty result
        jax.config.update("jax_enable_x64", dtype == "float64")
    network = trained(sizes, dtype, mnist_test)
    X, labels = mnist_test
    X = X.astype(dtype)   # every implementation gets its own precision
    benchmark.group = f"score 10,000 images, {list(sizes)} {dtype}"
    floor = forward_flops(sizes, X.shape[1]) / rates[dtype, "1 core"]
    benchmark.extra_info.update(floor_seconds=floor, dtype=dtype)
    if implementation == "fastnet":
        benchmark(network.score, X, labels)
        return
    weights = [w.astype(dtype) for w in network.weights]
    biases = [b.astype(dtype) for b in network.biases]
    if implementation == "jax":
        benchmark(jax_scorer(jax, weights, biases, X, labels))
        return

    def numpy_score():
        a = X
        for w, b in zip(weights, biases):
            a = 1 / (1 + np.exp(-(w @ a + b)))
        return float(np.mean(np.argmax(a, axis=0) == labels))
    benchmark(numpy_score)


def jax_scorer(jax, weights, biases, X, labels):
    """The same score as one compiled JAX function of the data already on
    its device, compiled here."""
    jnp = jax.numpy
    params = [(jnp.asarray(w), jnp.asarray(b))
              for w, b in zip(weights, biases)]
    X, labels = jnp.asarray(X), jnp.asarray(labels)

    @jax.jit
    def score(params, X, labels):
        a = X
        for w, b in params:
            a = jax.nn.sigmoid(w @ a + b)
        return jnp.mean(jnp.argmax(a, axis=0) == labels)

    jax.block_until_ready(score(params, X, labels))   # compile
    return lambda: float(score(params, X, labels))


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_one_image(benchmark, mnist_test, dtype):
    """Per-call overhead: checking, packing and one tiny forward pass."""
    X, _ = mnist_test
    network = trained((784, 30, 10), dtype, mnist_test)
    benchmark.group = "predict one image"
    benchmark(network.predict, X[:, :1])
