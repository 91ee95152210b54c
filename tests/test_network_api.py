"""The fast Network's API: drop-in behaviour and the array API."""

import contextlib
import io
import random

import numpy as np
import pytest

import fastnet
from support import Examples


def test_seed_style_script_runs_with_one_import_changed():
    import fastnet as network  # was: import network
    data = Examples(784, 10, 120, seed=3)
    random.seed(0)
    np.random.seed(0)
    net = network.Network([784, 30, 10])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        net.SGD(data.training, 10, 2, 3.0, test_data=data.test[:50])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 0 : ") \
        and lines[1].endswith(" / 50")
    assert [w.shape for w in net.weights] == [(30, 784), (10, 30)]
    assert [b.shape for b in net.biases] == [(30, 1), (10, 1)]


def test_updates_make_new_arrays_like_the_seed():
    data = Examples(5, 3, 8)
    net = fastnet.Network([5, 4, 3], seed=0)
    old_weights = net.weights
    snapshot = [w.copy() for w in old_weights]
    net.update_mini_batch(data.training, 1.0)
    assert net.weights is not old_weights
    for old, kept in zip(old_weights, snapshot):
        np.testing.assert_array_equal(old, kept)
    assert not np.array_equal(net.weights[0], snapshot[0])


def test_explicit_seed_leaves_global_state_alone_and_reproduces():
    state = np.random.get_state()
    a = fastnet.Network([6, 5, 2], seed=7)
    assert (np.random.get_state()[1] == state[1]).all()
    b = fastnet.Network([6, 5, 2], seed=np.random.default_rng(7))
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(x, y)
    c = fastnet.Network([6, 5, 2], seed=8)
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_fit_predict_score_learn_a_separable_problem():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    centres = rng.random((3, 8)) * 4
    X = (centres[labels] + 0.3 * rng.standard_normal((600, 8))).T
    net = fastnet.Network([8, 12, 3], seed=1)
    before = net.score(X, labels)
    records = []
    net.fit(X, labels, epochs=8, mini_batch_size=10, eta=2.0, seed=2,
            validation_data=(X, labels), callback=records.append)
    assert net.score(X, labels) > max(0.9, before)
    assert net.history_ == records and len(records) == 8
    assert [r["epoch"] for r in records] == list(range(8))
    assert all(r["total"] == 600 and r["seconds"] >= 0 for r in records)
    assert records[-1]["correct"] == round(net.score(X, labels) * 600)
    predictions = net.predict(X)
    assert predictions.shape == (600,) and predictions.dtype.kind == "i"
    # one-hot labels score the same
    assert net.score(X, np.eye(3)[labels].T) == net.score(X, labels)


def test_fit_with_same_seed_is_reproducible_and_seed_matters():
    data = Examples(10, 4, 50, seed=2)

    def trained(seed):
        net = fastnet.Network([10, 6, 4], seed=0)
        return net.fit(data.X.T, data.labels, epochs=2, seed=seed)

    a, b, c = trained(5), trained(5), trained(6)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_fit_takes_target_matrices():
    data = Examples(10, 4, 40, seed=4)
    a = fastnet.Network([10, 6, 4], seed=0)
    b = fastnet.Network([10, 6, 4], seed=0)
    a.fit(data.X.T, data.labels, epochs=1, seed=1)
    b.fit(data.X.T, data.Y.T, epochs=1, seed=1)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])


def test_float32_training_keeps_float32_weights_and_predicts():
    data = Examples(784, 10, 60, seed=5)
    net = fastnet.Network([784, 30, 10], seed=0)
    net.fit(data.X.T, data.labels, epochs=1, dtype=np.float32)
    assert {w.dtype for w in net.weights + net.biases} == {np.dtype("f4")}
    assert net.feedforward(data.X[:3].T).dtype == np.float32
    # Training again without dtype stays in float32; asking converts.
    net.fit(data.X.T, data.labels, epochs=1)
    assert net.weights[0].dtype == np.float32
    net.fit(data.X.T, data.labels, epochs=1, dtype="float64")
    assert net.weights[0].dtype == np.float64


def test_zero_epochs_changes_nothing():
    data = Examples(5, 3, 10)
    net = fastnet.Network([5, 4, 3], seed=0)
    before = [w.copy() for w in net.weights]
    net.fit(data.X.T, data.labels, epochs=0)
    random.seed(1)
    order = list(data.training)
    with contextlib.redirect_stdout(io.StringIO()):
        net.SGD(order, 3, 0, 1.0)
    assert all(a is b for a, b in zip(order, data.training))
    for a, b in zip(before, net.weights):
        np.testing.assert_array_equal(a, b)


