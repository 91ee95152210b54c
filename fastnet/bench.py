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

The floor: an epoch's matrix-product FLOPs (``epoch_flops``) divided by
this machine's rate on a large matrix product in the same precision,
measured in the same run (``matmul_rates``: one core and every core,
float64 and float32, through the BLAS the kernels call).  A time's
multiple of the one-core floor says how far an implementation is from
what one core can do on these products.
"""

import contextlib
import dataclasses
import io
import random
import time

import numpy as np

from . import core, costs, data, mnist_loader, network2, reference
from .blas import single_threaded
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
            network = reference.network2.Network(sizes, cost=cost.oracle)
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
    # and the gather that runs ahead on large sets (core.run_epoch), made
    # to run on a small one
    staged = 2 * core.STAGE_SAMPLES
    if len(training_set.labels) >= staged:
        threshold, core.STAGE_FROM_BYTES = core.STAGE_FROM_BYTES, 0
        try:
            for implementation in IMPLEMENTATIONS[1:]:
                epoch(implementation, Workload((784, 30, 10), 10, staged),
                      training_set)()
        finally:
            core.STAGE_FROM_BYTES = threshold
    return time.perf_counter() - started


def epoch_flops(sizes, samples):
    """Matrix-product FLOPs of one epoch of backpropagation (a
    multiply-add counts 2): per sample and layer, the forward product and
    the weight gradient, and the error sent down for every layer but the
    first.  The elementwise work (sigmoid, biases) is left out: it is
    linear in the neurons, not in the weights."""
    total = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        total += 2 * n_in * n_out * (3 if l else 2)
    return total * samples


def matmul_rate(dtype, one_thread, n=1024, rounds=5):
    """FLOPs per second of an ``n x n`` product in ``dtype`` through
    SciPy's ``gemm`` (the BLAS the kernels call), best of ``rounds``, on
    one thread or on BLAS's default threads."""
    from scipy.linalg import blas
    gemm = blas.sgemm if np.dtype(dtype) == np.float32 else blas.dgemm
    rng = np.random.default_rng(0)
    a, b = (np.asfortranarray(rng.random((n, n)), dtype) for _ in range(2))
    best = np.inf
    with single_threaded() if one_thread else contextlib.nullcontext():
        gemm(1.0, a, b)
        for _ in range(rounds):
            started = time.perf_counter()
            gemm(1.0, a, b)
            best = min(best, time.perf_counter() - started)
    return 2 * n ** 3 / best


def matmul_rates():
    """``{(dtype name, "1 core" / "all cores"): FLOP/s}``, measured now."""
    return {(dtype, cores): matmul_rate(dtype, cores == "1 core")
            for dtype in ("float64", "float32")
            for cores in ("1 core", "all cores")}


def describe_rates(rates):
    """One line: the measured large-product rates in GFLOP/s."""
    return "large matrix product (the floor's rate): " + ", ".join(
        f"{dtype} {rates[dtype, '1 core'] / 1e9:.1f} GFLOP/s on 1 core, "
        f"{rates[dtype, 'all cores'] / 1e9:.1f} on all"
        for dtype in ("float64", "float32"))


def implementation_dtype(implementation):
    """The precision an implementation computes in."""
    return "float32" if implementation.endswith("float32") else "float64"


def floor_seconds(implementation, workload, rates):
    """The one-core floor of ``workload`` for ``implementation``: its
    epoch's FLOPs at this machine's large-product rate on one core."""
    return epoch_flops(workload.sizes, workload.samples) / \
        rates[implementation_dtype(implementation), "1 core"]


def blas_description():
    """Which BLAS library, kernel set and thread count NumPy and SciPy use
    (needs threadpoolctl; timings mean little without it)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (pip install threadpoolctl to report it)"
    found = {f"{pool.get('internal_api')} {pool.get('version')} "
             f"({pool.get('architecture')} kernels, "
             f"{pool.get('num_threads')} threads by default)"
             for pool in threadpool_info() if pool.get("user_api") == "blas"}
    blas = "; ".join(sorted(found)) if found else "none found"
    return f"CPU: {cpu_description()}; BLAS: {blas}; fastnet trains with " \
        f"1 BLAS thread"


def cpu_description():
    """The processor's model name, core count and widest SIMD (Linux)."""
    import os
    name, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags \
        else "no AVX2" if flags else "SIMD unknown"
    return f"{name}, {os.cpu_count()} cores, {simd}"


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
              reference=True, data_dir=None, busy=0, out=print):
    """Time every implementation on every network and mini-batch size,
    printing the table row by row; returns the rows as dicts.  Each
    row gives the seconds per epoch, the speed-up over the reference and
    the multiple of the one-core floor (see ``floor_seconds``).  With
    ``busy`` > 0, that many other processes keep the cores busy while
    the epochs are timed (``busy_cores``)."""
    implementations = [i for i in IMPLEMENTATIONS
                       if reference or i != "reference"]
    out(f"fastnet bench: one epoch on {samples:,} MNIST training images, "
        f"eta {eta}; median of {repeat} rounds, each round timing every "
        f"implementation in turn")
    out(blas_description())
    training_set = TrainingSet(samples, data_dir)
    out(f"kernels compiled or loaded from cache in "
        f"{warm_up(training_set):.2f} s (not timed below)")
    rates = matmul_rates()
    out(describe_rates(rates))
    load = busy_cores(busy) if busy else contextlib.nullcontext()
    if busy:
        out(f"{busy} other processes keep the cores busy meanwhile")
    out(f"\n{'network':14s} {'batch':>5s}  {'implementation':34s} "
        f"{'s/epoch':>8s} {'speed-up':>9s} {'x floor':>8s}")
    rows = []
    with load:
        for sizes in networks:
            for m in mini_batch_sizes:
                workload = Workload(tuple(sizes), m, samples, eta)
                seconds = time_epochs(implementations, workload,
                                      training_set, repeat=repeat)
                for implementation in implementations:
                    rows.append(_row(workload, implementation, seconds,
                                     rates))
                    out(_format_row(rows[-1]), flush=True)
    return rows


