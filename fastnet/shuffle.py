"""``random.shuffle``'s permutation, computed fast and exactly.

The seed shuffles its training list with Python's ``random.shuffle`` every
epoch, and a drop-in must follow the same random stream.  In pure Python
that shuffle costs about 40 ms for 50,000 items, a tenth of a fast epoch.

Python's ``random`` is a Mersenne Twister (MT19937), and NumPy's ``MT19937``
bit generator is the same generator with the same state layout.  So
``shuffle`` copies ``random``'s state into NumPy's generator, draws raw
32-bit outputs in bulk, runs ``random.shuffle``'s own algorithm on them in
compiled code, and moves ``random``'s state on by exactly the outputs it
used.  The permutation and the state afterwards are those of
``random.shuffle``; a one-time self-check against ``random.shuffle``
itself guards this, and anything unusual (another Python, a replaced
``random.shuffle``, a monkey-patched generator) falls back to calling it.
"""

import functools
import random

import numpy as np

from .compiled import jit

_MT_WORDS = 624


@jit
def _fisher_yates(positions, raw):
    """Shuffle ``positions`` in place as CPython's ``random.shuffle`` does,
    drawing each ``randbelow(i + 1)`` by rejection from ``raw`` 32-bit
    outputs (``getrandbits(k)`` is the output shifted right by 32 - k).
    Returns the number of outputs used, or -1 if ``raw`` ran out."""
    used = 0
    bits = 0  # bit_length of the bound, which only shrinks
    while (1 << bits) <= positions.shape[0]:
        bits += 1
    for i in range(positions.shape[0] - 1, 0, -1):
        bound = i + 1
        while (1 << (bits - 1)) > bound:
            bits -= 1
        while True:
            if used == raw.shape[0]:
                return -1
            r = raw[used] >> (32 - bits)
            used += 1
            if r < bound:
                break
        positions[i], positions[r] = positions[r], positions[i]
    return used


def shuffle(positions):
    """Shuffle the integer array ``positions`` in place exactly as
    ``random.shuffle(list(positions))`` would, leaving ``random``'s global
    state where that call would leave it."""
    n = positions.shape[0]
    if n < 2:
        return
    if n > 2 ** 32 or not _exact_shuffle_available():
        shuffled = positions.tolist()
        random.shuffle(shuffled)
        positions[:] = shuffled
        return
    _shuffle_unchecked(positions)


def _shuffle_unchecked(positions):
    """The fast path of ``shuffle``."""
    n = positions.shape[0]
    version, internal, gauss_next = random.getstate()
    key, pos = np.array(internal[:_MT_WORDS], np.uint32), internal[_MT_WORDS]
    generator = np.random.MT19937()
    draws = n + n // 2 + 64  # rejection needs ~1.4 draws per item
    while True:
        generator.state = _numpy_state(key, pos)
        trial = positions.copy()
        used = _fisher_yates(trial, generator.random_raw(draws)
                             .astype(np.int64))
        if used >= 0:
            break
        draws *= 2
    generator.state = _numpy_state(key, pos)
    generator.random_raw(used)
    state = generator.state["state"]
    random.setstate((version,
                     tuple(state["key"].tolist()) + (int(state["pos"]),),
                     gauss_next))
    positions[:] = trial


def _numpy_state(key, pos):
    return {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}


def _exact_shuffle_available():
    """True where ``random.shuffle`` is CPython's own, on the module's
    generator, and the fast path has been seen to reproduce it."""
    shuffle_method = random.shuffle
    instance = getattr(shuffle_method, "__self__", None)
    return (type(instance) is random.Random
            and getattr(shuffle_method, "__func__", None)
            is random.Random.shuffle
            and getattr(random.getstate, "__self__", None) is instance
            and getattr(random.setstate, "__self__", None) is instance
            and _self_check())


@functools.cache
def _self_check():
    """Compare with ``random.shuffle`` once, on the global generator,
    restoring its state afterwards."""
    saved = random.getstate()
    try:
        for seed, n in ((0, 2), (1, 3), (2, 1000), (3, 70001)):
            random.seed(seed)
            expected = list(range(n))
            random.shuffle(expected)
            expected_state = random.getstate()
            random.seed(seed)
            positions = np.arange(n)
            version, internal, gauss_next = random.getstate()
            if version != 3 or len(internal) != _MT_WORDS + 1:
                return False
            _shuffle_unchecked(positions)
            if positions.tolist() != expected or \
                    random.getstate() != expected_state:
                return False
        return True
    except Exception:  # any surprise means: use random.shuffle itself
        return False
    finally:
        random.setstate(saved)
