"""BLAS ``gemm`` with its ``alpha`` and ``beta``, callable from the kernels,
whole or in blocks.

``np.dot`` (in NumPy and in Numba) computes ``C = A B`` into a fresh or
given array.  A gradient step wants ``W <- decay * W - step * D^T A`` in one
pass over ``W``, which is exactly ``gemm`` with ``alpha = -step`` and
``beta = decay``; it saves storing the weight gradient and a second pass
over the weights (about a quarter of a fast MNIST epoch).  And some thin
products run faster cut into pieces (``plan_blocks``, below).

SciPy exports ``dgemm`` and ``sgemm`` through ``scipy.linalg.cython_blas``
(the same BLAS Numba's own ``np.dot`` calls).  Their addresses are
registered with LLVM under fastnet's names at import, so compiled kernels
link to them by name and can be cached on disk.

``single_threaded()`` runs that BLAS on one thread for a while (see below
why training wants it).
"""

import contextlib
import ctypes
import functools
import os

import llvmlite.binding as llvm
import numpy as np
from numba import types
from numba.extending import get_cython_function_address, overload

from .compiled import jit


def _external_gemm(name):
    """``?gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c,
    ldc)``, every argument a pointer as in Fortran, here an address given
    as an integer: one signature for both precisions and every array, so
    each kernel that multiplies compiles one call."""
    symbol = f"fastnet_{name}"
    llvm.add_symbol(symbol, get_cython_function_address(
        "scipy.linalg.cython_blas", name))
    return types.ExternalFunction(symbol, types.void(*[types.intp] * 13))


_DGEMM, _SGEMM = _external_gemm("dgemm"), _external_gemm("sgemm")
_TRANSPOSE, _AS_IS = ord("T"), ord("N")   # gemm's op flags


def variable(value):
    """``value`` itself, typed as a variable rather than a constant.

    Numba compiles a jitted function anew for each constant a caller
    passes it (``True`` and ``False`` are two types), so three products
    written with constant flags would compile the blocked gemm three
    times; ``gemm_in_blocks(..., variable(True), ...)`` compiles it once.
    Only callable from Numba code."""
    return value


@overload(variable)
def _variable(value):
    return lambda value: value


def _same_float_dtype(C, A, B):
    """Refuses, when compiling, arrays that are not of one float dtype."""


@overload(_same_float_dtype)
def _check_dtypes(C, A, B):
    if not all(getattr(x, "ndim", None) == 2 and x.dtype == C.dtype
               for x in (C, A, B)) or \
            C.dtype not in (types.float32, types.float64):
        raise TypeError("gemm takes 2-d arrays of one float dtype")
    return lambda C, A, B: None


# -- Products in blocks ---------------------------------------------------------
#
# OpenBLAS's SkylakeX kernels (also used on Zen 4 and later Intel cores) have
# a second path for small products, without packing: a product of at most a
# million multiply-adds goes there, unless both factors are transposed, or
# (column-major) only the first is and the result has more than 1,200
# numbers or the shared dimension is under 32.  At network3's thin shapes it
# runs up to twice as fast as the packed path (measured: a fully connected
# layer's gradient sent down, 10 x 100 by 100 x 2880, float32, 206 us whole,
# 82 us in 24 blocks; the first conv layer's weight gradient, 128 us and 82
# us in 3 blocks).  ``plan_blocks`` cuts a product into such pieces, and
# ``gemm_in_blocks`` computes it so, where that BLAS is the one the kernels
# call (``small_path_available``); anywhere else products stay whole.

SMALL_PRODUCT = 1_000_000     # multiply-adds
SMALL_TRANSPOSED_RESULT = 1200
SMALL_TRANSPOSED_SHARED = 32
#: Products cut into more blocks than this stay whole: each call costs
#: about a fifth of a microsecond.
MOST_BLOCKS = 64


def small_path_takes(m, n, k, transpose_a, transpose_b):
    """Whether OpenBLAS's small-matrix path takes the row-major product
    ``(m, k) x (k, n)`` (see above; BLAS sees it column-major, the
    factors swapped)."""
    first, second = transpose_b, transpose_a   # column-major op flags
    if m * n * k > SMALL_PRODUCT or (first and second):
        return False
    return not first or second or (
        m * n <= SMALL_TRANSPOSED_RESULT and k >= SMALL_TRANSPOSED_SHARED)