def _row(workload, implementation, seconds, rates):
    baseline = seconds.get("reference")
    floor = floor_seconds(implementation, workload, rates)
    return {"sizes": list(workload.sizes),
            "mini_batch_size": workload.mini_batch_size,
            "implementation": implementation,
            "seconds": seconds[implementation],
            "speedup": baseline / seconds[implementation] if baseline
            else None,
            "floor_seconds": floor,
            "floor_multiple": seconds[implementation] / floor}


def _format_row(row):
    ratio = f"{row['speedup']:8.1f}x" if row["speedup"] else ""
    return (f"{'-'.join(map(str, row['sizes'])):14s} "
            f"{row['mini_batch_size']:5d}  "
            f"{DESCRIPTIONS[row['implementation']]:34s} "
            f"{row['seconds']:8.3f} {ratio:>9s} "
            f"{row['floor_multiple']:7.1f}x")


#: What each busy process runs: a loop that stops by itself.
_BURN = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


@contextlib.contextmanager
def busy_cores(processes, seconds=600):
    """A context in which ``processes`` other Python processes each keep
    a core busy, as other users' work does on a shared machine; each
    stops by itself after ``seconds`` at most, and all are stopped on
    leaving.  (Plain subprocesses: multiprocessing would import the
    caller's main script again in each.)"""
    import subprocess
    import sys
    workers = [subprocess.Popen([sys.executable, "-c",
                                 _BURN.format(seconds=float(seconds))])
               for _ in range(processes)]
    try:
        time.sleep(0.5)  # let them start spinning
        yield workers
    finally:
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.wait()


def plot(rows, path, samples):
    """Seconds per epoch against mini-batch size, one panel per network;
    with a single mini-batch size, bars of seconds per epoch per
    implementation, labelled with the speed-up and the floor multiple, the
    floor drawn across (needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("fastnet: error: --plot needs matplotlib: pip "
                         "install 'fastnet[plot]'") from None
    networks = sorted({tuple(r["sizes"]) for r in rows})
    single = len({r["mini_batch_size"] for r in rows}) == 1
    figure, axes = plt.subplots(1, len(networks), squeeze=False,
                                figsize=(5.5 * len(networks), 4.2))
    for ax, sizes in zip(axes[0], networks):
        mine = [r for r in rows if tuple(r["sizes"]) == sizes]
        if single:
            _bars(ax, mine)
            title = f"{list(sizes)}, batch {mine[0]['mini_batch_size']}"
        else:
            _lines(ax, mine)
            title = f"{list(sizes)}"
        ax.set_title(f"{title}, {samples:,} samples", fontsize=10)
        ax.grid(True, which="both", axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _lines(ax, rows):
    for implementation in IMPLEMENTATIONS:
        points = sorted((r["mini_batch_size"], r["seconds"]) for r in rows
                        if r["implementation"] == implementation)
        if points:
            ax.plot(*zip(*points), marker="o",
                    label=DESCRIPTIONS[implementation])
    ax.set(xscale="log", yscale="log", xlabel="mini-batch size",
           ylabel="seconds per epoch")
    ax.legend(fontsize=8)


def _bars(ax, rows):
    """One bar per implementation on a log scale, each labelled with its
    speed-up over the reference and its multiple of the one-core floor;
    the floors as dashed lines."""
    names = [DESCRIPTIONS[r["implementation"]].replace(": ", ":\n", 1)
             .replace(", ", "\n", 1) for r in rows]
    seconds = [r["seconds"] for r in rows]
    bars = ax.bar(range(len(rows)), seconds, color="tab:blue")
    for bar, row in zip(bars, rows):
        label = f"{row['floor_multiple']:.1f}x floor"
        if row["speedup"] and row["implementation"] != "reference":
            label = f"{row['speedup']:.0f}x faster\n" + label
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2,
                            bar.get_height()), ha="center", va="bottom",
                    fontsize=7, xytext=(0, 2), textcoords="offset points")
    for dtype, style in (("float64", "--"), ("float32", ":")):
        floors = [r["floor_seconds"] for r in rows
                  if implementation_dtype(r["implementation"]) == dtype]
        if floors:
            ax.axhline(floors[0], color="black", linestyle=style,
                       linewidth=1, label=f"1-core floor, {dtype}")
    ax.set_xticks(range(len(rows)), names, fontsize=7)
    ax.set(yscale="log", ylabel="seconds per epoch")
    ax.set_ylim(top=max(seconds) * 4)
    ax.legend(fontsize=7, loc="upper right")
