"""The book's own API (fastnet.book) and user code that customises it.

Book scripts change only their imports: ``fastnet.book.network`` takes the
book's ``SGD(training_data, epochs, mini_batch_size, eta, test_data)`` and
prints its lines; ``network2`` scripts in the style of the book's ``fig/``
programs print what the per-sample oracle prints.  Subclasses that
override a method, and cost classes of the user's own, are honoured:
fastnet runs their code (and says so once) and follows the oracle running
the same code.

Tolerances: accuracies and printed counts must be identical; costs and
weights agree to float64 rounding carried over a few hundred steps,
1e-10 relative, as in test_equivalence.py (a real mistake, such as an
override that is ignored, differs at 1e-2 or more: see
``test_an_ignored_override_would_be_caught``).
"""

import contextlib
import io
import random
import re

import numpy as np
import pytest

import fastnet
from fastnet import core, reference
from fastnet.book import mnist_loader, network, network2
from fastnet.reference import network2 as reference2
from support import Examples, assert_layers_close

RTOL = 1e-10


def run(function, *args, **kwargs):
    """``(printed lines, return value)`` of a call."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = function(*args, **kwargs)
    return out.getvalue().splitlines(), result


def seeded(make, seed=3):
    """``make()`` after seeding both of the book's random streams."""
    random.seed(seed)
    np.random.seed(seed)
    return make()


def same_printout(fast_lines, oracle_lines):
    """Identical lines, except numbers with a decimal point (costs), which
    agree to ``RTOL``."""
    assert len(fast_lines) == len(oracle_lines)
    number = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")
    for fast, oracle in zip(fast_lines, oracle_lines):
        assert number.sub("#", fast) == number.sub("#", oracle)
        for f, o in zip(number.findall(fast), number.findall(oracle)):
            assert abs(float(f) - float(o)) <= RTOL * abs(float(o)), (f, o)


# ------------------------------------------------------------ chapter 1

def test_book_order_and_lines_follow_the_oracle():
    data = Examples(12, 4, 60, seed=1)
    oracle = seeded(lambda: reference.Network([12, 7, 4]))
    book = seeded(lambda: network.Network([12, 7, 4]))
    training_o, training_b = list(data.training), list(data.training)
    random.seed(5)
    oracle_lines, _ = run(oracle.SGD, training_o, 10, 3, 3.0, data.test)
    random.seed(5)
    book_lines, _ = run(book.SGD, training_b, 3, 10, 3.0,
                        test_data=data.test)
    assert book_lines == [line.replace(" : ", ": ")
                          for line in oracle_lines]
    assert book_lines[0].startswith("Epoch 0: ")
    assert_layers_close(book.weights, oracle.weights, RTOL)
    assert [id(x) for x in training_b] == [id(x) for x in training_o]
    random.seed(5)
    assert run(book.SGD, data.training, 2, 10, 3.0)[0] == [
        "Epoch 0 complete", "Epoch 1 complete"]


def test_the_seed_face_keeps_the_seed_order():
    """The book's call, epochs first, on the seed's face trains
    mini-batches of 30 for 10 epochs: the two faces differ only there."""
    data = Examples(6, 3, 30)
    seed_face = seeded(lambda: fastnet.Network([6, 4, 3]))
    book_face = seeded(lambda: network.Network([6, 4, 3]))
    random.seed(0)
    seed_lines, _ = run(seed_face.SGD, list(data.training), 10, 2, 1.0)
    random.seed(0)
    run(book_face.SGD, list(data.training), 2, 10, 1.0)
    assert seed_lines == [" Epoch : 0 complete.", " Epoch : 1 complete."]
    assert_layers_close(seed_face.weights, book_face.weights, 0.0)


def test_sigmoid_is_in_every_namespace():
    z = np.linspace(-5, 5, 11)
    for module in (fastnet, network, network2):
        np.testing.assert_allclose(module.sigmoid(z),
                                   reference.sigmoid(z), rtol=1e-15)
        np.testing.assert_allclose(module.sigmoid_prime(z),
                                   reference.sigmoid_prime(z), rtol=1e-15)


def test_book_modules_are_the_books():
    assert network2.Network is fastnet.network2.Network
    assert mnist_loader.load_data_wrapper is \
        fastnet.mnist_loader.load_data_wrapper


# ------------------------------------------- network2, fig/ script style

def overfitting(module, data):
    """As the book's overfitting plots: large initial weights, 1,000
    training images (here a few), all four monitors."""
    net = module.Network([12, 8, 10], cost=module.CrossEntropyCost)
    net.large_weight_initializer()
    return net.SGD(data.training[:40], 3, 10, 0.5, evaluation_data=data.test,
                   lmbda=0.1, monitor_evaluation_cost=True,
                   monitor_evaluation_accuracy=True,
                   monitor_training_cost=True,
                   monitor_training_accuracy=True)


