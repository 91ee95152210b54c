"""Time one training epoch of each implementation on the same data.

Shared by ``fastnet bench`` (``run_table`` prints its table, ``plot``
draws it) and the pytest-benchmark suites in ``benchmarks/``.  Every implementation starts from the same weights
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

from . import costs, data, mnist_loader, network2, reference
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
    cost = costs.by_name(workload.cost)
    if implementation == "reference":
        if workload.chapter3:
            network = reference.network2.Network(
                sizes, cost=getattr(reference.network2, cost.json_name))
        else:
            network = reference.Network(sizes)
    elif workload.chapter3:
        network = network2.Network(sizes, cost=cost.cls)
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
        for cost in costs.COSTS:
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


def run_table(networks, mini_batch_sizes, samples, *, eta=3.0, repeat=3,
              reference=True, data_dir=None, out=print):
    """Time every implementation on every network and mini-batch size,
    printing the table row by row; returns the rows as dicts."""
    implementations = [i for i in IMPLEMENTATIONS
                       if reference or i != "reference"]
    out(f"fastnet bench: one epoch on {samples:,} MNIST training images, "
        f"eta {eta}; median of {repeat} rounds, each round timing every "
        f"implementation in turn")
    out(blas_description())
    training_set = TrainingSet(samples, data_dir)
    out(f"kernels compiled or loaded from cache in "
        f"{warm_up(training_set):.2f} s (not timed below)")
    out(f"\n{'network':14s} {'batch':>5s}  {'implementation':34s} "
        f"{'s/epoch':>8s} {'speed-up':>9s}")
    rows = []
    for sizes in networks:
        for m in mini_batch_sizes:
            seconds = time_epochs(implementations,
                                  Workload(tuple(sizes), m, samples, eta),
                                  training_set, repeat=repeat)
            for implementation in implementations:
                rows.append(_row(sizes, m, implementation, seconds))
                out(_format_row(rows[-1]), flush=True)
    return rows


def _row(sizes, m, implementation, seconds):
    baseline = seconds.get("reference")
    return {"sizes": list(sizes), "mini_batch_size": m,
            "implementation": implementation,
            "seconds": seconds[implementation],
            "speedup": baseline / seconds[implementation] if baseline
            else None}


def _format_row(row):
    ratio = f"{row['speedup']:8.1f}x" if row["speedup"] else ""
    return (f"{'-'.join(map(str, row['sizes'])):14s} "
            f"{row['mini_batch_size']:5d}  "
            f"{DESCRIPTIONS[row['implementation']]:34s} "
            f"{row['seconds']:8.3f} {ratio:>9s}")


def plot(rows, path, samples):
    """Seconds per epoch against mini-batch size, one panel per network
    (needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("fastnet: error: --plot needs matplotlib: pip "
                         "install 'fastnet[plot]'") from None
    networks = sorted({tuple(r["sizes"]) for r in rows})
    figure, axes = plt.subplots(1, len(networks), squeeze=False,
                                figsize=(5.5 * len(networks), 4.2))
    for ax, sizes in zip(axes[0], networks):
        for implementation in IMPLEMENTATIONS:
            points = sorted((r["mini_batch_size"], r["seconds"]) for r in rows
                            if tuple(r["sizes"]) == sizes
                            and r["implementation"] == implementation)
            if points:
                ax.plot(*zip(*points), marker="o",
                        label=DESCRIPTIONS[implementation])
        ax.set(xscale="log", yscale="log", xlabel="mini-batch size",
               ylabel="seconds per epoch",
               title=f"{list(sizes)}, {samples:,} samples")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
