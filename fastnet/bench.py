"""Time one training epoch of each implementation on the same data.

Shared by ``fastnet bench`` and the pytest-benchmark suites in
``benchmarks/``.  Every implementation starts from the same weights
(``np.random.seed(0)``) and trains on the same samples:

- ``reference``: the seed's per-sample loop, ``fastnet.reference.Network.SGD``;
- ``dropin``: ``fastnet.Network.SGD`` on the same Nielsen-format list,
  float64, the seed's exact random stream (the list's conversion counts);
- ``fit-float64`` and ``fit-float32``: the array API, ``Network.fit``.

A workload with the cross-entropy cost or L2 regularisation (``lmbda``)
runs chapter 3's network instead: ``fastnet.reference.network2`` against
``fastnet.network2``.
"""

import contextlib
import dataclasses
import io
import random
import time

import numpy as np

from . import data, mnist_loader, network2, reference
from .network import Network

IMPLEMENTATIONS = ("reference", "dropin", "fit-float64", "fit-float32")
DESCRIPTIONS = {
    "reference": "reference: per-sample loop (seed)",
    "dropin": "fastnet SGD, float64, drop-in",
    "fit-float64": "fastnet fit, float64",
    "fit-float32": "fastnet fit, float32",
}


@dataclasses.dataclass(frozen=True)
class Workload:
    sizes: tuple
    mini_batch_size: int
    samples: int
    eta: float = 3.0
    cost: str = "quadratic"  # or "cross-entropy"
    lmbda: float = 0.0

    @property
    def chapter3(self):
        """Whether this needs network2 (cross-entropy or L2)."""
        return self.cost != "quadratic" or self.lmbda != 0

    @property
    def label(self):
        label = "-".join(map(str, self.sizes)) + \
            f" batch {self.mini_batch_size}"
        if self.chapter3:
            label += f" {self.cost} lmbda {self.lmbda:g}"
        return label


COST_CLASSES = {"quadratic": "QuadraticCost",
                "cross-entropy": "CrossEntropyCost"}


class TrainingSet:
    """MNIST training images in both layouts, prepared once: ``training``,
    Nielsen's list of ``(x, y)`` tuples, and ``X`` (784, n) float32 columns
    with integer ``labels``."""

    def __init__(self, samples, path=None):
        training = mnist_loader.load_data_wrapper(path)[0]
        if samples > len(training):
            raise ValueError(f"at most {len(training)} training samples, "
                             f"asked for {samples}")
        self.training = training[:samples]
        images, labels = data.load_mnist("train", path=path)
        self.X = data.to_columns(images[:samples])
        self.labels = labels[:samples]


def epoch(implementation, workload, training_set):
    """A fresh network and a callable that trains it for one epoch; only
    the callable is to be timed."""
    sizes, m, n = list(workload.sizes), workload.mini_batch_size, \
        workload.samples
    np.random.seed(0)
    random.seed(0)
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}; "
                         f"choose from {IMPLEMENTATIONS}")
    if implementation == "reference":
        if workload.chapter3:
            cost = getattr(reference.network2, COST_CLASSES[workload.cost])
            network = reference.network2.Network(sizes, cost=cost)
        else:
            network = reference.Network(sizes)
    elif workload.chapter3:
        network = network2.Network(
            sizes, cost=getattr(network2, COST_CLASSES[workload.cost]))
    else:
        network = Network(sizes)
    if implementation in ("reference", "dropin"):
        samples = training_set.training[:n]
        if workload.chapter3:
            def train():
                network.SGD(samples, 1, m, workload.eta, workload.lmbda)
        else:
            def train():
                network.SGD(samples, m, 1, workload.eta)

        def run():
            with contextlib.redirect_stdout(io.StringIO()):
                train()
        return run
    dtype = implementation.split("-")[1]
    X, labels = training_set.X[:, :n], training_set.labels[:n]
    return lambda: network.fit(X, labels, epochs=1, mini_batch_size=m,
                               eta=workload.eta, lmbda=workload.lmbda,
                               seed=0, dtype=dtype)


def warm_up(training_set):
    """Run every fast path once on a few samples, so that compiling (or
    loading the on-disk cache of) the kernels is not timed later.
    Returns the seconds it took."""
    started = time.perf_counter()
    for implementation in IMPLEMENTATIONS[1:]:
        for cost in COST_CLASSES:
            epoch(implementation, Workload((784, 30, 10), 10, 20, cost=cost),
                  training_set)()
    return time.perf_counter() - started


def blas_description():
    """Which BLAS library, kernel set and thread count NumPy and SciPy use
    (needs threadpoolctl; timings mean little without it)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (pip install threadpoolctl to report it)"
    found = {f"{pool.get('internal_api')} {pool.get('version')} "
             f"({pool.get('architecture')} kernels, "
             f"{pool.get('num_threads')} threads)"
             for pool in threadpool_info() if pool.get("user_api") == "blas"}
    return "BLAS: " + "; ".join(sorted(found)) if found else "BLAS: none found"


def time_epochs(implementations, workload, training_set, repeat=1):
    """Median wall-clock seconds of one epoch for each implementation,
    each epoch on a fresh network.  The rounds interleave the
    implementations, so that a slow spell of a shared machine hits them
    all alike and the ratios stay fair."""
    times = {implementation: [] for implementation in implementations}
    for _ in range(repeat):
        for implementation in implementations:
            run = epoch(implementation, workload, training_set)
            started = time.perf_counter()
            run()
            times[implementation].append(time.perf_counter() - started)
    return {implementation: float(np.median(seconds))
            for implementation, seconds in times.items()}
