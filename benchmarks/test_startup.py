"""Costs outside the training loop: compiling the kernels on first use,
and building Nielsen's lists from the MNIST files."""

import subprocess
import sys
import textwrap

import pytest

from fastnet import data, mnist_loader

FIRST_CALL = textwrap.dedent("""
    import time
    import numpy as np
    import fastnet
    X = np.random.default_rng(0).random((784, 20))
    started = time.perf_counter()
    fastnet.Network([784, 30, 10], seed=0).fit(X, np.arange(20) % 10,
                                               epochs=1)
    print(time.perf_counter() - started)
""")


def test_first_call_compiles_the_kernels(benchmark, tmp_path):
    """A fresh process with an empty Numba cache: the first fit() pays for
    compiling every kernel once (later processes load them from the
    on-disk cache)."""
    if benchmark.disabled:
        pytest.skip("compiles from scratch; runs only when benchmarking")
    environment = {"NUMBA_CACHE_DIR": str(tmp_path), "PATH": ""}

    def first_call():
        result = subprocess.run([sys.executable, "-c", FIRST_CALL],
                                env=environment, capture_output=True,
                                text=True, check=True)
        benchmark.extra_info["first_fit_seconds"] = float(result.stdout)

    benchmark.pedantic(first_call, rounds=1, iterations=1)


def test_load_data_wrapper_from_files(benchmark):
    """All 70,000 images into Nielsen's lists, reading and verifying the
    IDX files each round."""
    def setup():
        data._read_checked_cached.cache_clear()
        return (), {}

    benchmark.pedantic(mnist_loader.load_data_wrapper, setup=setup,
                       rounds=3, iterations=1)
