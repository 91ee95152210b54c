"""The engine under both faces, ``fastnet.Network`` and ``network2.Network``.

The faces keep the book's APIs (argument orders, printed lines, random
streams); everything they share lives here:

- ``Parameters``: weights and biases packed into the one flat vector the
  kernels take, with ``weights`` and ``biases`` as views into it;
  ``compute_dtype`` is the one place the arithmetic's precision is
  decided;
- ``run_epoch`` and ``count_correct``, between a face and the kernels;
- ``ListTraining``: the book's ``SGD`` over Nielsen-format lists (checks,
  stacking, ``random.shuffle``'s stream, leaving the list shuffled);
- ``ArrayNetwork``, the base of both faces: the array API (``fit``,
  ``predict``, ``score``, ``feedforward`` and ``backprop`` on matrices,
  ``from_parameters``, ``history_``) and the parameter cache.

Samples are columns in the public API and rows inside (see
``fastnet.kernels``).
"""

import time

import numpy as np

from . import kernels
from . import validation as check
from .shuffle import shuffle

#: Rough number of samples the kernels handle per call when no progress
#: is shown: big enough that call overhead vanishes, small enough that
#: Ctrl-C is honoured within a fraction of a second.
SAMPLES_PER_CALL = 1 << 16
#: Progress-bar updates per epoch.
PROGRESS_STEPS = 100


def compute_dtype(weights, biases, requested=None):
    """The dtype training and inference run in: ``requested`` (float32 or
    float64) if given, else the weights' own precision when that is one
    of the two, else float64."""
    if requested is not None:
        return check.check_dtype(requested)
    dtype = np.result_type(*weights, *biases)
    return dtype if dtype in check.FLOAT_DTYPES else np.dtype(np.float64)


def weight_decay(eta, lmbda, n):
    """The factor L2 regularisation multiplies the weights by at each
    step, ``1 - eta * lmbda / n`` (exactly 1.0 when ``lmbda`` is 0)."""
    return 1 - eta * (lmbda / n)


class Parameters:
    """A network's weights and biases packed into one flat vector.

    ``net`` is the kernels' record (``params``, ``sizes``, ``offsets``);
    ``weights`` (``(n_out, n_in)``) and ``biases`` (``(n_out, 1)``) are
    lists of views into ``net.params``, so that the kernels' updates and
    a user's in-place edits are one and the same memory."""

    def __init__(self, sizes, params):
        self.sizes = list(sizes)
        self.net = kernels.make_net(params, self.sizes)
        self.biases, self.weights = unpack(self.net, params)
        self._views = tuple(self.weights + self.biases)
        self._shapes = tuple(view.shape for view in self._views)

    @classmethod
    def pack(cls, sizes, weights, biases, dtype=None):
        """Check ``weights`` and ``biases`` against ``sizes`` and copy them
        into a new vector of ``dtype`` (by default ``compute_dtype``'s)."""
        weights, biases = check.layer_arrays(sizes, weights, biases)
        dtype = compute_dtype(weights, biases, dtype)
        offsets = kernels.param_offsets(np.asarray(sizes, np.int64))
        params = np.empty(offsets[-1], dtype)
        for l, (w, b) in enumerate(zip(weights, biases)):
            split = offsets[l] + w.size
            params[offsets[l]:split] = w.ravel()
            params[split:offsets[l + 1]] = b.ravel()
        return cls(sizes, params)

    @property
    def dtype(self):
        return self.net.params.dtype

    def copy(self, dtype=None):
        """New ``Parameters`` holding a copy, in ``dtype`` if given."""
        return Parameters(self.sizes, self.net.params.astype(
            dtype or self.dtype, copy=True))

    def owned_by(self, network):
        """Whether ``network``'s ``sizes``, ``weights`` and ``biases`` are
        still these views, unreplaced and unreshaped, so that the vector
        is up to date (in-place edits included).  Costs a microsecond:
        identity and shape checks only."""
        weights, biases = network.weights, network.biases
        if type(weights) is not list or type(biases) is not list or \
                len(weights) + len(biases) != len(self._views) or \
                network.sizes != self.sizes:
            return False
        for mine, theirs, shape in zip(self._views, weights + biases,
                                       self._shapes):
            if mine is not theirs or theirs.shape != shape:
                return False
        return True


def unpack(net, flat):
    """A flat vector laid out like ``net.params`` (the parameters or a
    gradient) -> ``(biases, weights)``, lists of views shaped
    ``(n_out, 1)`` and ``(n_out, n_in)``."""
    biases, weights = [], []
    for l in range(len(net.sizes) - 1):
        rows, cols = int(net.sizes[l + 1]), int(net.sizes[l])
        start, split = int(net.offsets[l]), int(net.offsets[l]) + rows * cols
        weights.append(flat[start:split].reshape(rows, cols))
        biases.append(flat[split:int(net.offsets[l + 1])].reshape(rows, 1))
    return biases, weights


