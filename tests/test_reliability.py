"""Issue 9's audit: each hole it found, closed, with the case that found it.

Files (model .npz, network2 JSON, IDX, images, downloads, atomic writes)
have their cases beside their modules' tests; this file holds the rest:
memory, the compile cache, divergence, dtypes, small input mistakes, and
the command line's handling of saves and interrupts.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnet
from fastnet import core, network2, training
from fastnet.model_file import load_model
from support import Examples, run_cli


# ------------------------------------------------------------- memory

@pytest.mark.parametrize("sizes", [[784, 4_000_000, 10],
                                   [784, 100_000_000_000, 10]])
def test_networks_that_cannot_fit_are_refused_before_allocating(sizes):
    state = np.random.get_state()
    with pytest.raises(ValueError, match=r"needs [\d,.]+ [kMGT]B of memory, "
                                         r"but only [\d,.]+ [kMGT]?B"):
        fastnet.Network(sizes)
    with pytest.raises(ValueError, match="of memory"):
        network2.Network(sizes)
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(state, after))


def test_the_command_line_refuses_them_as_usage_errors(capsys):
    code, _, err = run_cli(capsys, "train", "--sizes", "784,4000000,10")
    assert code == 2 and "of memory" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "train", "--sizes",
                           "784,100000000000,10")
    assert code == 2 and "of memory" in err
    code, _, err = run_cli(capsys, "bench", "--sizes", "784,4000000,10",
                           "--samples", "10", "--no-reference")
    assert code == 2 and "of memory" in err


def test_the_mini_batch_workspace_counts_too(capsys):
    """A network that fits, trained on mini-batches whose activations do
    not, is refused before the data is loaded."""
    code, _, err = run_cli(capsys, "train", "--sizes", "784,30000,10",
                           "--mini-batch-size", "50000")
    assert code == 2 and "training on mini-batches of 50,000 needs" in err
    net = fastnet.Network([784, 30000, 10], seed=0)
    with pytest.raises(ValueError, match="mini-batches of 50,000"):
        net.fit(np.zeros((784, 3)), [0, 1, 2], mini_batch_size=50000)


@pytest.mark.parametrize("size", [10 ** 400, 2 ** 49])
def test_absurd_layer_sizes_are_named_not_overflowed(capsys, size):
    with pytest.raises(ValueError, match=r"sizes\[1\] is .*more neurons "
                                         r"than any machine can hold"):
        fastnet.Network([784, size, 10])
    code, _, err = run_cli(capsys, "train", "--sizes", f"784,{size},10")
    assert code == 2 and "more neurons" in err


# ------------------------------------------------------ compile cache

CACHE_PROBE = textwrap.dedent("""
    import os, sys, tempfile, warnings
    import numba.core.caching as caching
    allowed = sys.argv[1]
    original = caching._CacheLocator.ensure_cache_path
    def ensure(self):
        if allowed == "none" or not self.get_cache_path().startswith(
                tempfile.gettempdir()):
            raise OSError(30, "Read-only file system")
        original(self)
    caching._CacheLocator.ensure_cache_path = ensure
    warnings.simplefilter("always")
    import fastnet, numpy as np
    net = fastnet.Network([3, 2], seed=0)
    print(net.feedforward(np.ones((3, 1))).shape)
""")


@pytest.mark.slow
@pytest.mark.parametrize("allowed, says", [
    ("temp", "caching the compiled kernels in"),
    ("none", "compiled afresh in each process")])
def test_import_survives_an_unwritable_compile_cache(tmp_path, allowed,
                                                     says):
    """Numba raises at import when no cache folder is writable; fastnet
    falls back to the temporary folder, then to no cache, and says so
    once."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run([sys.executable, "-c", CACHE_PROBE, allowed],
                            capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "(2, 1)" in result.stdout
    assert result.stderr.count(says) == 1, result.stderr


# ---------------------------------------------------------- divergence

def test_diverging_fit_raises_and_keeps_the_last_finite_weights():
    data = Examples(6, 3, 50)
    net = network2.Network([6, 5, 3], seed=0)
    with pytest.raises(core.TrainingDiverged,
                       match=r"diverged in epoch \d+: .* smaller eta or "
                             r"lmbda") as caught:
        net.fit(data.X.T, data.labels, epochs=20, eta=3.0, lmbda=1e6,
                validation_data=(data.X.T, data.labels))
    assert all(np.isfinite(w).all() for w in net.weights + net.biases)
    assert len(net.history_) == caught.value.epoch
    assert caught.value.lmbda == 1e6


def test_diverging_sgd_raises_too():
    data = Examples(6, 3, 50)
    net = network2.Network([6, 5, 3], seed=0)
    with pytest.raises(core.TrainingDiverged):
        net.SGD(data.training, 20, 10, 3.0, lmbda=1e6)
    assert all(np.isfinite(w).all() for w in net.weights + net.biases)


