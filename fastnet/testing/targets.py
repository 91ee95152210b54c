"""What the kit checks: a network class, a factory, an instance, a bound
method or a plain function, all seen through one small interface.

- a class or a one-argument factory ``make(sizes)``: the kit builds a
  fresh network per shape, after seeding the global generators;
- an instance (or one of its bound methods) with Nielsen's attributes:
  the kit checks it at its own ``sizes`` and puts its weights and biases
  back afterwards;
- a plain function taking the parameters first:
  ``backprop(weights, biases, x, y) -> (nabla_b, nabla_w)`` or
  ``update_mini_batch(weights, biases, mini_batch, eta[, lmbda, n])``
  returning ``(weights, biases)`` (or None after updating the lists in
  place).
"""

import contextlib
import inspect
import types

import numpy as np

from .compare import CheckFailure
from .seeding import seed_globals


def is_network(obj):
    """Whether ``obj`` has Nielsen's attributes."""
    return all(hasattr(obj, name) for name in ("sizes", "weights", "biases"))


def required_positionals(function):
    """How many positional parameters ``function`` requires, or None
    when its signature cannot be read."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY,
             inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters
               if p.kind in kinds and p.default is inspect.Parameter.empty)


class Subject:
    """The implementation under test, for one ``method`` (``"backprop"``
    or ``"update_mini_batch"``)."""

    def __init__(self, target, method):
        self.method = method
        self.factory = self.instance = self.function = self.bound = None
        if inspect.isclass(target):
            self.factory = target
        elif isinstance(target, types.MethodType) and \
                is_network(target.__self__):
            self.instance, self.bound = target.__self__, target
        elif is_network(target) and callable(getattr(target, method, None)):
            self.instance = target
        elif callable(target):
            count = required_positionals(target)
            if count == 1:
                self.factory = target
            elif count is not None and count >= 4:
                self.function = target
        if not (self.factory or self.instance is not None or self.function):
            raise TypeError(
                f"cannot check {target!r}: give a network class, a factory "
                f"make(sizes), a network with Nielsen's attributes (sizes, "
                f"weights, biases, {method}), one of its bound methods, or a "
                f"function {method}(weights, biases, ...)")
        self.name = getattr(target, "__qualname__", type(target).__name__)

    @property
    def fixed_sizes(self):
        """The instance's own sizes, or None when the kit chooses them."""
        if self.instance is None:
            return None
        return tuple(int(n) for n in self.instance.sizes)

    def network(self, sizes, seed):
        """A network of ``sizes`` (None for a plain function)."""
        if self.instance is not None:
            return self.instance
        if self.function:
            return None
        seed_globals(seed)
        try:
            network = self.factory(list(sizes))
        except Exception as error:
            raise CheckFailure(f"{self.name}({list(sizes)}) raised "
                               f"{type(error).__name__}: {error}") from error
        missing = [name for name in ("weights", "biases", self.method)
                   if not hasattr(network, name)]
        if missing:
            raise TypeError(f"{self.name}({list(sizes)}) made a "
                            f"{type(network).__name__} without "
                            f"{', '.join(missing)}")
        return network

    @contextlib.contextmanager
    def restoring(self):
        """Put an instance's own weights and biases back afterwards."""
        if self.instance is None:
            yield
            return
        weights, biases = self.instance.weights, self.instance.biases
        try:
            yield
        finally:
            self.instance.weights, self.instance.biases = weights, biases

    def call(self, network, weights, biases, *args):
        """Call the method with the network's parameters set to copies of
        ``weights`` and ``biases``; returns what it returned and the
        network's parameters afterwards."""
        weights = [w.copy() for w in weights]
        biases = [b.copy() for b in biases]
        if self.function:
            result = self.function(weights, biases, *args)
            return result, weights, biases
        network.weights, network.biases = weights, biases
        method = self.bound or getattr(network, self.method)
        result = method(*args)
        return result, network.weights, network.biases


def cast_layers(layers, dtype):
    return [np.array(layer, dtype=dtype) for layer in layers]
