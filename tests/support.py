"""Helpers shared by the tests: synthetic data and tolerance checks."""

import numpy as np

from fastnet import cli


class Examples:
    """A small synthetic data set in every layout fastnet takes.

    ``X`` (n, n_in) rows of pixels in [0, 1) (float32, as Nielsen's loader
    gives), ``labels`` (n,), ``Y`` (n, n_out) one-hot rows; ``training``
    the Nielsen-format list of ``(x (n_in, 1), y (n_out, 1))`` tuples and
    ``test`` the list of ``(x, int label)`` tuples."""

    def __init__(self, n_in, n_out, n, seed=0, dtype=np.float32):
        rng = np.random.default_rng(seed)
        self.X = rng.random((n, n_in)).astype(dtype)
        self.labels = rng.integers(0, n_out, n)
        self.Y = np.eye(n_out)[self.labels]
        self.training = [(x.reshape(-1, 1), y.reshape(-1, 1))
                         for x, y in zip(self.X, self.Y)]
        self.test = [(x.reshape(-1, 1), int(label))
                     for x, label in zip(self.X, self.labels)]


def relative_error(actual, expected):
    """max |actual - expected| / max |expected|: the error relative to the
    array's scale.  Entrywise relative error is meaningless for entries
    that are sums cancelling to nearly zero, so tolerances are stated
    against the largest entry."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.max(np.abs(expected))
    return np.max(np.abs(actual - expected)) / (scale if scale else 1.0)


def assert_layers_close(actual, expected, rtol):
    assert len(actual) == len(expected)
    for l, (a, e) in enumerate(zip(actual, expected)):
        error = relative_error(a, e)
        assert error <= rtol, f"layer {l}: relative error {error:.3g} > {rtol}"


def run_cli(capsys, *argv):
    """Run the fastnet command in-process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
