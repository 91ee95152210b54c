"""fastnet's own networks checked by fastnet.testing, every run.

The kit's public checks hold the fast drop-ins to the per-sample oracle,
so the kit itself is exercised on a real compiled implementation: both
forms of ``backprop`` (per sample and on a matrix), one step, and two
epochs of ``SGD`` from the same seeds, for chapter 1's ``fastnet.Network``
and chapter 3's ``fastnet.network2.Network`` with both costs.  Tolerances
are the kit's derived defaults (``fastnet.testing.tolerances``).
"""

import io

import pytest

import fastnet
from fastnet import network2, testing
from fastnet.reference import network2 as reference2

COSTS = [network2.QuadraticCost, network2.CrossEntropyCost]


def network2_with(cost):
    def make(sizes):
        return network2.Network(sizes, cost=cost)
    make.__qualname__ = f"network2.Network[{cost.__name__}]"
    return make


@pytest.mark.parametrize("matrix", [True, False], ids=["matrix",
                                                       "per-sample"])
def test_network_backprop(matrix):
    report = testing.check_gradient(fastnet.Network, matrix=matrix)
    assert report.mode.startswith("on the whole matrix" if matrix else
                                  "per sample")


def test_network_backprop_on_the_mnist_shape():
    testing.check_gradient(fastnet.Network, [784, 30, 10],
                           batch_sizes=[1, 10])


def test_network_step_and_training():
    testing.check_step(fastnet.Network, order="seed")
    testing.check_step(fastnet.Network, [784, 30, 10], batch_sizes=[10],
                       order="seed")
    testing.check_training(fastnet.Network, order="seed")
    testing.check_training(fastnet.Network, (6, 5, 4), order="seed",
                           epochs=3, mini_batch_size=10, n_train=45)


def test_network_through_the_book_order():
    """A book-order face over fastnet.Network (test-local: only the
    argument order of SGD changes) passes with the default order."""
    class BookOrder(fastnet.Network):
        def SGD(self, training_data, epochs, mini_batch_size, eta,
                test_data=None):
            return super().SGD(training_data, mini_batch_size, epochs, eta,
                               test_data)
    testing.check_training(BookOrder)


@pytest.mark.parametrize("cost", COSTS, ids=lambda c: c.__name__)
def test_network2(cost):
    make = network2_with(cost)
    testing.check_gradient(make)
    testing.check_gradient(make, matrix=False)
    testing.check_step(make, order="network2")
    testing.check_training(make, order="network2")
    # Given, fastnet's cost class is known by identity as the oracle's.
    testing.check_step(make, order="network2", cost=cost)


def test_finite_differences_hold_on_saturated_cross_entropy_outputs():
    """Seed 4 saturates an output of [784, 30, 10] so far that network2's
    ln(1 - a) keeps few digits: a finite difference of that formula was
    noise and failed fastnet; the kit's cost from z stays exact."""
    testing.check_gradient(network2.Network, [784, 30, 10],
                           batch_sizes=[10], seed=4,
                           against="finite-differences")


def test_network2_against_a_different_cost_fails():
    """The cost is part of the check: network2's cross-entropy gradient is
    not chapter 1's quadratic one."""
    with pytest.raises(AssertionError, match="against the reference"):
        testing.check_gradient(network2_with(network2.CrossEntropyCost),
                               cost=None)


def test_the_reference_network2_passes_its_own_checks():
    testing.check_step(reference2.Network, order="network2")
    testing.check_training(reference2.Network, order="network2")


@pytest.mark.parametrize("target, order", [("fastnet:Network", "seed"),
                                           ("fastnet.network2:Network",
                                            "network2")])
def test_check_command_on_fastnet(target, order):
    out = io.StringIO()
    assert testing.check_command(target, order=order, stream=out) == 0, \
        out.getvalue()


def test_the_book_face_with_the_default_order():
    """fastnet.book's network (the book's SGD order and lines), where that
    face exists, passes the kit's default book-order checks."""
    book = pytest.importorskip("fastnet.book")
    testing.check_gradient(book.network.Network)
    testing.check_step(book.network.Network)
    testing.check_training(book.network.Network)
    out = io.StringIO()
    assert testing.check_command("fastnet.book.network:Network",
                                 stream=out) == 0, out.getvalue()
