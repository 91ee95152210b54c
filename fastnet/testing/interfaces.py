"""The three ways Nielsen's networks are called.

- ``"book"``: chapter 1's ``network.py`` as in the book and its
  repository: ``SGD(training_data, epochs, mini_batch_size, eta,
  test_data=None)``, printing ``Epoch 0: 9129 / 10000``;
- ``"seed"``: the same network with ``mini_batch_size`` before ``epochs``,
  as in the seed this project started from and in ``fastnet.Network``,
  printing ``Epoch 0 : 9129 / 10000``;
- ``"network2"``: chapter 3's ``SGD(training_data, epochs,
  mini_batch_size, eta, lmbda=0.0, evaluation_data=None, ...)`` returning
  the monitored lists, and ``update_mini_batch(mini_batch, eta, lmbda,
  n)``.

The kit compares numbers, never print formats: accuracies are read from
any line like ``Epoch 3: 17 / 20`` (chapter 1) or from network2's
returned evaluation accuracies.
"""

import inspect
import re

ORDERS = ("book", "seed", "network2")


class InterfaceError(ValueError):
    """The network's ``SGD`` shows another interface than the one asked."""


_EPOCH_LINE = re.compile(r"Epoch\s*(\d+)\s*:\s*(\d+)\s*/\s*(\d+)")
_NETWORK2_LINE = re.compile(r"Accuracy on evaluation data:\s*(\d+)\s*/\s*"
                            r"(\d+)")


def check_order(order):
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    return order


def sgd_parameter_names(network_type):
    """The names of ``SGD``'s parameters after ``self``, or None."""
    sgd = getattr(network_type, "SGD", None)
    if sgd is None:
        return None
    try:
        names = list(inspect.signature(sgd).parameters)
    except (TypeError, ValueError):
        return None
    return names[1:] if names and names[0] == "self" else names


def refuse_contradiction(network_type, order):
    """Raise ``InterfaceError`` if ``order_contradiction`` finds one."""
    problem = order_contradiction(network_type, order)
    if problem:
        raise InterfaceError(problem)


def order_contradiction(network_type, order):
    """A message when ``SGD``'s parameter names show another order than
    ``order``, else None (also when the names say nothing)."""
    names = sgd_parameter_names(network_type)
    if not names:
        return None
    shown = None
    if "lmbda" in names:
        shown = "network2"
    elif "epochs" in names and "mini_batch_size" in names:
        shown = "book" if names.index("epochs") < \
            names.index("mini_batch_size") else "seed"
    if shown is None or shown == order:
        return None
    return (f"{network_type.__name__}.SGD takes ({', '.join(names[:5])}, "
            f"...): that is the {shown!r} interface, not {order!r}; pass "
            f"order={shown!r}")


def call_sgd(net, order, training, epochs, mini_batch_size, eta, lmbda,
             test):
    """Run ``SGD`` the way ``order`` says; returns what it returned."""
    if order == "book":
        return net.SGD(training, epochs, mini_batch_size, eta, test)
    if order == "seed":
        return net.SGD(training, mini_batch_size, epochs, eta, test)
    return net.SGD(training, epochs, mini_batch_size, eta, lmbda=lmbda,
                   evaluation_data=test, monitor_evaluation_accuracy=True)


def step_arguments(order, eta, lmbda, n):
    """The arguments of ``update_mini_batch`` after the mini-batch."""
    return (eta,) if order != "network2" else (eta, lmbda, n)


def accuracies(order, printed, returned):
    """The evaluation accuracy after each epoch, as a list of ints."""
    if order == "network2":
        if isinstance(returned, (tuple, list)) and len(returned) == 4 and \
                isinstance(returned[1], (list, tuple)):
            return [int(a) for a in returned[1]]
        return [int(m.group(1)) for m in _NETWORK2_LINE.finditer(printed)]
    return [int(m.group(2)) for m in _EPOCH_LINE.finditer(printed)]
