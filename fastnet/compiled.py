"""``jit``: Numba's ``njit`` for fastnet's kernels, cached on disk wherever
a cache can be written.

Numba looks for a writable cache folder when a function is decorated, at
import, and raises if it finds none (a read-only site-packages and a
service account without a writable home).  ``import fastnet`` must not
fail for that: the kernels are then cached in a folder of the temporary
directory instead and, if even that cannot be written, compiled afresh
in each process.  Either way fastnet says so once, as a warning.
"""

import os
import tempfile
import warnings

from numba import config, njit


class CompileCacheWarning(RuntimeWarning):
    """Compiled kernels cannot be cached where Numba looks by default."""


_announced = set()


def jit(function=None, **options):
    """``njit(cache=True, nogil=True, **options)(function)``, falling back
    to a cache in the temporary directory, then to no cache.  Also a
    decorator with options: ``@jit(error_model="numpy")``."""
    if function is None:
        return lambda function: jit(function, **options)
    options = dict(nogil=True, **options)
    try:
        return njit(cache=True, **options)(function)
    except RuntimeError:  # Numba: "cannot cache function ...: no locator"
        pass
    folder = fallback_cache_dir()
    previous, config.CACHE_DIR = config.CACHE_DIR, folder
    try:
        compiled = njit(cache=True, **options)(function)
        _announce(f"fastnet: cannot write Numba's compile cache beside the "
                  f"package or in the user's cache folder; caching the "
                  f"compiled kernels in {folder} (set NUMBA_CACHE_DIR to "
                  f"choose the folder)")
        return compiled
    except RuntimeError:
        _announce("fastnet: no folder can hold Numba's compile cache (set "
                  "NUMBA_CACHE_DIR to a writable one); the kernels are "
                  "compiled afresh in each process, which takes seconds")
        return njit(**options)(function)
    finally:
        config.CACHE_DIR = previous


def fallback_cache_dir():
    """A per-user folder for the cache in the temporary directory."""
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return os.path.join(tempfile.gettempdir(), f"fastnet-numba-cache-{user}")


def _announce(message):
    if message not in _announced:
        _announced.add(message)
        warnings.warn(message, CompileCacheWarning, stacklevel=3)
