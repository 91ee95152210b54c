"""Forward passes over many samples on every core, without BLAS threads.

A forward pass over 10,000 samples is worth two cores on an idle machine
(measured 1.3-1.5x), but OpenBLAS's own threads spin while they wait for a
core: on a busy machine inference ran 3-6 times slower with them than
with one thread.  So BLAS runs on one thread (``blas.single_threaded``)
and the samples are cut into one contiguous share per core, each fed
through the compiled kernel (which releases the GIL) on a thread of its
own.  A busy core then only delays its share; nothing spins.
"""

import atexit
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import kernels
from .blas import single_threaded, single_threaded_for

#: Fewest samples per thread: below that one thread is as fast.
ROWS_PER_THREAD = 2048

_pool = None
_pool_pid = None  # a forked child inherits the pool but not its threads


def cores():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _executor(workers):
    """A pool of at least ``workers`` threads, made in this process."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid() or \
            _pool._max_workers < workers:
        if _pool is not None and _pool_pid == os.getpid():
            _pool.shutdown()
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="fastnet")
        _pool_pid = os.getpid()
        atexit.register(_pool.shutdown)
    return _pool


def feedforward(net, X):
    """``kernels.feedforward(net, X)``: output activations ``(m, n_out)``
    of the rows of ``X`` (m, n_in), with BLAS on one thread and, for
    many rows, one share of them per core on threads of its own."""
    m = X.shape[0]
    shares = min(cores(), m // ROWS_PER_THREAD)
    if shares < 2:
        with single_threaded_for(m):
            return kernels.feedforward(net, X)
    bounds = np.linspace(0, m, shares + 1).astype(int)
    with single_threaded():
        parts = list(_executor(shares).map(
            lambda share: kernels.feedforward(
                net, X[bounds[share]:bounds[share + 1]]), range(shares)))
    return np.concatenate(parts)
