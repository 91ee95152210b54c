"""The kit's use of the global random generators.

Nielsen's networks draw their initial weights from ``np.random.randn``
and shuffle with ``random.shuffle``, so the kit seeds both global
generators before building each network, identically for the network
under test and for the reference.  The caller's own state is saved
before and put back after, whatever happens in between.
"""

import contextlib
import random

import numpy as np


@contextlib.contextmanager
def preserved_random_state():
    """Run a block and then restore ``random``'s and ``np.random``'s
    global states as they were before it, even on an exception."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def seed_globals(seed):
    """Seed both global generators, as a seed-era script does at its top."""
    random.seed(seed)
    np.random.seed(seed)


def numpy_state_digest():
    """A comparable summary of ``np.random``'s global state: its position
    in the Mersenne Twister stream and whether a Gaussian is cached."""
    _, keys, position, has_gauss, cached = np.random.get_state()
    return keys.tobytes(), position, has_gauss, cached
