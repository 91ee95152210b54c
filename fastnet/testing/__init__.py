"""fastnet.testing: is your network numerically Nielsen's?

A kit in the spirit of ``numpy.testing`` and JAX's ``check_grads`` for
anyone's implementation of the book's networks: a matrix-based backprop
(chapter 2's problem), a port to another library or a GPU, or a change to
fastnet's own kernels.  The ground truth is fastnet's per-sample oracle,
``fastnet.reference`` (chapter 1's ``Network`` and chapter 3's
``network2``), run exactly as written.

- ``check_gradient(backprop, sizes=None, ...)``: the gradient, against the
  reference and against central finite differences, over a sweep of
  shapes and batch sizes;
- ``check_step(update_mini_batch, ...)``: the weights after one step;
- ``check_training(network_class, epochs=2, ...)``: whole epochs from the
  same seeds, the printed accuracies and the weights after every step,
  and the first epoch and mini-batch where the two part;
- ``check_command("module:Class")``: all three with a short report (the
  ``fastnet check`` command).

A network2 implementation is checked with its own cost: the reference
network runs whatever cost class (with ``fn`` and ``delta``) the user's
network holds, or the ``cost=`` given; fastnet's built-in costs are
recognised by identity (``fastnet.costs.info_of``), never by name.

Every check raises ``AssertionError`` with the place and size of the
first difference, so it works as is under pytest or unittest, and it
leaves the caller's ``random`` and ``np.random`` states as it found them.
Tolerances are derived in ``fastnet.testing.tolerances``.  pytest is not
needed; ``pytest_params()`` turns the default cases into ``pytest.param``s.

A user's test file, for a class with Nielsen's interface::

    from fastnet import testing
    from mynetwork import Network

    def test_backprop():
        testing.check_gradient(Network)    # or Network([3, 4, 2]).backprop

    def test_training():
        testing.check_step(Network)
        testing.check_training(Network)    # order="book" by default

or, for a bare function, ``testing.check_gradient(backprop)`` with
``backprop(weights, biases, x, y)``.  Each call takes well under a second.
"""

from .cases import CASES, Case, pytest_params
from .command import add_arguments, check_command, run_command
from .compare import CheckFailure
from .gradient import GradientReport, check_gradient
from .seeding import preserved_random_state
from .interfaces import ORDERS
from .step import check_step
from .training import check_training

__all__ = ["CASES", "Case", "CheckFailure", "GradientReport", "ORDERS",
           "add_arguments", "check_command", "check_gradient",
           "check_step", "check_training", "preserved_random_state",
           "pytest_params", "run_command"]