def run_epoch(net, X, Y, order, batch_size, step, bar=None):
    """One epoch's mini-batches through the compiled trainer, in a few
    large calls (many small ones when a progress bar is shown).

    ``X`` (n, n_in) and ``Y`` (n, n_out) rows, ``order`` (n,) the epoch's
    sample order, ``step`` a ``kernels.Step``; ``net.params`` is updated
    in place."""
    n = order.shape[0]
    batches = -(-n // batch_size)
    if bar is None:
        per_call = max(1, SAMPLES_PER_CALL // batch_size)
    else:
        per_call = max(1, -(-batches // PROGRESS_STEPS))
    for first in range(0, batches, per_call):
        stop = min(batches, first + per_call)
        kernels.train_batches(net, X, Y, order, batch_size, first, stop,
                              step)
        if bar is not None:
            bar.update(min(n, stop * batch_size) - first * batch_size)


def count_correct(net, X, labels):
    """How many rows of ``X`` (m, n_in) the network assigns their label
    (the most activated output neuron is its answer)."""
    outputs = kernels.feedforward(net, X)
    return int(np.count_nonzero(np.argmax(outputs, axis=1) == labels))


def stack_examples(name, examples, sizes, dtype):
    """``(x, y)`` tuples -> inputs ``(n, n_in)`` and desired outputs
    ``(n, n_out)``, one sample per row; float32 inputs stay float32."""
    xs, ys = check.unzip_pairs(name, examples)
    X = check.stacked_columns(name + "[{}][0]", xs, sizes[0])
    Y = check.stacked_columns(name + "[{}][1]", ys, sizes[-1])
    return (X.astype(check.storage_dtype(X.dtype, dtype), copy=False),
            Y.astype(dtype, copy=False))


def stack_labelled(name, examples, sizes):
    """``(x, label)`` tuples -> inputs ``(n, n_in)`` and labels ``(n,)``."""
    xs, ys = check.unzip_pairs(name, examples)
    X = check.stacked_columns(name + "[{}][0]", xs, sizes[0])
    labels = check.labels_from_pairs(name + "[{}][1]", ys, sizes[-1])
    if X.dtype not in check.FLOAT_DTYPES:
        X = X.astype(np.float64)
    return X, labels


def generator(seed):
    """``numpy.random.default_rng(seed)``, with a clear error."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as error:
        raise TypeError(f"seed must be None, an int or a "
                        f"numpy.random.Generator, got {seed!r}") from error


def normal_sampler(seed):
    """``normal(*shape)``: standard normal draws from the global NumPy
    state as the book does (``seed=None``), or from a generator."""
    if seed is None:
        return np.random.randn
    rng = generator(seed)
    return lambda *shape: rng.standard_normal(shape)


def progress_bar(progress, total, epoch, epochs):
    """A tqdm bar over one epoch's samples, or None."""
    if not progress:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}",
                unit="sample", unit_scale=True, leave=False)


class ListTraining:
    """The book's ``SGD`` over Nielsen-format lists, for both faces.

    Built from the checked arguments (everything is checked and stacked
    before any training); then each ``epoch()`` shuffles the positions
    with ``random.shuffle``'s stream, exactly as the book shuffles its
    list, trains, and gives the network new weight arrays.  ``finish()``
    leaves a caller's list in its shuffled order, as the book's in-place
    shuffle does (also after an interruption)."""

    def __init__(self, network, training_data, mini_batch_size, eta,
                 lmbda, evaluation_data, evaluation_name):
        self.network = network
        self.mini_batch_size, self.eta, self.lmbda = \
            mini_batch_size, eta, lmbda
        self.parameters = network._parameters().copy()
        check.finite_parameters(self.parameters.net.params)
        self.training_data = training_data
        self.samples = check.pairs("training_data", training_data)
        self.X, self.Y = stack_examples("training_data", self.samples,
                                        network.sizes, self.parameters.dtype)
        self.evaluation = None
        if evaluation_data is not None and \
                not isinstance(evaluation_data, list):
            evaluation_data = list(evaluation_data)
        if evaluation_data:  # as in the book, an empty list means none
            evaluation_data = check.pairs(evaluation_name, evaluation_data)
            self.evaluation = stack_labelled(evaluation_name,
                                             evaluation_data, network.sizes)
        self.positions = np.arange(len(self.samples))

    @property
    def n(self):
        return len(self.samples)

    def epoch(self):
        """Shuffle, train one epoch, give the network the new weights."""
        shuffle(self.positions)
        run_epoch(self.parameters.net, self.X, self.Y, self.positions,
                  self.mini_batch_size, kernels.Step(
                      self.eta, weight_decay(self.eta, self.lmbda, self.n),
                      self.network._cost_info.kernel))
        self.network._adopt(self.parameters.copy())

    def evaluation_correct(self):
        """How many evaluation samples the network now classifies
        correctly."""
        return count_correct(self.parameters.net, *self.evaluation)

    def finish(self):
        """Leave a caller's list in the epochs' shuffled order (other
        iterables were copied, as Python 3 forces)."""
        if isinstance(self.training_data, list):
            self.training_data[:] = [self.samples[i]
                                     for i in self.positions.tolist()]


class ArrayNetwork:
    """What both faces share: the parameter cache, the array API and the
    book's ``feedforward``, ``backprop`` and ``update_mini_batch`` steps
    on matrices.  A face sets ``sizes``, ``num_layers``, ``weights`` and
    ``biases`` in ``_set_up`` and names its cost in ``_cost_info`` (a
    ``fastnet.costs.CostInfo``)."""

    _cache = None

    @classmethod
    def from_parameters(cls, weights, biases, **options):
        """A network holding copies of ``weights`` (list of ``(n_out,
        n_in)`` arrays) and ``biases`` (list of ``(n_out, 1)``), its sizes
        read from their shapes and checked; draws no random numbers.
        ``options`` are the face's own (such as network2's ``cost``)."""
        sizes = check.sizes_of_layers(weights)
        network = cls.__new__(cls)
        network._set_up(sizes, **options)
        network._adopt(Parameters.pack(sizes, list(weights), list(biases)))
        return network

    def _set_up(self, sizes):
        """Set ``sizes`` and ``num_layers``; a face adds its own state."""
        self.sizes = check.check_sizes(sizes)
        self.num_layers = len(self.sizes)

    def __repr__(self):
        return f"{type(self).__name__}({self.sizes!r})"

    # ----------------------------------------------------------------
    # The book's steps, on one column or on matrices.

    def feedforward(self, a):
        """Return the output activations for the input ``a``: an
        ``(n_in, 1)`` column, or an ``(n_in, m)`` matrix of ``m`` samples as
        columns, giving ``(n_out, m)``."""
        parameters = self._parameters()
        a = check.sample_matrix("a", a, self.sizes[0])
        return np.ascontiguousarray(kernels.feedforward(
            parameters.net, check.input_rows(a, parameters.dtype)).T)

    def backprop(self, x, y):
        """Return ``(nabla_b, nabla_w)``, the gradient of the cost, layer by
        layer and shaped like ``biases`` and ``weights``.  ``x`` is an
        ``(n_in, 1)`` input and ``y`` its ``(n_out, 1)`` desired output, as
        in the book; or ``(n_in, m)`` and ``(n_out, m)`` matrices of ``m``
        samples as columns, and the gradient is summed over them."""
        parameters = self._parameters()
        x = check.sample_matrix("x", x, self.sizes[0])
        y = check.sample_matrix("y", y, self.sizes[-1])
        if y.shape[1] != x.shape[1]:
            raise ValueError(f"x holds {x.shape[1]} samples (columns) but y "
                             f"holds {y.shape[1]}")
        grad = kernels.gradient(
            parameters.net, check.input_rows(x, parameters.dtype),
            check.as_rows(y, parameters.dtype), self._cost_info.kernel)
        return unpack(parameters.net, grad)

    def _step_on_list(self, mini_batch, eta, decay):
        """One gradient step on a list of ``(x, y)`` tuples with weight
        ``decay``; everything already checked but the list."""
        parameters = self._parameters().copy()
        check.finite_parameters(parameters.net.params)
        batch = check.pairs("mini_batch", mini_batch)
        X, Y = stack_examples("mini_batch", batch, self.sizes,
                              parameters.dtype)
        m = len(batch)
        kernels.train_batches(parameters.net, X, Y, np.arange(m), m, 0, 1,
                              kernels.Step(eta, decay, self._cost_info.kernel))
        self._adopt(parameters)

    # ----------------------------------------------------------------
    # Array API for new code: samples are columns, as everywhere here.

    def fit(self, X, y, *, epochs=30, mini_batch_size=10, eta=3.0,
            lmbda=0.0, seed=None, dtype=None, validation_data=None,
            callback=None, progress=False):
        """Train on arrays and return ``self``.

        ``X`` is ``(n_in, n)``, one sample per column (``images.T`` for
        an ``(n, n_in)`` array of flattened images).  ``y`` holds the
        integer labels ``(n,)``, made one-hot, or an ``(n_out, n)`` matrix
        of desired outputs.  Each epoch visits the samples in an order
        drawn from ``numpy.random.default_rng(seed)`` (``seed`` may also be
        a Generator), in mini-batches of ``mini_batch_size``.  ``lmbda`` is
        the L2 regularisation parameter: each step multiplies the weights
        by ``1 - eta * lmbda / n`` (network2's weight decay).

        ``dtype`` (float64 or float32) is the arithmetic's precision; by
        default that of the current weights, float64 for a new network.
        The weights keep it after training.  ``validation_data``, an
        ``(X_val, y_val)`` pair, is scored after each epoch.  After each
        epoch ``callback(record)`` is called, if given, with the dict that
        is also appended to ``self.history_``: ``epoch``, ``seconds`` and,
        with validation data, ``correct`` and ``total``.  ``progress=True``
        shows a progress bar over each epoch."""
        epochs = check.check_count("epochs", epochs, 0)
        mini_batch_size = check.check_count("mini_batch_size",
                                            mini_batch_size, 1)
        eta = check.check_rate("eta", eta)
        lmbda = check.check_rate("lmbda", lmbda, allow_zero=True)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        parameters = self._parameters(dtype).copy()
        check.finite_parameters(parameters.net.params)
        X = check.sample_matrix("X", X, self.sizes[0])
        n = X.shape[1]
        Y = check.target_rows("y", y, n, self.sizes[-1], parameters.dtype)
        X = check.input_rows(X, parameters.dtype)
        validation = None
        if validation_data is not None:
            validation = self._labelled_arrays(
                "validation_data", validation_data, parameters.dtype)
        rng = generator(seed)
        step = kernels.Step(eta, weight_decay(eta, lmbda, n),
                            self._cost_info.kernel)
        self.history_ = []
        for epoch in range(epochs):
            started = time.perf_counter()
            bar = progress_bar(progress, n, epoch, epochs)
            run_epoch(parameters.net, X, Y, rng.permutation(n),
                      mini_batch_size, step, bar)
            seconds = time.perf_counter() - started
            if bar is not None:
                bar.close()
            self._adopt(parameters.copy())
            record = {"epoch": epoch, "seconds": seconds}
            if validation is not None:
                record["correct"] = count_correct(parameters.net,
                                                  *validation)
                record["total"] = int(validation[1].shape[0])
            self.history_.append(record)
            if callback is not None:
                callback(record)
        return self

    def predict(self, X):
        """Most likely class of each column of ``X`` (n_in, m): an ``(m,)``
        integer array."""
        return self._predict(check.sample_matrix("X", X, self.sizes[0]))

    def score(self, X, y):
        """Fraction of the columns of ``X`` classified as ``y`` says
        (integer labels, or one-hot columns)."""
        X = check.sample_matrix("X", X, self.sizes[0])
        labels = check.class_labels("y", y, X.shape[1], self.sizes[-1])
        return float(np.mean(self._predict(X) == labels))

    # ----------------------------------------------------------------
    # Between the public API and the kernels.

    def _parameters(self, dtype=None):
        """The packed ``Parameters`` of ``weights`` and ``biases``, in
        ``dtype`` if given.  The cached ones while the network still holds
        their views (the usual case: a few microseconds); else checked
        against ``sizes`` and packed afresh (after the user replaced
        arrays).  Read-only: training works on a copy."""
        cache = self._cache
        if cache is None or not cache.owned_by(self):
            return Parameters.pack(check.check_sizes(self.sizes),
                                   self.weights, self.biases, dtype)
        if dtype is None or check.check_dtype(dtype) == cache.dtype:
            return cache
        return cache.copy(check.check_dtype(dtype))

    def _adopt(self, parameters):
        """Make ``parameters`` the network's: ``weights`` and ``biases``
        become new lists of views into them, as the book's updates make
        new arrays."""
        self._cache = parameters
        self.weights = list(parameters.weights)
        self.biases = list(parameters.biases)

    def _predict(self, X):
        """``predict`` for an already checked ``X``."""
        parameters = self._parameters()
        outputs = kernels.feedforward(parameters.net,
                                      check.input_rows(X, parameters.dtype))
        return np.argmax(outputs, axis=1)

    def _labelled_arrays(self, name, data, dtype):
        """An ``(X, y)`` pair of arrays -> rows and integer labels."""
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(f"{name} must be an (X, y) pair of arrays")
        X = check.sample_matrix(name + "[0]", data[0], self.sizes[0])
        labels = check.class_labels(name + "[1]", data[1], X.shape[1],
                                    self.sizes[-1])
        return check.input_rows(X, dtype), labels
