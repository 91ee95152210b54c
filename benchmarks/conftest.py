"""Benchmark fixtures, and a closing table of each implementation's
median time, its speed-up against the per-sample reference measured in
the same run, and its multiple of the machine's floor (the epoch's
matrix-product FLOPs at this machine's large-product rate on one core,
also measured in the same run: see ``fastnet.bench``)."""

import collections

import pytest

from fastnet import bench

_medians = collections.defaultdict(dict)  # workload label -> {impl: s}
_floors = {}  # (workload label, implementation) -> floor seconds
_rates = {}


def pytest_addoption(parser):
    parser.addoption("--bench-samples", type=int, default=50000,
                     help="training samples per epoch (default 50000)")
    parser.addoption("--bench-rounds", type=int, default=3,
                     help="rounds per implementation (default 3; the "
                     "table compares medians)")


@pytest.fixture(scope="session")
def samples(request):
    return request.config.getoption("--bench-samples")


@pytest.fixture(scope="session")
def rounds(request):
    return request.config.getoption("--bench-rounds")


@pytest.fixture(scope="session")
def training_set(samples):
    training_set = bench.TrainingSet(samples)
    bench.warm_up(training_set)  # compile or load kernels before timing
    return training_set


@pytest.fixture(scope="session")
def rates():
    """This machine's large-product rates, measured once per run."""
    _rates.update(bench.matmul_rates())
    return _rates


@pytest.fixture
def record(rates):
    """``record(label, implementation, benchmark, workload)`` keeps the
    median for the closing table, and the workload's floor (or the
    ``floor`` given, in seconds for the run measured)."""
    def keep(label, implementation, benchmark, workload=None, floor=None):
        if benchmark.stats is not None:
            _medians[label][implementation] = benchmark.stats.stats.median
            if workload is not None or floor is not None:
                _floors[label, implementation] = floor or \
                    bench.floor_seconds(implementation, workload, rates)
                benchmark.extra_info["floor_seconds"] = \
                    _floors[label, implementation]
    return keep


def pytest_terminal_summary(terminalreporter):
    if not _medians:
        return
    write = terminalreporter.write_line
    write("")
    write(bench.blas_description())
    if _rates:
        write(bench.describe_rates(_rates))
    write("median time (per epoch, or per call for one sample), speed-up "
          "against the per-sample reference (same data, same run), "
          "multiple of the 1-core floor:")
    for label, times in _medians.items():
        reference = times.get("reference")
        for implementation, seconds in times.items():
            ratio = f"{reference / seconds:6.1f}x" if reference else ""
            floor = _floors.get((label, implementation))
            floor = f"{seconds / floor:6.1f}x floor" if floor else ""
            write(f"  {label:40s} {implementation:18s} "
                  f"{_duration(seconds)} {ratio:7s} {floor}")


def _duration(seconds):
    """A time readable at any scale: an epoch in s, one call in us."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    return f"{seconds:8.3f} s "