@jit
def plan_blocks(m, n, k, transpose_a, transpose_b):
    """``(axis, size)``: the product ``(m, k) x (k, n)`` in blocks of
    ``size`` along axis 0 (rows of the result), 1 (its columns) or 2 (the
    shared dimension), the fewest blocks that OpenBLAS's small-matrix
    path takes (``small_path_takes``), rows or columns on a tie (their
    sums are those of the whole product); ``(0, m)``, whole, where the
    path takes it whole, or would need more than ``MOST_BLOCKS``
    blocks.  One function, without helpers: each compiled function
    costs every new environment a fraction of a second."""
    first, second = transpose_b, transpose_a   # column-major op flags
    best_axis, best_size, fewest = 0, max(m, 1), MOST_BLOCKS + 1
    if m * n * k <= SMALL_PRODUCT and not (first and second) and (
            not first or second or (m * n <= SMALL_TRANSPOSED_RESULT
                                    and k >= SMALL_TRANSPOSED_SHARED)):
        return best_axis, best_size   # small enough already
    if first and second:
        return best_axis, best_size   # never on the path
    for axis in range(3):
        length = m if axis == 0 else (n if axis == 1 else k)
        size = min(length, SMALL_PRODUCT // max(m * n * k // max(length, 1),
                                                1))
        if first:   # column-major "TN": small results, long shared sides
            if axis == 2:
                if m * n > SMALL_TRANSPOSED_RESULT or \
                        size < SMALL_TRANSPOSED_SHARED:
                    size = 0
            elif k < SMALL_TRANSPOSED_SHARED:
                size = 0
            else:
                size = min(size, SMALL_TRANSPOSED_RESULT //
                           (n if axis == 0 else m))
        if size > 0 and (length + size - 1) // size < fewest:
            best_axis, best_size = axis, size
            fewest = (length + size - 1) // size
    return best_axis, best_size


@functools.lru_cache(maxsize=None)
def block_plan(m, n, k, transpose_a=False, transpose_b=False):
    """``plan_blocks`` from Python, where the kernels' BLAS has the small
    path (``small_path_available``); ``(0, m)``, whole, elsewhere."""
    if not small_path_available():
        return 0, max(m, 1)
    return plan_blocks.py_func(m, n, k, transpose_a, transpose_b)


@jit
def leading_dimension(X, item):
    """The row stride of ``X`` (r, c) in elements of ``item`` bytes, as
    BLAS's leading dimension, or 0 where BLAS cannot read ``X`` as a
    column-major (c, r) matrix: its elements in a row not contiguous, or
    its rows overlapping, reversed or repeated (a broadcast)."""
    rows, columns = X.shape
    if rows * columns == 0:
        return max(columns, 1)   # nothing is read
    if columns > 1 and X.strides[1] != item:
        return 0
    if rows == 1:
        return columns   # one row: any stride will do
    if X.strides[0] % item != 0 or X.strides[0] < columns * item:
        return 0
    return X.strides[0] // item


@jit
def gemm_in_blocks(C, A, B, transpose_a, transpose_b, alpha, beta, axis,
                   size):
    """In place, row-major: ``C <- beta * C + alpha * op(A) op(B)``, where
    ``op(X)`` is ``X.T`` if ``transpose_x`` else ``X``, computed in blocks
    of ``size`` along ``axis`` (see ``plan_blocks``): blocks of the
    result's rows or columns, or of the shared dimension, whose products
    are added up (``beta`` applies to the first); ``(0, m)`` is one BLAS
    call.

    ``C`` (m, n), ``op(A)`` (m, k), ``op(B)`` (k, n): 2-d arrays of one
    float dtype whose rows are contiguous (C-contiguous arrays, or blocks
    of their columns)."""
    _same_float_dtype(C, A, B)
    m, n = C.shape
    k = A.shape[0] if transpose_a else A.shape[1]
    if (A.shape[1] if transpose_a else A.shape[0]) != m or \
            (B.shape[0] if transpose_b else B.shape[1]) != n or \
            (B.shape[1] if transpose_b else B.shape[0]) != k:
        raise ValueError("gemm: shapes do not match")
    if m == 0 or n == 0:
        return
    if size < 1:
        raise ValueError("gemm: blocks must hold at least one row")
    # Column-major BLAS sees a row-major X (r, c) as X^T (c, r), its
    # leading dimension the row stride; so it computes C^T = op(B)^T
    # op(A)^T: B first, A second, each transposed if asked.
    item = C.itemsize
    lda, ldb, ldc = (leading_dimension(A, item), leading_dimension(B, item),
                     leading_dimension(C, item))
    if lda == 0 or ldb == 0 or ldc == 0:
        raise ValueError("gemm: each array's rows must be contiguous, "
                         "apart and in order")
    # gemm's by-reference arguments (three small allocations: carving them
    # from one with .view() saved 0.05 us a call, and cost half a second
    # of compiling in every new environment)
    flags = np.empty(2, np.uint8)
    flags[0] = _TRANSPOSE if transpose_b else _AS_IS
    flags[1] = _TRANSPOSE if transpose_a else _AS_IS
    dims = np.empty(6, np.int32)   # n, m, k of a block; ldb, lda, ldc
    dims[3], dims[4], dims[5] = ldb, lda, ldc
    scalars = np.empty(2, C.dtype)
    scalars[0] = alpha
    f, d, s = flags.ctypes.data, dims.ctypes.data, scalars.ctypes.data
    length = m if axis == 0 else (n if axis == 1 else k)
    for start in range(0, max(length, 1), size):
        part = min(start + size, length) - start
        # the block's sizes, and where its three matrices start
        rows, columns, shared, a, b, c = m, n, k, 0, 0, 0
        if axis == 0:
            rows, a, c = part, start * (1 if transpose_a else lda), \
                start * ldc
        elif axis == 1:
            columns, b, c = part, start * (ldb if transpose_b else 1), start
        else:
            shared = part
            a = start * (lda if transpose_a else 1)
            b = start * (1 if transpose_b else ldb)
        dims[0], dims[1], dims[2] = columns, rows, shared
        scalars[1] = beta if axis != 2 or start == 0 else 1.0
        arguments = (f, f + 1, d, d + 4, d + 8, s,
                     B.ctypes.data + b * item, d + 12,
                     A.ctypes.data + a * item, d + 16,
                     s + item, C.ctypes.data + c * item, d + 20)
        if item == 8:
            _DGEMM(*arguments)
        else:
            _SGEMM(*arguments)


