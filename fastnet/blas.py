"""BLAS ``gemm`` with its ``alpha`` and ``beta``, callable from the kernels.

``np.dot`` (in NumPy and in Numba) computes ``C = A B`` into a fresh or
given array.  A gradient step wants ``W <- decay * W - step * D^T A`` in one
pass over ``W``, which is exactly ``gemm`` with ``alpha = -step`` and
``beta = decay``; it saves storing the weight gradient and a second pass
over the weights (about a quarter of a fast MNIST epoch).

SciPy exports ``dgemm`` and ``sgemm`` through ``scipy.linalg.cython_blas``
(the same BLAS Numba's own ``np.dot`` calls).  Their addresses are
registered with LLVM under fastnet's names at import, so compiled kernels
link to them by name and can be cached on disk.

``single_threaded()`` runs that BLAS on one thread for a while (see below
why training wants it).
"""

import contextlib
import ctypes

import llvmlite.binding as llvm
import numpy as np
from numba import types
from numba.extending import get_cython_function_address, overload


def _external_gemm(name):
    """``?gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c,
    ldc)``, every argument a pointer as in Fortran."""
    symbol = f"fastnet_{name}"
    llvm.add_symbol(symbol, get_cython_function_address(
        "scipy.linalg.cython_blas", name))
    return types.ExternalFunction(symbol, types.void(*[types.voidptr] * 13))


_GEMM = {types.float64: _external_gemm("dgemm"),
         types.float32: _external_gemm("sgemm")}


def add_outer_products(W, D, A, alpha, beta):
    """In place: ``W <- beta * W + alpha * D^T A``.

    ``W`` (n_out, n_in), ``D`` (m, n_out) and ``A`` (m, n_in) are
    C-contiguous arrays of one float dtype.  Only callable from Numba
    code."""
    raise NotImplementedError("add_outer_products runs inside Numba kernels")


@overload(add_outer_products)
def _add_outer_products(W, D, A, alpha, beta):
    if not all(getattr(x, "layout", None) == "C" and x.dtype == W.dtype
               for x in (W, D, A)):
        raise TypeError("add_outer_products takes C-contiguous arrays of "
                        "one float dtype")
    gemm = _GEMM[W.dtype]

    def impl(W, D, A, alpha, beta):
        n_out, n_in = W.shape
        if D.shape[1] != n_out or A.shape[1] != n_in or \
                A.shape[0] != D.shape[0]:
            raise ValueError("add_outer_products: shapes do not match")
        # Column-major BLAS sees the row-major W as W^T (n_in x n_out), A as
        # A^T (n_in x m) and D as D^T (n_out x m), so it computes
        # W^T <- beta W^T + alpha A^T D: op(a) = 'N', op(b) = 'T'.
        flags = np.array([ord("N"), ord("T")], np.uint8)
        dims = np.array([n_in, n_out, D.shape[0]], np.int32)
        scalars = np.array([alpha, beta], W.dtype)
        gemm(flags.ctypes, flags[1:].ctypes,
             dims.ctypes, dims[1:].ctypes, dims[2:].ctypes,
             scalars.ctypes, A.ctypes, dims.ctypes, D.ctypes,
             dims[1:].ctypes, scalars[1:].ctypes, W.ctypes, dims.ctypes)

    return impl


# -- BLAS threads ---------------------------------------------------------------
#
# A mini-batch's products are small (a few hundred thousand FLOPs): a second
# BLAS thread saves microseconds on an idle machine and, on a busy one,
# OpenBLAS's threads spin waiting for a core that another process holds, so
# an epoch of many small calls can run a hundred times slower than on one
# thread.  Compiled training therefore runs BLAS on one thread, whatever its
# default.  threadpoolctl does this for any BLAS it knows; without it the
# OpenBLAS that SciPy bundles (the one the kernels call) is asked directly.


def _gemm_library():
    """Path of the shared library that holds the kernels' ``dgemm``, or
    None where ``dladdr`` cannot say (not Linux or macOS)."""
    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p),
                    ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p),
                    ("dli_saddr", ctypes.c_void_p)]
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (AttributeError, OSError):
        return None
    info = DlInfo()
    address = get_cython_function_address("scipy.linalg.cython_blas",
                                          "dgemm")
    if not dladdr(ctypes.c_void_p(address), ctypes.byref(info)):
        return None
    return info.dli_fname.decode()


class _OpenBLASThreads:
    """get/set the thread count of the OpenBLAS the kernels call."""

    def __init__(self, path):
        library = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("", "64_"):
                get = getattr(library, f"{prefix}_get_num_threads{suffix}",
                              None)
                put = getattr(library, f"{prefix}_set_num_threads{suffix}",
                              None)
                if get is not None and put is not None:
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    self.get, self.set = get, put
                    return
        raise OSError(f"{path} is not an OpenBLAS library")


_controller = None


def _threads_controller():
    """What sets BLAS threads: a threadpoolctl controller of the BLAS
    libraries loaded (made once), an ``_OpenBLASThreads``, or False."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
            _controller = ThreadpoolController().select(user_api="blas")
        except ImportError:
            try:
                _controller = _OpenBLASThreads(_gemm_library())
            except (OSError, TypeError):  # no OpenBLAS, or no path
                _controller = False
    return _controller


@contextlib.contextmanager
def single_threaded():
    """A context in which the kernels' BLAS runs on one thread (costs some
    25 microseconds).  Where neither threadpoolctl nor an OpenBLAS is
    found it changes nothing: set OPENBLAS_NUM_THREADS=1 (or MKL's, ...)
    for the same."""
    controller = _threads_controller()
    if controller is False:
        yield
    elif isinstance(controller, _OpenBLASThreads):
        previous = controller.get()
        controller.set(1)
        try:
            yield
        finally:
            controller.set(previous)
    else:
        with controller.limit(limits=1):
            yield


#: Rows from which a forward pass is worth ``single_threaded``'s cost (a
#: few rows' products are below OpenBLAS's own threshold for threads).
MANY_ROWS = 64


def single_threaded_for(rows):
    """``single_threaded()`` for a pass over ``rows`` samples when there
    are ``MANY_ROWS`` or more; else a context that changes nothing."""
    return single_threaded() if rows >= MANY_ROWS else \
        contextlib.nullcontext()
