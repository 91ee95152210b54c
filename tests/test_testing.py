"""fastnet.testing, the numerical-equivalence kit, on correct and planted
wrong implementations.

Each default tolerance is proven both ways: correct implementations
(the oracle itself, a matrix backprop, a float32 one) pass with room to
spare, and each of three real mistakes (a transposed gradient, an
off-by-one in the bias, a missing sigmoid') is caught by every check:
against the reference, against finite differences, after one step, and
along two epochs of training.
"""

import argparse
import io
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnet import costs as fastnet_costs
from fastnet import testing
from fastnet.reference import Network as Reference
from fastnet.reference import network2 as reference2
from fastnet.reference import sigmoid, sigmoid_prime
from fastnet.testing import tolerances

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MISTAKES = ("transposed gradient", "bias off by one", "missing sigmoid'")


def matrix_backprop(weights, biases, X, Y, mistake=None,
                    cost=reference2.QuadraticCost):
    """Backpropagation on a matrix of samples (one per column), summed over
    them, for a network2 ``cost``; ``mistake`` plants one of ``MISTAKES``,
    or "ignores its cost" (the cross-entropy's output error, whatever the
    cost)."""
    activations, zs = [X], []
    for w, b in zip(weights, biases):
        zs.append(w @ activations[-1] + b)
        activations.append(sigmoid(zs[-1]))
    delta = cost.delta(zs[-1], activations[-1], Y)
    if mistake == "ignores its cost":
        delta = activations[-1] - Y
    nabla_b, nabla_w = [None] * len(biases), [None] * len(weights)
    for l in range(1, len(weights) + 1):
        if l > 1:
            delta = weights[-l + 1].T @ delta
            if mistake != "missing sigmoid'":
                delta = delta * sigmoid_prime(zs[-l])
        first = 1 if mistake == "bias off by one" else 0
        nabla_b[-l] = delta[:, first:].sum(axis=1, keepdims=True)
        nabla_w[-l] = delta @ activations[-l - 1].T
        if mistake == "transposed gradient":
            nabla_w[-l] = nabla_w[-l].T
    return nabla_b, nabla_w


def matrix_network(mistake=None, dtype=np.float64):
    """A Nielsen-interface class (seed order) whose backprop and
    update_mini_batch work on matrices, in ``dtype``."""

    class Matrix(Reference):
        def backprop(self, X, Y):
            weights = [w.astype(dtype) for w in self.weights]
            biases = [b.astype(dtype) for b in self.biases]
            return matrix_backprop(weights, biases, X.astype(dtype),
                                   Y.astype(dtype), mistake)

        def update_mini_batch(self, mini_batch, eta):
            X = np.hstack([x for x, _ in mini_batch])
            Y = np.hstack([y for _, y in mini_batch])
            nabla_b, nabla_w = self.backprop(X, Y)
            k = eta / len(mini_batch)
            self.weights = [w - k * n for w, n in zip(self.weights, nabla_w)]
            self.biases = [b - k * n for b, n in zip(self.biases, nabla_b)]

    Matrix.__qualname__ = f"Matrix[{mistake}]"
    return Matrix


# Correct implementations pass, with the observed error far below the
# bound: at most 1/10 of it here (observed 0 to 0.03).

@pytest.mark.parametrize("target", [
    Reference, Reference([3, 5, 2]).backprop, matrix_network(),
    lambda sizes: matrix_network()(sizes),
    lambda weights, biases, x, y: matrix_backprop(weights, biases, x, y),
    reference2.Network([3, 5, 2]).backprop],
    ids=["class", "bound method", "matrix class", "factory", "function",
         "network2 cross-entropy"])
def test_correct_backprops_pass_well_inside_the_tolerance(target):
    report = testing.check_gradient(target)
    assert report.reference_margin < 0.1 and report.fd_margin < 0.1


def test_the_form_of_backprop_is_detected_or_given():
    assert testing.check_gradient(Reference).mode == "per sample"
    assert testing.check_gradient(matrix_network()).mode.startswith(
        "on the whole matrix")
    assert testing.check_gradient(matrix_network(), matrix=False).mode == \
        "per sample"
    with pytest.raises(AssertionError, match=r"nabla_b\[0\] has shape "
                       r"\(4, 3\), expected \(4, 1\) \(one column per"):
        testing.check_gradient(Reference, matrix=True)


