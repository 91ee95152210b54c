"""One training epoch, per-sample reference against the fast paths.

Run with ``pytest benchmarks`` (see the README); the closing table gives
each fast path's speed-up over the reference measured in the same run.
"""

import pytest

from fastnet import bench

WORKLOADS = [((784, 30, 10), 10), ((784, 100, 10), 10), ((784, 30, 10), 100)]


@pytest.mark.parametrize("sizes, mini_batch_size", WORKLOADS,
                         ids=lambda value: "-".join(map(str, value))
                         if isinstance(value, tuple) else f"batch{value}")
@pytest.mark.parametrize("implementation", bench.IMPLEMENTATIONS)
def test_one_epoch(benchmark, training_set, samples, rounds, record, sizes,
                   mini_batch_size, implementation):
    workload = bench.Workload(sizes, mini_batch_size, samples)
    benchmark.group = f"{workload.label}, {samples} samples"
    benchmark.extra_info.update(implementation=implementation,
                                sizes=list(sizes), samples=samples,
                                mini_batch_size=mini_batch_size)
    benchmark.pedantic(
        lambda run: run(),
        setup=lambda: ((bench.epoch(implementation, workload,
                                    training_set),), {}),
        rounds=1 if implementation == "reference" else rounds, iterations=1)
    record(workload.label, implementation, benchmark)