def test_progress_bar_goes_to_stderr(capsys):
    data = Examples(5, 3, 50)
    net = fastnet.Network([5, 4, 3], seed=0)
    net.fit(data.X.T, data.labels, epochs=1, mini_batch_size=3,
            progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "epoch 1/1" in captured.err


def test_progress_bar_runs_the_same_training():
    data = Examples(5, 3, 50)
    a = fastnet.Network([5, 4, 3], seed=0).fit(
        data.X.T, data.labels, epochs=2, mini_batch_size=3, seed=1)
    b = fastnet.Network([5, 4, 3], seed=0).fit(
        data.X.T, data.labels, epochs=2, mini_batch_size=3, seed=1,
        progress=True)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])


@pytest.mark.parametrize("progress", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rows_gathered_ahead_train_bit_for_bit_the_same(monkeypatch,
                                                        progress, dtype):
    """Large training sets are gathered a chunk ahead on a second thread
    (``core.STAGE_FROM_BYTES``); here every set is, in chunks of 4
    mini-batches of 3 whose last is short, with and without a progress
    bar, on fit's arrays and on the drop-in's lists read in place: the
    same weights as gathering on the training thread, and the staging
    path really taken."""
    from fastnet import core, threads
    data = Examples(5, 3, 50)

    def train():
        a = fastnet.Network([5, 4, 3], seed=0).fit(
            data.X.T, data.labels, epochs=2, mini_batch_size=3, seed=1,
            dtype=dtype, progress=progress)
        b = fastnet.Network([5, 4, 3], seed=0)
        random.seed(2)   # the drop-in shuffles with random, as the seed
        with contextlib.redirect_stdout(io.StringIO()):
            b.SGD(list(data.training), 3, 2, 3.0)   # (shuffled in place)
        return a.weights + a.biases + b.weights + b.biases

    whole = train()
    chunks = []
    staged_calls = core._staged_calls

    def counting(X, *arguments):
        for call in staged_calls(X, *arguments):
            gathered = call[0] is not X
            rows = call[2].shape[0] if gathered else min(
                call[2].shape[0], call[4] * 3) - call[3] * 3
            chunks.append((rows, gathered))
            yield call
    monkeypatch.setattr(core, "_staged_calls", counting)
    monkeypatch.setattr(core, "STAGE_FROM_BYTES", 0)
    monkeypatch.setattr(core, "STAGE_SAMPLES", 12)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    for waits in (True, False):   # every chunk gathered ahead, or some
        monkeypatch.setattr(core, "STAGE_WAITS", waits)
        chunks.clear()
        staged = train()
        for ours, theirs in zip(staged, whole):
            np.testing.assert_array_equal(ours, theirs)
        if waits:
            # all but each epoch's first chunk gathered ahead, of at most
            # 4 mini-batches (fewer with a bar on this tiny set)
            ahead = [rows for rows, gathered in chunks if gathered]
            assert ahead and max(ahead) <= 12
            assert sum(rows for rows, _ in chunks) == 4 * 50
            assert progress or {12, 2} <= set(ahead)   # 50 = 4 x 12 + 2


def test_training_goes_on_when_the_gathering_pool_is_shut_down(
        monkeypatch):
    """A pool that cannot take the gathers (shut down, as at exit): the
    chunks train from the rows where they lie."""
    from concurrent.futures import ThreadPoolExecutor
    from fastnet import core, threads
    data = Examples(5, 3, 50)

    def train():
        return fastnet.Network([5, 4, 3], seed=0).fit(
            data.X.T, data.labels, epochs=2, mini_batch_size=3,
            seed=1).weights
    whole = train()
    closed = ThreadPoolExecutor(1)
    closed.shutdown()
    monkeypatch.setattr(core, "_gatherer", lambda: closed)
    monkeypatch.setattr(core, "STAGE_FROM_BYTES", 0)
    monkeypatch.setattr(core, "STAGE_SAMPLES", 12)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    for ours, theirs in zip(train(), whole):
        np.testing.assert_array_equal(ours, theirs)


def test_a_late_gather_never_writes_a_buffer_in_use(monkeypatch):
    """The gather of chunk 1 held up until chunk 7 trains, on a pool of two
    threads that runs later gathers meanwhile: no buffer is given to a new
    gather while an old one may still write it, so every chunk handed
    over staged holds its own rows.  (Reviewed: with the buffer reuse
    keyed on the chunk three back, chunk 7 got chunk 1's rows.)"""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from fastnet import core, kernels
    pool = ThreadPoolExecutor(2)
    monkeypatch.setattr(core, "_gatherer", lambda: pool)
    monkeypatch.setattr(core, "_had_a_core", lambda since: True)  # sleeps
    n, batch_size, per_call = 600, 10, 3
    rows = batch_size * per_call
    X = np.arange(n * 4, dtype=float).reshape(n, 4)
    Y = X[:, :2].copy()
    order = np.random.default_rng(0).permutation(n)
    gather_rows, release = kernels.gather_rows, threading.Event()

    def held_up(source, index, first, out):
        if first == rows and source is X:
            release.wait(5)
        gather_rows(source, index, first, out)
    monkeypatch.setattr(kernels, "gather_rows", held_up)
    staged = []
    try:
        for i, (X_part, Y_part, _, first, stop) in enumerate(
                core._staged_calls(X, Y, order, batch_size, per_call)):
            time.sleep(0.01)   # training the chunk
            if i == 7:
                release.set()
                time.sleep(0.1)   # chunk 1's gather writes now
            if X_part is not X:
                expected = X[order[i * rows:i * rows + len(X_part)]]
                np.testing.assert_array_equal(X_part, expected)
                np.testing.assert_array_equal(Y_part, expected[:, :2])
                staged.append(i)
    finally:
        release.set()
        pool.shutdown()
    assert len(staged) > 10


@pytest.mark.parametrize("had_a_core", [True, False])
def test_no_chunk_is_asked_for_once_the_thread_has_no_core(monkeypatch,
                                                         had_a_core):
    """After ``STAGE_PROBE_CHUNKS`` chunks, a training thread that has not
    had a core to itself (every core busy) asks for no more chunks: the
    rest of the epoch trains from the rows where they lie.  One that had
    goes on being handed staged chunks."""
    import time
    from fastnet import core, kernels
    monkeypatch.setattr(core, "_had_a_core", lambda since: had_a_core)
    n, batch_size, per_call = 600, 10, 3
    X = np.arange(n * 4, dtype=float).reshape(n, 4)
    order = np.random.default_rng(0).permutation(n)
    kernels.gather_rows(X, order, 0, np.empty((2, 4)))   # compiled first
    staged = []
    for i, call in enumerate(core._staged_calls(X, X[:, :2].copy(), order,
                                                batch_size, per_call)):
        time.sleep(0.005)   # training the chunk: the gather is done by then
        if call[0] is not X:
            staged.append(i)
    last_asked = core.STAGE_PROBE_CHUNKS - 1 + core.STAGE_AHEAD
    assert staged and min(staged) <= last_asked
    if had_a_core:
        assert max(staged) > last_asked
    else:
        assert max(staged) <= last_asked


def test_had_a_core_compares_cpu_time_with_wall_time(monkeypatch):
    """A thread that ran for 90% of the wall time had a core; one that
    ran for half of it (the rest waiting for a busy core) had not.  On
    this machine's clocks: a thread that sleeps had not."""
    import time
    from fastnet import core
    monkeypatch.setattr(core, "_PRECISE_THREAD_CLOCK", True)
    for cpu, had in ((0.9, True), (0.5, False)):
        monkeypatch.setattr(core, "_thread_clocks", lambda: (cpu, 1.0))
        assert core._had_a_core((0.0, 0.0)) is had
    monkeypatch.setattr(core, "_PRECISE_THREAD_CLOCK", False)
    assert core._had_a_core((0.0, 0.0))   # a coarse clock cannot tell
    monkeypatch.undo()
    if core._PRECISE_THREAD_CLOCK:
        since = core._thread_clocks()
        time.sleep(0.02)
        assert not core._had_a_core(since)


def test_predict_on_integer_pixels_converts_them_in_pieces(monkeypatch):
    """Integer inputs (raw pixels) are converted a piece at a time, in
    both threads' shares: the classes of the same numbers given as
    floats, with no conversion of the whole input at once."""
    from fastnet import threads
    monkeypatch.setattr(threads, "cores", lambda: 2)
    rng = np.random.default_rng(60)
    pixels = rng.integers(0, 256, (12, 2 * threads_rows() + 1500),
                          dtype=np.uint8)
    net = fastnet.Network([12, 9, 4], seed=60)
    converted = []
    astype = np.ndarray.astype

    class Pixels(np.ndarray):
        def astype(self, dtype, *arguments, **options):
            converted.append(self.shape[1])
            return astype(np.asarray(self), dtype, *arguments, **options)
    classes = net.predict(pixels.view(Pixels))
    np.testing.assert_array_equal(classes, net.predict(pixels / 1.0))
    assert converted and max(converted) <= threads.CONVERTED
    assert sum(converted) == pixels.shape[1]


def test_feedforward_takes_a_column_of_a_larger_matrix():
    """A column sliced out of a C-order matrix (its numbers strided) gives
    what the same column as its own array gives.  (Reviewed: it raised
    Numba's "reshape() supports contiguous array only".)"""
    net = fastnet.Network([12, 9, 4], seed=61)
    M = np.random.default_rng(61).random((12, 50))
    np.testing.assert_array_equal(net.feedforward(M[:, 3:4]),
                                  net.feedforward(M[:, 3:4].copy()))


def test_repr_and_attributes():
    net = fastnet.Network((3, 2))
    assert repr(net) == "Network([3, 2])"
    assert net.num_layers == 2 and net.sizes == [3, 2]


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_batch_larger_than_data_is_one_batch(batch):
    data = Examples(4, 2, 9)
    net = fastnet.Network([4, 3, 2], seed=0)
    net.fit(data.X.T, data.labels, epochs=1, mini_batch_size=batch)
    assert np.isfinite(net.weights[0]).all()


# -- predict and score read the columns where they lie -------------------------


def columns_and_network(dtype, m, seed=50):
    rng = np.random.default_rng(seed)
    net = fastnet.Network([12, 9, 4], seed=seed)
    if dtype == "float32":
        net.weights = [w.astype(np.float32) for w in net.weights]
        net.biases = [b.astype(np.float32) for b in net.biases]
    return net, rng.standard_normal((12, m))


@pytest.mark.parametrize("network_dtype", ["float64", "float32"])
@pytest.mark.parametrize("input_dtype", [np.float64, np.float32])
def test_predict_on_columns_equals_the_oracles_classes(network_dtype,
                                                        input_dtype):
    """Over several blocks and both threads' shares: the classes of the
    per-sample oracle (argmax of its output; random weights leave no
    near-ties at this size, which the margin check below confirms)."""
    from fastnet.reference import Network as Oracle
    net, X = columns_and_network(network_dtype,
                                 2 * threads_rows() + 3 * 1024 + 5)
    X = X.astype(input_dtype)
    oracle = Oracle([12, 9, 4])
    oracle.weights = [w.astype(np.float64) for w in net.weights]
    oracle.biases = [b.astype(np.float64) for b in net.biases]
    outputs = np.hstack([oracle.feedforward(X[:, k:k + 1].astype(float))
                         for k in range(X.shape[1])])
    top2 = np.sort(outputs, axis=0)[-2:]
    assert np.min(top2[1] - top2[0]) > 1e-5   # no class decided by rounding
    np.testing.assert_array_equal(net.predict(X), np.argmax(outputs, axis=0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("column", [0, 1500, -1])
def test_predict_and_score_name_the_first_nonfinite_column(bad, column):
    net, X = columns_and_network("float64", 2 * threads_rows() + 9)
    X[3, column] = bad
    X[7, -1] = bad
    first = column % X.shape[1]
    labels = np.zeros(X.shape[1], int)
    for call in (lambda: net.predict(X), lambda: net.score(X, labels)):
        with pytest.raises(ValueError, match=rf"X contains NaN or infinity "
                                             rf"\(first in column {first}\)"):
            call()


def test_products_too_large_for_the_dtype_are_not_mistaken_for_bad_input():
    """A finite input whose first-layer products overflow (1e300 * 1e300)
    is classified as before, not refused."""
    net, X = columns_and_network("float64", 40)
    X[:, 5] = 1e300
    net.weights[0][...] = 1e300
    classes = net.predict(X)
    assert classes.shape == (40,)
    rows = np.ascontiguousarray(X.T)
    np.testing.assert_array_equal(
        classes, np.argmax(net._outputs(net._parameters(), rows), axis=1))


def threads_rows():
    """Columns per thread share of predict's forward pass."""
    from fastnet import threads
    return threads.ROWS_PER_THREAD