def test_a_mean_over_the_batch_is_checked_as_a_mean():
    def mean_backprop(weights, biases, X, Y):
        nabla_b, nabla_w = matrix_backprop(weights, biases, X, Y)
        m = X.shape[1]
        return [n / m for n in nabla_b], [n / m for n in nabla_w]
    testing.check_gradient(mean_backprop, reduction="mean")
    with pytest.raises(AssertionError):
        testing.check_gradient(mean_backprop)


def test_float32_passes_at_its_own_tolerance_and_fails_at_float64s():
    """Computing in float32 is right to float32's precision (the tolerance
    follows the float32 arrays returned), and float64's is tight enough to
    see that float64 weights were updated with a float32 gradient."""
    network = matrix_network(dtype=np.float32)
    report = testing.check_gradient(network, dtype=np.float32)
    assert report.reference_margin < 0.1
    assert testing.check_gradient(network).reference_margin < 0.1
    report = testing.check_gradient(matrix_backprop, dtype=np.float32)
    assert report.reference_margin < 0.1 and report.fd_margin < 0.1
    testing.check_step(network, dtype=np.float32)
    with pytest.raises(AssertionError, match="after the step"):
        testing.check_step(network)


# Every default, float64's and float32's, catches every planted mistake
# (computed in that precision: the function gets float32 parameters and
# samples with dtype=np.float32, the class computes in float32).

