"""One training epoch on a busy machine: every core kept busy by another
process (``fastnet.bench.busy_cores``, bounded in time), as other users'
work keeps a shared machine.

A fast path must not collapse there: multithreaded BLAS inside the
compiled loop once made an epoch of [784, 100, 10] on 5,000 samples take
28 s on a busy 2-core machine against 1.75 s for the per-sample
reference, and one of [784, 30, 10] in mini-batches of 100 take 1.2 s
against 0.35 s on another.  The closing table gives each path's speed-up over the
reference timed under the same load; the goal is at least 10x.

Epochs are of ``--bench-samples`` images (default 50,000, a whole
epoch; the reference takes seconds per round).  Much shorter ones
measure the scheduler's luck more than the code: on 5,000 images a
fastnet epoch lasts 15-30 ms, a few of the scheduler's time slices, and
the same path's median of 7 epochs came out at 16 ms in one round and
32 ms in the next beside the same spinning processes.
"""

import os

import pytest

from fastnet import bench

#: Mini-batches of 100 are where multithreaded OpenBLAS collapsed on the
#: 2-core AVX-512 machine these were written on (at 10 it stayed on one
#: thread by itself); [784, 100, 10] at 10 is where it collapsed on a
#: Haswell one.
SHAPES = [((784, 100, 10), 10), ((784, 30, 10), 10), ((784, 30, 10), 100)]


@pytest.fixture(scope="module")
def busy():
    """Another process spinning on every core while this module runs."""
    with bench.busy_cores(os.cpu_count() or 1, seconds=900):
        yield


@pytest.mark.parametrize("sizes, mini_batch_size", SHAPES,
                         ids=lambda value: "-".join(map(str, value))
                         if isinstance(value, tuple) else f"batch{value}")
@pytest.mark.parametrize("implementation", bench.IMPLEMENTATIONS)
def test_one_epoch_on_a_busy_machine(benchmark, training_set, samples,
                                     rounds, record, busy, sizes,
                                     mini_batch_size, implementation):
    workload = bench.Workload(sizes, mini_batch_size, samples)
    label = f"busy: {workload.label}, {workload.samples}"
    benchmark.group = label
    benchmark.extra_info.update(implementation=implementation,
                                busy_processes=os.cpu_count(),
                                **vars(workload))
    benchmark.pedantic(
        lambda run: run(),
        setup=lambda: ((bench.epoch(implementation, workload,
                                    training_set),), {}),
        rounds=rounds, iterations=1)
    record(label, implementation, benchmark, workload)
