"""Forward passes over many samples on every core, without BLAS threads.

A forward pass over 10,000 samples is worth two cores on an idle machine
(measured 1.3-1.5x), but OpenBLAS's own threads spin while they wait for a
core: on a busy machine inference ran 3-6 times slower with them than
with one thread.  So BLAS runs on one thread (``blas.single_threaded``)
and the samples are cut into one contiguous share per core, each fed
through the compiled kernel (which releases the GIL) on a thread of its
own.  A busy core then only delays its share; nothing spins.

``classify_columns`` does the same for ``predict`` and ``score``, on the
caller's samples-as-columns matrix where it lies (no transposed copy),
looking for NaN and infinity block by block in the same compiled call
(``kernels.forward_rows``), not in a pass of its own over all of it.
"""

import atexit
import math
import os
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import kernels
from .blas import single_threaded, single_threaded_for

#: Fewest samples per thread: below that one thread is as fast.
ROWS_PER_THREAD = 2048

#: purpose -> (pool, the process that made it): a forked child inherits
#: the pools but not their threads.
_pools = {}


def cores():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _executor(workers, purpose="shares"):
    """A pool of at least ``workers`` threads for ``purpose``, made in this
    process (callers ask for ``cores()``, so that a pool held by one
    thread is not replaced for another's larger ask; the threads start
    only as jobs need them).  Each purpose has a pool of its own, so
    that one that grows (replacing its pool) never shuts down another's
    under it: "shares" for work cut into one share per core, "gather"
    for training's rows gathered ahead (``core._staged_calls``)."""
    pool, pid = _pools.get(purpose, (None, None))
    if pool is None or pid != os.getpid() or pool._max_workers < workers:
        if pool is not None and pid == os.getpid():
            pool.shutdown()
        pool = ThreadPoolExecutor(workers,
                                  thread_name_prefix=f"fastnet-{purpose}")
        _pools[purpose] = pool, os.getpid()
        atexit.register(pool.shutdown)
    return pool


def feedforward(net, X):
    """Output activations ``(m, n_out)`` of the rows of ``X`` (m, n_in)
    (``kernels.forward_rows``), with BLAS on one thread and, for many
    rows, one share of them per core on threads of their own."""
    out = np.empty((X.shape[0], net.sizes[-1]), net.params.dtype)
    no_classes = np.empty(0, np.intp)
    _in_shares(X.shape[0], lambda start, stop: kernels.forward_rows(
        net, X[start:stop], out[start:stop], no_classes))
    return out


#: Columns converted at a time when ``classify_columns`` is given other
#: numbers than floats.
CONVERTED = 1024


def classify_columns(parameters, X):
    """``(classes, finite)``: the most activated output neuron of each
    column of ``X`` (n_in, m) under ``parameters`` (a ``core.Parameters``),
    and whether every input was finite (when not, the caller finds the
    column).  ``kernels.forward_rows`` reads the columns where they lie,
    as rows of ``X.T``, one share of them per core as in
    ``feedforward``."""
    classes = np.empty(X.shape[1], np.intp)
    no_outputs = np.empty((0, parameters.net.sizes[-1]), parameters.dtype)

    def classify(start, stop):
        if X.dtype in (np.float32, np.float64):
            return kernels.forward_rows(parameters.net, X[:, start:stop].T,
                                        no_outputs, classes[start:stop])
        # Pixels as integers, ...: converted a few MB at a time, which
        # spares the kernels a compiled case for each dtype.
        return all([classify_converted(first, min(first + CONVERTED, stop))
                    for first in range(start, stop, CONVERTED)])

    def classify_converted(start, stop):
        rows = X[:, start:stop].astype(parameters.dtype).T
        return kernels.forward_rows(parameters.net, rows, no_outputs,
                                    classes[start:stop])
    return classes, all(_in_shares(X.shape[1], classify))


def _in_shares(m, work):
    """``[work(start, stop), ...]`` over ``m`` samples cut into one
    contiguous share per core (one share below ``ROWS_PER_THREAD`` per
    core), with BLAS on one thread."""
    shares = max(1, min(cores(), m // ROWS_PER_THREAD))
    if shares == 1:
        with single_threaded_for(m):
            return [work(0, m)]
    with single_threaded():
        return _on_threads(m, shares, work)


def _on_threads(m, shares, work):
    """``[work(start, stop), ...]`` over ``m`` items cut into ``shares``
    contiguous shares.  The calling thread takes the first share itself
    and the others go to fastnet's threads (waking a thread costs 30-50
    microseconds on this project's machine, about 1% of scoring 10,000
    images); it returns, or raises, only once every share has ended."""
    bounds = [m * k // shares for k in range(shares + 1)]
    pool = _executor(cores())   # never smaller than another's ask
    others = [pool.submit(work, bounds[k], bounds[k + 1])
              for k in range(1, shares)]
    try:
        first = work(bounds[0], bounds[1])
    finally:
        futures.wait(others)
    return [first] + [share.result() for share in others]


#: Bytes from which ``all_finite`` sums a share of them per core.
FINITE_BYTES_PER_THREAD = 8 << 20


def all_finite(a):
    """Whether the sum of ``a`` is finite, which it is when every number
    is (NaN and infinity propagate; an overflow gives a false alarm, for
    the caller's slower check to clear).  Large contiguous arrays are
    summed in one share per core, on fastnet's threads: fit's check of
    50,000 MNIST images (157 MB) took 5.3-5.6 ms instead of 7.5-9.6 on
    this project's 2-core machine, where one core cannot draw all the
    memory bandwidth."""
    shares = min(cores(), a.nbytes // FINITE_BYTES_PER_THREAD)
    if shares < 2 or not (a.flags.c_contiguous or a.flags.f_contiguous):
        return _finite_sum(a)
    numbers = a.ravel(order="K")   # a view: memory order
    return all(_on_threads(numbers.size, shares, lambda start, stop:
                           _finite_sum(numbers[start:stop])))


def _finite_sum(a):
    """Whether ``a.sum()`` is finite, without a warning when it overflows
    (the question is only whether the numbers are finite; NumPy's error
    state belongs to each thread, so it is set here on each)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return math.isfinite(a.sum())