DTYPES = [pytest.param(np.float64, id="float64"),
          pytest.param(np.float32, id="float32")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mistake", MISTAKES)
@pytest.mark.parametrize("against", ["reference", "finite-differences"])
def test_check_gradient_catches_each_mistake(mistake, against, dtype):
    def backprop(weights, biases, x, y):
        assert x.dtype == dtype
        return matrix_backprop(weights, biases, x, y, mistake)
    with pytest.raises(AssertionError, match=r"nabla_[bw]\[\d\]") as caught:
        testing.check_gradient(backprop, against=against, dtype=dtype)
    assert "sizes [" in str(caught.value)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mistake", MISTAKES)
def test_check_step_and_check_training_catch_each_mistake(mistake, dtype):
    network = matrix_network(mistake, dtype)
    with pytest.raises(AssertionError, match="after the step"):
        testing.check_step(network, dtype=dtype)
    # Square layers, so that a transposed gradient is seen by its values
    # (elsewhere it fails on shapes).
    with pytest.raises(AssertionError, match=r"after epoch 0, mini-batch 0,"
                       r" (weights|biases)\[\d\] differs"):
        testing.check_training(network, (4, 4, 4), order="seed",
                               dtype=dtype)


def test_a_transposed_gradient_is_named_by_value_and_by_shape():
    network = matrix_network("transposed gradient")
    with pytest.raises(AssertionError, match=r"sizes \[4, 4, 4\].*nabla_w\["
                       r"\d\], entry \[\d, \d\] is .* where the reference "
                       r"has .*relative error .*tolerance"):
        testing.check_gradient(network)
    with pytest.raises(AssertionError, match=r"on the whole matrix.*nabla_w"
                       r"\[0\] has shape \(3, 4\), expected \(4, 3\) "
                       r"\(transposed\?\)"):
        testing.check_gradient(network, [3, 4, 2])


def test_a_float32_slip_in_float64_code_is_caught():
    """The float64 tolerance is tight: one product rounded to float32
    shows (errors near 1e-8 against a tolerance near 1e-13)."""
    def backprop(weights, biases, x, y):
        nabla_b, nabla_w = matrix_backprop(weights, biases, x, y)
        nabla_w[0] = nabla_w[0].astype(np.float32).astype(np.float64)
        return nabla_b, nabla_w
    with pytest.raises(AssertionError, match=r"nabla_w\[0\]"):
        testing.check_gradient(backprop, against="reference")


# Training: where the trajectories part.

def test_training_reports_the_first_different_mini_batch():
    class NumpyShuffle(Reference):
        def SGD(self, training_data, mini_batch_size, epochs, eta,
                test_data=None):
            order = np.random.permutation(len(training_data))
            training_data[:] = [training_data[i] for i in order]
            random.shuffle(training_data)
            return super().SGD(training_data, mini_batch_size, epochs, eta,
                               test_data)
    with pytest.raises(AssertionError, match=r"epoch 0, mini-batch 0 holds "
                       r"samples \[\d+, \d+, \d+\] where the reference's "
                       r"holds"):
        testing.check_training(NumpyShuffle, order="seed")


def test_training_reports_a_dropped_short_mini_batch():
    class DropsLast(Reference):
        def SGD(self, training_data, mini_batch_size, epochs, eta,
                test_data=None):
            for j in range(epochs):
                random.shuffle(training_data)
                n = len(training_data) // mini_batch_size * mini_batch_size
                for k in range(0, n, mini_batch_size):
                    self.update_mini_batch(
                        training_data[k:k + mini_batch_size], eta)
                print(f"Epoch {j}: {self.evaluate(test_data)} / "
                      f"{len(test_data)}")
    with pytest.raises(AssertionError, match="called update_mini_batch 26 "
                       "times in 2 epochs where the reference calls it 28"):
        testing.check_training(DropsLast, order="seed")


def test_training_without_steps_to_follow_names_the_epoch():
    """An SGD that never calls update_mini_batch (like fastnet's compiled
    loop) is compared after each epoch: reruns find the first bad one."""
    class Compiled(Reference):
        def SGD(self, training_data, mini_batch_size, epochs, eta,
                test_data=None):
            for j in range(epochs):
                random.shuffle(training_data)
                rate = eta * (1.001 if j == 1 else 1.0)
                for k in range(0, len(training_data), mini_batch_size):
                    Reference.update_mini_batch(
                        self, training_data[k:k + mini_batch_size], rate)
                print(f"Epoch {j} : {self.evaluate(test_data)} / "
                      f"{len(test_data)}")
    testing.check_training(Compiled, order="seed", epochs=1)
    with pytest.raises(AssertionError, match=r"after epoch 1 \(SGD does not "
                       r"call update_mini_batch.*\), (weights|biases)\[\d\] "
                       r"differs from the reference's by"):
        testing.check_training(Compiled, order="seed", epochs=3)


def test_float32_training_passes_at_float32s_tolerance():
    network = matrix_network(dtype=np.float32)
    testing.check_training(network, order="seed", dtype=np.float32)
    with pytest.raises(AssertionError, match="epoch 0, mini-batch 0"):
        testing.check_training(network, order="seed")


def test_training_reports_a_different_start_unless_told_to_copy():
    class WeightsFirst(Reference):
        def __init__(self, sizes):
            super().__init__(sizes)
            self.weights = [np.random.randn(*w.shape) for w in self.weights]
    with pytest.raises(AssertionError, match="initial weights differ"):
        testing.check_training(WeightsFirst, order="seed")
    testing.check_training(WeightsFirst, order="seed", copy_weights=True)


def test_training_reports_a_layer_of_the_wrong_shape():
    class Flat(Reference):
        def SGD(self, *args, **kwargs):
            super().SGD(*args, **kwargs)
            self.biases = [b.ravel() for b in self.biases]
    with pytest.raises(AssertionError, match=r"at the end of SGD \(epoch 1\),"
                       r" biases\[0\] has shape \(4,\), expected \(4, 1\)"):
        testing.check_training(Flat, order="seed")


def test_training_compares_accuracies_not_print_formats():
    class BookOrder(Reference):
        def SGD(self, training_data, epochs, mini_batch_size, eta,
                test_data=None):
            super().SGD(training_data, mini_batch_size, epochs, eta)
            print(f"Epoch {epochs - 1}: {self.evaluate(test_data)} / "
                  f"{len(test_data)}")
    with pytest.raises(AssertionError, match="found 1 accuracies"):
        testing.check_training(BookOrder)

    class Wrong(BookOrder):
        def evaluate(self, test_data):
            return super().evaluate(test_data) + 1
    with pytest.raises(AssertionError, match="epoch 0: .* where the "
                       "reference gets"):
        testing.check_training(Wrong, epochs=1)
    report = testing.check_training(BookOrder, epochs=1)
    assert report.recorded and report.epochs == 1


# A network2 port is checked with its own cost, whatever it is called.

class XEnt(reference2.CrossEntropyCost):
    """A user's cross-entropy: the book's, under a name no built-in has."""


class Doubled:
    """Twice the quadratic cost: no built-in cost equals it, so a check
    that ran a built-in instead would fail."""

    @staticmethod
    def fn(a, y):
        return float(np.sum((a - y) ** 2))

    @staticmethod
    def delta(z, a, y):
        return 2 * (a - y) * sigmoid_prime(z)


# Named like the built-in, computing something else: the kit must go by
# identity, never by name.
Impostor = type("CrossEntropyCost", (Doubled,), {})

OWN_COSTS = [XEnt, Doubled, Impostor]


def port(own_cost, mistake=None):
    """A user's network2 port whose default cost is ``own_cost`` and whose
    backprop works on matrices through ``self.cost.delta``."""

    class Port(reference2.Network):
        def __init__(self, sizes, cost=own_cost):
            super().__init__(sizes, cost=cost)

        def backprop(self, X, Y):
            return matrix_backprop(self.weights, self.biases, X, Y, mistake,
                                   self.cost)

    Port.__qualname__ = f"Port[{own_cost.__name__}, {mistake}]"
    return Port


@pytest.mark.parametrize("own_cost", OWN_COSTS, ids=["XEnt", "Doubled",
                                                     "Impostor"])
def test_a_network2_port_passes_with_its_own_cost(own_cost):
    network = port(own_cost)
    report = testing.check_gradient(network)
    assert report.reference_margin < 0.1 and report.fd_margin < 0.1
    testing.check_step(network, order="network2")
    testing.check_training(network, order="network2")


@pytest.mark.parametrize("own_cost, mistake", [
    (XEnt, "missing sigmoid'"), (Doubled, "ignores its cost"),
    (Impostor, "ignores its cost")])
def test_a_mistake_in_a_network2_port_with_its_own_cost_is_caught(
        own_cost, mistake):
    network = port(own_cost, mistake)
    for against in ("reference", "finite-differences"):
        with pytest.raises(AssertionError, match=r"nabla_[bw]\[\d\]"):
            testing.check_gradient(network, against=against)
    with pytest.raises(AssertionError, match=f"cost {own_cost.__name__}: "
                       f"after the step"):
        testing.check_step(network, order="network2")
    with pytest.raises(AssertionError, match="epoch 0, mini-batch 0"):
        testing.check_training(network, order="network2")


def test_the_cost_can_be_given():
    """``cost=`` overrides the network's own: a class or a built-in name;
    the wrong one is a difference."""
    network = port(Doubled)
    testing.check_gradient(network, cost=Doubled)
    testing.check_step(network, order="network2", cost=Doubled)
    testing.check_training(network, order="network2", cost=Doubled)
    with pytest.raises(AssertionError, match="against the reference"):
        testing.check_gradient(network, cost="quadratic",
                               against="reference")
    with pytest.raises(AssertionError, match="after the step"):
        testing.check_step(network, order="network2", cost="QuadraticCost")
    with pytest.raises(AssertionError, match="epoch 0, mini-batch 0"):
        testing.check_training(network, order="network2",
                               cost="cross-entropy")
    cross_entropy = port(reference2.CrossEntropyCost)
    testing.check_step(cross_entropy, order="network2",
                       cost=fastnet_costs.CrossEntropyCost)


PORT_FILE = """
from fastnet.reference import network2


class XEnt(network2.CrossEntropyCost):
    pass


class Network(network2.Network):
    def __init__(self, sizes, cost=XEnt):
        super().__init__(sizes, cost=cost)


class NoDecay(Network):
    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        super().update_mini_batch(mini_batch, eta, 0.0, n)
"""


def test_check_command_on_a_network2_port_with_its_own_cost(tmp_path):
    path = tmp_path / "mynet2.py"
    path.write_text(PORT_FILE)
    code, out = report(f"{path}:Network", order="network2")
    assert code == 0, out
    code, out = report(f"{path}:NoDecay", order="network2")
    assert code == 1 and "  gradient  ok" in out, out
    assert "step FAIL sizes [4, 4, 4] with a mini-batch of 3, eta 0.5, " \
        "lmbda 1.0, n 50, cost XEnt: after the step" in " ".join(out.split())
    code, out = report(f"{path}:Network", order="network2",
                       cost="quadratic")
    assert code == 1, out
    out = " ".join(out.split())
    assert "gradient FAIL sizes [4, 4, 4] with 3 sample(s), cost " \
        "QuadraticCost, backprop per sample" in out
    assert "cost QuadraticCost: after the step" in out


# The kit leaves everything as it found it, and refuses bad input first.

@pytest.mark.parametrize("check", [
    lambda: testing.check_gradient(Reference),
    lambda: testing.check_step(Reference),
    lambda: testing.check_training(Reference, order="seed"),
    lambda: testing.check_training(matrix_network("missing sigmoid'"),
                                   order="seed")])
def test_the_callers_random_state_is_restored(check):
    random.seed(3)
    np.random.seed(4)
    expected = random.random(), np.random.rand()
    random.seed(3)
    np.random.seed(4)
    try:
        check()
    except AssertionError:
        pass
    assert (random.random(), np.random.rand()) == expected


def test_an_instance_gets_its_own_parameters_back():
    net = Reference([3, 5, 2])
    weights, biases = net.weights, net.biases
    saved = [w.copy() for w in weights]
    testing.check_gradient(net)
    testing.check_step(net.update_mini_batch)
    assert net.weights is weights and net.biases is biases
    assert all(np.array_equal(a, b) for a, b in zip(weights, saved))
    with pytest.raises(ValueError, match="only be checked on a class"):
        testing.check_gradient(net, [2, 2])


@pytest.mark.parametrize("call, error, message", [
    (lambda: testing.check_gradient(Reference, [3]), ValueError,
     "at least two"),
    (lambda: testing.check_gradient(Reference, [3, 0]), ValueError,
     "positive integers"),
    (lambda: testing.check_gradient(Reference, [3, 2], batch_sizes=[0]),
     ValueError, "batch sizes"),
    (lambda: testing.check_gradient(Reference, against="eyeball"),
     ValueError, "against"),
    (lambda: testing.check_gradient(Reference, dtype=np.int32), ValueError,
     "dtype"),
    (lambda: testing.check_gradient(42), TypeError, "cannot check 42"),
    (lambda: testing.check_gradient(lambda a, b: None), TypeError,
     "cannot check"),
    (lambda: testing.check_gradient(Reference, batch_sizes=[10 ** 6]),
     ValueError, "batch sizes"),
    (lambda: testing.check_gradient(Reference, seed="x"), ValueError,
     "seed"),
    (lambda: testing.check_step(Reference, eta=-1.0), ValueError, "eta"),
    (lambda: testing.check_training(Reference, order="seed", epochs=0),
     ValueError, "epochs"),
    (lambda: testing.check_training(Reference, order="sideways"),
     ValueError, "order"),
    (lambda: testing.check_training(Reference), ValueError,
     "that is the 'seed' interface, not 'book'; pass order='seed'"),
    (lambda: testing.check_training(object()), TypeError,
     "class or a factory"),
    (lambda: testing.check_gradient(Reference, cost=42), TypeError,
     "cost must be 'auto', None, a built-in cost's name or a cost class"),
    (lambda: testing.check_gradient(Reference, cost="hinge"), ValueError,
     "unknown cost 'hinge'"),
    (lambda: testing.check_step(Reference, order="seed",
                                cost="cross-entropy"), ValueError,
     "whose cost is quadratic; the cost CrossEntropyCost needs "
     "order='network2'"),
    (lambda: testing.check_training(reference2.Network, order="network2",
                                    cost=None), ValueError,
     "needs a cost"),
])
def test_bad_input_is_refused_with_a_clear_error(call, error, message):
    random.seed(1)
    np.random.seed(1)
    state = random.getstate(), np.random.get_state()[1].copy()
    with pytest.raises(error, match=message):
        call()
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1])


