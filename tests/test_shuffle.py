"""fastnet.shuffle reproduces random.shuffle exactly: the permutation and
the state of Python's global generator afterwards."""

import random

import numpy as np
import pytest

from fastnet import shuffle as shuffle_module
from fastnet.shuffle import shuffle


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 17, 64, 65, 1000, 50000,
                               65536, 65537])
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_same_permutation_and_state_as_random_shuffle(n, seed):
    random.seed(seed)
    random.random()  # start mid-way through the twister's block
    expected = list(range(n))
    random.shuffle(expected)
    random.shuffle(expected)  # shuffles compound, as across epochs
    expected_state = random.getstate()
    random.seed(seed)
    random.random()
    positions = np.arange(n)
    shuffle(positions)
    shuffle(positions)
    assert positions.tolist() == expected
    assert random.getstate() == expected_state


def test_gauss_state_is_kept():
    random.seed(3)
    random.gauss(0, 1)  # leaves a cached second normal in the state
    state = random.getstate()
    expected = list(range(100))
    random.shuffle(expected)
    after = random.getstate()
    random.setstate(state)
    positions = np.arange(100)
    shuffle(positions)
    assert positions.tolist() == expected and random.getstate() == after


def test_falls_back_to_a_replaced_random_shuffle(monkeypatch):
    calls = []

    def reversing_shuffle(items):
        calls.append(len(items))
        items.reverse()

    monkeypatch.setattr(random, "shuffle", reversing_shuffle)
    positions = np.arange(5)
    shuffle(positions)
    assert calls == [5] and positions.tolist() == [4, 3, 2, 1, 0]


def test_self_check_is_what_enables_the_fast_path(monkeypatch):
    monkeypatch.setattr(shuffle_module, "_self_check", lambda: False)
    assert not shuffle_module._exact_shuffle_available()
    random.seed(9)
    expected = list(range(30))
    random.shuffle(expected)
    random.seed(9)
    positions = np.arange(30)
    shuffle(positions)
    assert positions.tolist() == expected


def test_fast_path_is_in_use_here():
    """On CPython the compiled path must be the one running; otherwise
    drop-in SGD silently loses its speed."""
    assert shuffle_module._exact_shuffle_available()