@functools.lru_cache(maxsize=None)
def small_path_available():
    """Whether the kernels' BLAS is an OpenBLAS with SkylakeX kernels:
    SciPy's own, where SciPy bundles one; otherwise every BLAS loaded."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return False
    libraries = [info for info in threadpool_info()
                 if info.get("user_api") == "blas"]
    scipys = [info for info in libraries
              if "scipy" in os.path.basename(os.path.dirname(
                  info.get("filepath", "")))]
    chosen = [info for info in scipys if "64_" not in info.get("prefix", "")]
    chosen = chosen or libraries
    return bool(chosen) and all(
        info.get("internal_api") == "openblas"
        and info.get("architecture") in _SMALL_PATH_CORES
        for info in chosen)


_SMALL_PATH_CORES = {"SkylakeX", "Cooperlake", "SapphireRapids"}


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
                    self.get_num_threads, self.set_num_threads = get, put
                    return
        raise OSError(f"{path} is not an OpenBLAS library")


_libraries = None


def _threads_controllers():
    """Whatever sets BLAS threads, as a list (made once): threadpoolctl's
    controller of each BLAS library loaded; else an ``_OpenBLASThreads``
    of the OpenBLAS SciPy bundles; else none."""
    global _libraries
    if _libraries is None:
        try:
            from threadpoolctl import ThreadpoolController
            _libraries = ThreadpoolController().select(
                user_api="blas").lib_controllers
        except ImportError:
            try:
                _libraries = [_OpenBLASThreads(_gemm_library())]
            except (OSError, TypeError):  # no OpenBLAS, or no path
                _libraries = []
    return _libraries


@contextlib.contextmanager
def single_threaded():
    """A context in which the kernels' BLAS runs on one thread (costs a
    few microseconds).  Where neither threadpoolctl nor an OpenBLAS is
    found it changes nothing: set OPENBLAS_NUM_THREADS=1 (or MKL's, ...)
    for the same."""
    # Each library's own get and set: threadpoolctl's ``limit`` costs
    # 30-50 microseconds more a call, 1% of scoring 10,000 images.
    previous = [(library, library.get_num_threads())
                for library in _threads_controllers()]
    previous = [(library, threads) for library, threads in previous
                if threads is not None]   # a library that cannot say
    for library, _ in previous:
        library.set_num_threads(1)
    try:
        yield
    finally:
        for library, threads in previous:
            library.set_num_threads(threads)


#: Rows from which a forward pass is worth ``single_threaded``'s cost (a
#: few rows' products are below OpenBLAS's own threshold for threads).
MANY_ROWS = 64


def single_threaded_for(rows):
    """``single_threaded()`` for a pass over ``rows`` samples when there
    are ``MANY_ROWS`` or more; else a context that changes nothing."""
    return single_threaded() if rows >= MANY_ROWS else \
        contextlib.nullcontext()