def test_user_exceptions_become_located_failures():
    def broken(weights, biases, x, y):
        raise ZeroDivisionError("oops")
    with pytest.raises(AssertionError, match=r"sizes \[4, 4, 4\] with 3 "
                       r"sample\(s\).*raised ZeroDivisionError: oops"):
        testing.check_gradient(broken)


@pytest.mark.parametrize("case", testing.pytest_params()[:2])
def test_pytest_params_parametrize_a_users_test(case):
    report = testing.check_gradient(matrix_network(), case.sizes,
                                    batch_sizes=[case.batch_size])
    assert report.cases == 1


def test_tolerances_are_the_stated_numbers():
    eps64, eps32 = np.finfo(np.float64).eps, np.finfo(np.float32).eps
    assert tolerances.gradient_rtol((5, 4, 4, 3), 4, eps64) == \
        pytest.approx(4.3e-14, rel=0.02)
    assert tolerances.gradient_rtol((784, 30, 10), 10, eps64) == \
        pytest.approx(7.6e-13, rel=0.02)
    assert tolerances.gradient_rtol((784, 30, 10), 10, eps32) == \
        pytest.approx(4.0e-4, rel=0.02)
    assert tolerances.difference_step(0.5) == pytest.approx(6.06e-6,
                                                            rel=0.01)
    assert [c.id for c in testing.CASES][:1] == ["4-4-4,m3"]