def weight_initialization(module, data):
    """Default against large initial weights, scored on validation."""
    results = []
    for large in (False, True):
        net = module.Network([12, 8, 10], cost=module.CrossEntropyCost)
        if large:
            net.large_weight_initializer()
        results.append(net.SGD(data.training, 2, 10, 0.1, lmbda=5.0,
                               evaluation_data=data.test,
                               monitor_evaluation_accuracy=True))
    return results


def multiple_eta(module, data):
    """The training cost for several learning rates."""
    results = []
    for eta in (0.025, 0.25, 2.5):
        net = module.Network([12, 8, 10])
        results.append(net.SGD(data.training, 3, 10, eta, lmbda=5.0,
                               evaluation_data=data.test,
                               monitor_training_cost=True))
    return results


def more_data(module, data):
    """Accuracy against the size of the training set, lmbda scaled."""
    results = []
    for size in (20, 40, 80):
        net = module.Network([12, 8, 10], cost=module.CrossEntropyCost)
        net.SGD(data.training[:size], 2, 10, 0.5, lmbda=5.0 * size / 80)
        results.append(net.accuracy(data.test))
    return results


@pytest.mark.parametrize("script", [overfitting, weight_initialization,
                                    multiple_eta, more_data])
def test_fig_style_scripts_print_what_the_oracle_prints(script):
    # Each side gets its own lists: the book shuffles them in place.
    oracle_lines, oracle = run(
        seeded, lambda: script(reference2, Examples(12, 10, 80, seed=2)))
    fast_lines, fast = run(
        seeded, lambda: script(network2, Examples(12, 10, 80, seed=2)))
    same_printout(fast_lines, oracle_lines)
    assert np.allclose(flat(fast), flat(oracle), rtol=RTOL, atol=0)


def flat(results):
    """The numbers in nested lists and tuples, in order."""
    if isinstance(results, (list, tuple)):
        return [x for item in results for x in flat(item)]
    return [float(results)]


# ------------------------------------------------- customised networks

def scaled_cost_derivative(self, output_activations, y):
    """A user's cost: 4 |a - y|^2 / 2, whose derivative is 4 (a - y)."""
    return 4 * (output_activations - y)


def clipped_backprop(self, x, y):
    """A user's backprop: the book's, with each gradient clipped."""
    nabla_b, nabla_w = type(self).__mro__[1].backprop(self, x, y)
    return ([np.clip(b, -0.01, 0.01) for b in nabla_b],
            [np.clip(w, -0.01, 0.01) for w in nabla_w])


def momentum_free_update(self, mini_batch, eta):
    """A user's update_mini_batch: half the book's step."""
    type(self).__mro__[1].update_mini_batch(self, mini_batch, eta / 2)


def rounded_feedforward(self, a):
    """A user's feedforward: the book's, its outputs squared."""
    return type(self).__mro__[1].feedforward(self, a) ** 2


OVERRIDES = {"cost_derivative": scaled_cost_derivative,
             "backprop": clipped_backprop,
             "update_mini_batch": momentum_free_update,
             "feedforward": rounded_feedforward}


def customised(base, name):
    return type(f"Custom{base.__name__}", (base,),
                {name: OVERRIDES[name], "__module__": __name__})


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_overridden_methods_are_honoured(name):
    data = Examples(10, 4, 50, seed=4)
    Oracle, Fast = customised(reference.Network, name), \
        customised(fastnet.Network, name)
    oracle, fast = seeded(lambda: Oracle([10, 6, 4])), \
        seeded(lambda: Fast([10, 6, 4]))
    random.seed(1)
    oracle_lines, _ = run(oracle.SGD, list(data.training), 10, 3, 3.0,
                          data.test)
    random.seed(1)
    with pytest.warns(core.SlowPathWarning, match=f"overrides {name}|"):
        fast_lines, _ = run(fast.SGD, list(data.training), 10, 3, 3.0,
                            data.test)
    assert fast_lines == oracle_lines
    assert_layers_close(fast.weights, oracle.weights, RTOL)
    assert_layers_close(fast.biases, oracle.biases, RTOL)


def test_an_ignored_override_would_be_caught():
    """The override changes the trajectory far beyond the tolerance, so
    the test above fails if fastnet ignores it."""
    data = Examples(10, 4, 50, seed=4)
    custom = seeded(lambda: customised(reference.Network,
                                       "cost_derivative")([10, 6, 4]))
    plain = seeded(lambda: reference.Network([10, 6, 4]))
    for net in (custom, plain):
        random.seed(1)
        run(net.SGD, list(data.training), 10, 3, 3.0)
    with pytest.raises(AssertionError):
        assert_layers_close(custom.weights, plain.weights, 1e-2)


