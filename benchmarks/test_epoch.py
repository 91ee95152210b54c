"""One training epoch, per-sample reference against the fast paths.

Chapter 1's network (quadratic cost, eta 3.0) on three workloads, and
chapter 3's (cross-entropy cost with L2 regularisation, eta 0.5,
lmbda 5.0, as in the book: ``fastnet.reference.network2`` against
``fastnet.network2``) on the same three.  Run with ``pytest benchmarks``
(see the README); the closing table gives each fast path's speed-up over
the reference measured in the same run and its multiple of the one-core
floor (``fastnet.bench.floor_seconds``).
"""

import pytest

from fastnet import bench

SHAPES = [((784, 30, 10), 10), ((784, 100, 10), 10), ((784, 30, 10), 100)]
CHAPTERS = {"chapter1": dict(eta=3.0),
            "chapter3": dict(eta=0.5, cost="cross-entropy", lmbda=5.0)}


@pytest.mark.parametrize("chapter", CHAPTERS)
@pytest.mark.parametrize("sizes, mini_batch_size", SHAPES,
                         ids=lambda value: "-".join(map(str, value))
                         if isinstance(value, tuple) else f"batch{value}")
@pytest.mark.parametrize("implementation", bench.IMPLEMENTATIONS)
def test_one_epoch(benchmark, training_set, samples, rounds, record, chapter,
                   sizes, mini_batch_size, implementation):
    workload = bench.Workload(sizes, mini_batch_size, samples,
                              **CHAPTERS[chapter])
    benchmark.group = f"{workload.label}, {samples} samples"
    benchmark.extra_info.update(implementation=implementation,
                                **vars(workload))
    benchmark.pedantic(
        lambda run: run(),
        setup=lambda: ((bench.epoch(implementation, workload,
                                    training_set),), {}),
        rounds=rounds, iterations=1)
    record(workload.label, implementation, benchmark, workload)