# The command.

def report(target, **options):
    out = io.StringIO()
    return testing.check_command(target, stream=out, **options), \
        out.getvalue()


def test_check_command_reports_the_wrong_example_and_passes_the_fixed_one():
    code, out = report(f"{EXAMPLES}/wrong_backprop.py:Network", order="seed")
    assert code == 1, out
    assert "  gradient  FAIL  sizes [4, 4, 4] with 3 sample(s), backprop on " \
        "the whole matrix" in out
    assert "training  FAIL  Network raised ValueError in epoch 0, mini-batch" \
        " 0: " in out
    assert out.endswith("FAILED: 3 of 3 checks found a difference\n")
    code, out = report(f"{EXAMPLES}/matrix_backprop.py:Network",
                       order="seed")
    assert code == 0, out
    assert out.count(" ok ") == 3 and out.startswith("fastnet check ")


@pytest.mark.parametrize("target, options, message", [
    ("no_such_module_here:Network", {}, "cannot import no_such_module_here"
     ":Network: ModuleNotFoundError"),
    ("fastnet.reference:Nope", {}, "has no 'Nope'"),
    ("examples/none.py:Network", {}, "no file examples/none.py"),
    ("fastnet.reference", {}, "module:Class"),
    ("fastnet.reference:__doc__", {}, "not a network class"),
    ("fastnet.reference:Network", {}, "pass --order seed"),
    ("fastnet.reference:Network", {"order": "up"}, "order must be"),
    ("fastnet.reference:Network", {"order": "seed", "cost": "cross-entropy"},
     "the cost CrossEntropyCost needs --order network2"),
])
def test_check_command_refuses_unusable_targets_in_one_line(target, options,
                                                            message):
    code, out = report(target, **options)
    assert code == 2
    assert out.count("\n") == 1 and message in out, out