def test_the_slow_path_is_announced_once():
    Fast = customised(fastnet.Network, "cost_derivative")
    net = Fast([5, 3], seed=0)
    data = Examples(5, 3, 20)
    with pytest.warns(core.SlowPathWarning) as caught:
        run(net.SGD, data.training, 5, 1, 1.0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", core.SlowPathWarning)
        run(net.SGD, data.training, 5, 1, 1.0)
    assert len(caught) == 1 and "overrides cost_derivative" in \
        str(caught[0].message)


class DoubledCrossEntropy:
    """A user's cost: twice the cross-entropy."""

    @staticmethod
    def fn(a, y):
        return 2 * reference2.CrossEntropyCost.fn(a, y)

    @staticmethod
    def delta(z, a, y):
        return 2 * (a - y)


class ColumnMixingCost:
    """A user's cost whose delta normalises over all the columns it is
    given: right per sample, wrong on a matrix, so fastnet must call it
    column by column."""

    @staticmethod
    def fn(a, y):
        return float(np.sum((a - y) ** 2))

    @staticmethod
    def delta(z, a, y):
        return (a - y) / np.abs(a - y).max()


@pytest.mark.parametrize("cost", [DoubledCrossEntropy, ColumnMixingCost])
def test_a_users_cost_class_is_honoured(cost):
    data = Examples(10, 10, 60, seed=6)
    oracle = seeded(lambda: reference2.Network([10, 6, 10], cost=cost))
    fast = seeded(lambda: network2.Network([10, 6, 10], cost=cost))
    random.seed(2)
    oracle_lines, oracle_results = run(
        oracle.SGD, list(data.training), 3, 10, 0.5, lmbda=1.0,
        evaluation_data=data.test, monitor_evaluation_cost=True,
        monitor_evaluation_accuracy=True, monitor_training_cost=True)
    random.seed(2)
    with pytest.warns(core.SlowPathWarning, match="not one of fastnet's"):
        fast_lines, fast_results = run(
            fast.SGD, list(data.training), 3, 10, 0.5, lmbda=1.0,
            evaluation_data=data.test, monitor_evaluation_cost=True,
            monitor_evaluation_accuracy=True, monitor_training_cost=True)
    same_printout(fast_lines, oracle_lines)
    assert_layers_close(fast.weights, oracle.weights, RTOL)
    x, y = data.training[0]
    assert_layers_close(fast.backprop(x, y)[1], oracle.backprop(x, y)[1],
                        1e-12)


def test_fit_honours_a_users_cost_too():
    data = Examples(10, 4, 40, seed=7)
    fast = network2.Network([10, 6, 4], cost=DoubledCrossEntropy, seed=0)
    plain = network2.Network([10, 6, 4], seed=0)
    for net in (fast, plain):
        net.fit(data.X.T, data.labels, epochs=2, mini_batch_size=8, eta=0.3,
                seed=1)
    # Twice the gradient at a third of the rate is not the plain run.
    with pytest.raises(AssertionError):
        assert_layers_close(fast.weights, plain.weights, 1e-3)
    twin = network2.Network([10, 6, 4], seed=0)
    twin.fit(data.X.T, data.labels, epochs=2, mini_batch_size=8, eta=0.6,
             seed=1)
    assert_layers_close(fast.weights, twin.weights, 1e-12)


def test_what_is_not_a_cost_is_refused_before_sgd_shuffles():
    data = Examples(4, 3, 10)
    net = network2.Network([4, 3])
    net.cost = "cross-entropy"
    state = random.getstate()
    with pytest.raises(TypeError, match="cost must be"):
        net.SGD(data.training, 1, 5, 0.5)
    assert random.getstate() == state


def test_an_overridden_evaluate_is_what_sgd_prints():
    """The book's SGD prints self.evaluate(test_data): a subclass's own
    evaluate is called, not bypassed."""
    def evaluate(self, test_data):
        return 42

    data = Examples(6, 3, 20)
    for base in (fastnet.Network, network.Network):
        net = type("Evaluated", (base,), {"evaluate": evaluate})([6, 4, 3],
                                                                 seed=0)
        lines, _ = run(net.SGD, data.training, 1, 10, 1.0, data.test)
        assert lines[0].endswith("42 / 20")


def test_overridden_monitors_are_what_network2_prints():
    """network2's SGD calls self.accuracy and self.total_cost; a
    subclass's own are called as the oracle calls them."""
    def accuracy(self, data, convert=False):
        return 1000 + len(data) + convert

    def total_cost(self, data, lmbda, convert=False):
        return 0.5 + len(data) + convert

    methods = {"accuracy": accuracy, "total_cost": total_cost}
    data = Examples(6, 10, 30)
    monitors = dict(evaluation_data=data.test[:10],
                    monitor_evaluation_cost=True,
                    monitor_evaluation_accuracy=True,
                    monitor_training_cost=True,
                    monitor_training_accuracy=True)
    oracle = seeded(lambda: type("O", (reference2.Network,), methods)(
        [6, 4, 10]))
    fast = seeded(lambda: type("F", (network2.Network,), methods)(
        [6, 4, 10]))
    random.seed(1)
    oracle_lines, oracle_results = run(oracle.SGD, list(data.training), 2,
                                       10, 0.5, **monitors)
    random.seed(1)
    fast_lines, fast_results = run(fast.SGD, list(data.training), 2, 10,
                                   0.5, **monitors)
    assert fast_lines == oracle_lines and fast_results == oracle_results
    assert "Accuracy on training data: 1031 / 30" in fast_lines
