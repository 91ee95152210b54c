"""Benchmark fixtures, and a closing table of speed-ups against the
per-sample reference measured in the same run."""

import collections

import pytest

from fastnet import bench

_medians = collections.defaultdict(dict)  # workload label -> {impl: s}


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


@pytest.fixture
def record():
    """``record(label, implementation, benchmark)`` keeps the median for
    the closing speed-up table."""
    def keep(label, implementation, benchmark):
        if benchmark.stats is not None:
            _medians[label][implementation] = benchmark.stats.stats.median
    return keep


def pytest_terminal_summary(terminalreporter):
    if not _medians:
        return
    write = terminalreporter.write_line
    write("")
    write(bench.blas_description())
    write("speed-up against the per-sample reference, same data, same run "
          "(median seconds per epoch):")
    for label, times in _medians.items():
        reference = times.get("reference")
        for implementation, seconds in times.items():
            ratio = f"{reference / seconds:6.1f}x" if reference else ""
            write(f"  {label:28s} {implementation:18s} {seconds:8.3f} s "
                  f"{ratio}")