def test_add_arguments_wires_the_command_into_argparse():
    parser = testing.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args([f"{EXAMPLES}/matrix_backprop.py:Network",
                              "--order", "seed", "--seed", "2"])
    out = io.StringIO()
    assert testing.run_command(args, stream=out) == 0
    assert "seed 2" in out.getvalue()


@pytest.mark.parametrize("value, message", [
    ("x", "argument --seed: expected an integer, got 'x'"),
    ("1.5", "argument --seed: expected an integer, got '1.5'"),
    ("-1", "argument --seed: must be an integer from 0 to 2**31 - 1, got "
     "-1")])
def test_integer_options_are_refused_in_fastnet_trains_words(value, message,
                                                             capsys):
    parser = testing.add_arguments(argparse.ArgumentParser())
    with pytest.raises(SystemExit) as exit:
        parser.parse_args(["module:Class", "--seed", value])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_fastnet_check_and_fastnet_train_say_the_same_words():
    said = []
    for command in (["check", "module:Class", "--seed", "x"],
                    ["train", "--epochs", "x"]):
        done = subprocess.run([sys.executable, "-m", "fastnet", *command],
                              cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2, done.stderr
        said.append(done.stderr.strip().splitlines()[-1].split(": ")[-1])
    assert said == ["expected an integer, got 'x'"] * 2


def test_check_command_from_a_fresh_interpreter():
    script = ("import sys; from fastnet.testing import check_command; "
              "sys.exit(check_command(sys.argv[1], order='seed'))")
    done = subprocess.run([sys.executable, "-c", script,
                           "examples/wrong_backprop.py:Network"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "FAIL" in done.stdout