@pytest.mark.slow
def test_a_diverging_command_exits_1_and_keeps_the_model(capsys, tmp_path):
    model = tmp_path / "m.npz"
    code, out, err = run_cli(capsys, "train", "--limit", "300", "--epochs",
                             "3", "--lmbda", "1000000", "--save", str(model),
                             "--seed", "1", "--quiet")
    assert code == 1
    assert err.count("\n") == 1 and "diverged in epoch" in err
    network, metadata = load_model(model)
    assert all(np.isfinite(w).all() for w in network.weights)
    assert metadata["diverged"]["epoch"] == metadata["epochs_trained"]


# -------------------------------------------------------------- saves

def test_json_and_save_on_one_path_are_refused(capsys, tmp_path):
    same = str(tmp_path / "out")
    code, _, err = run_cli(capsys, "train", "--json", same, "--save", same)
    assert code == 2 and "name the same file" in err


@pytest.mark.slow
def test_a_save_folder_removed_during_training_loses_nothing(
        capsys, tmp_path, monkeypatch):
    folder = tmp_path / "gone"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    real_run = training.run

    def run_then_remove(*args, **kwargs):
        result = real_run(*args, **kwargs)
        folder.rmdir()
        return result

    monkeypatch.setattr(training, "run", run_then_remove)
    code, _, err = run_cli(capsys, "train", "--limit", "200", "--epochs", "1",
                           "--save", str(folder / "m.npz"), "--quiet")
    assert code == 1 and "wrote it to" in err
    assert load_model(tmp_path / "m.npz")[0].sizes == [784, 30, 10]


# ------------------------------------------------------ smaller ones

@pytest.mark.parametrize("dtype", ["banana", "float33", [1, 2], "int32",
                                   "float16"])
def test_dtype_is_validated(dtype):
    net = fastnet.Network([3, 2], seed=0)
    before = [w.copy() for w in net.weights]
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        net.fit(np.ones((3, 4)), [0, 1, 0, 1], epochs=1, dtype=dtype)
    for a, b in zip(before, net.weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["f4", np.float32, "float64", np.double])
def test_every_spelling_of_the_two_floats_passes(dtype):
    net = fastnet.Network([3, 2], seed=0)
    net.fit(np.ones((3, 4)), [0, 1, 0, 1], epochs=1, dtype=dtype)
    assert net.weights[0].dtype == np.dtype(dtype)


@pytest.mark.parametrize("sizes", [{784, 30, 10}, {784: 30, 10: 1}])
def test_unordered_sizes_are_refused(sizes):
    with pytest.raises(TypeError, match="list or tuple of layer sizes"):
        fastnet.Network(sizes)


def test_a_huge_label_gets_the_label_error():
    net = fastnet.Network([3, 2], seed=0)
    x = np.ones((3, 1))
    with pytest.raises(ValueError, match=r"test_data\[1\]\[1\] is "
                                         r"1180591620717411303424, outside"):
        net.evaluate([(x, 0), (x, 2 ** 70)])
    with pytest.raises(ValueError, match=r"y\[1\] is "
                                         r"1180591620717411303424, outside"):
        net.score(np.ones((3, 2)), [0, 2 ** 70])
    with pytest.raises(ValueError, match=r"y\[1\] is 11805"):
        net.fit(np.ones((3, 2)), [0, 2 ** 70], epochs=1)


def test_nan_in_one_hot_scores_is_refused():
    net = fastnet.Network([3, 2], seed=0)
    y = np.eye(2)[:, [0, 1, 0]]
    y[0, 1] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        net.score(np.ones((3, 3)), y)


def test_bench_samples_beyond_the_training_split(capsys):
    code, _, err = run_cli(capsys, "bench", "--samples", "100000")
    assert code == 2 and "at most 50000" in err


INTERRUPTED_IMPORT = textwrap.dedent("""
    import builtins, sys
    real_import = builtins.__import__
    def interrupted(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)
    builtins.__import__ = interrupted
    from fastnet.launch import main
    sys.exit(main(["train"]))
""")


def test_ctrl_c_while_the_command_still_imports():
    result = subprocess.run([sys.executable, "-c", INTERRUPTED_IMPORT],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 130
    assert result.stderr.strip() == "fastnet: interrupted"


def test_float32_weights_train_in_float64_as_the_book():
    """The book's first update makes float32 weights float64; the list
    API computes in float64 likewise (fit keeps the weights' dtype)."""
    data = Examples(4, 3, 20)
    net = fastnet.Network([4, 3], seed=0)
    net.weights = [w.astype(np.float32) for w in net.weights]
    net.biases = [b.astype(np.float32) for b in net.biases]
    net.update_mini_batch(data.training[:5], 1.0)
    assert net.weights[0].dtype == np.float64


def test_setting_a_non_cost_is_refused_before_sgd_shuffles():
    import random
    net = network2.Network([4, 3], seed=0)
    net.cost = json
    state = random.getstate()
    with pytest.raises(TypeError, match="cost must be"):
        net.SGD(Examples(4, 3, 10).training, 1, 5, 0.5)
    assert random.getstate() == state
