"""The fast network: a drop-in for the seed's ``network.Network``.

Same constructor, attributes (``sizes``, ``num_layers``, ``weights``,
``biases``), methods, argument order, data format and random streams as
the seed (kept as ``fastnet.reference.Network``), so an existing script
changes one import.  Inside, a whole mini-batch is one matrix and the
loop over an epoch's mini-batches runs in compiled code
(``fastnet.kernels``).

It also has an array-first API for new code: ``fit(X, y)``,
``predict(X)`` and ``score(X, y)``, with samples as columns like
everything else in fastnet, an explicit seed, and float32 for speed.
"""

import time

import numpy as np

from . import kernels
from . import validation as check
from .shuffle import shuffle

#: Rough number of samples the kernels handle per call when no progress
#: is shown: big enough that call overhead vanishes, small enough that
#: Ctrl-C is honoured within a fraction of a second.
_SAMPLES_PER_CALL = 1 << 16
#: Progress-bar updates per epoch.
_PROGRESS_STEPS = 100


class Network:
    """A fully connected sigmoid network trained by mini-batch SGD on the
    quadratic cost, as in chapter 1 of Nielsen's book.

    ``Network(sizes)`` draws biases then weights from ``np.random.randn``
    in the seed's order, so after the same ``np.random.seed(s)`` it starts
    bit-identical to ``fastnet.reference.Network(sizes)``.  With
    ``seed=`` (an int or a ``numpy.random.Generator``) it draws from that
    generator instead and leaves the global state alone.

    Attributes, as in the seed: ``sizes`` (neurons per layer, input
    first), ``num_layers``, ``weights`` (list of ``(n_out, n_in)`` arrays)
    and ``biases`` (list of ``(n_out, 1)`` arrays).  They may be replaced
    or edited; every method checks them against ``sizes`` first.
    """

    #: The output-layer error the kernels use (see ``fastnet.kernels``).
    _cost_kernel = kernels.QUADRATIC

    def __init__(self, sizes, *, seed=None):
        self.sizes = check.check_sizes(sizes)
        self.num_layers = len(self.sizes)
        normal = _normal_sampler(seed)
        self.biases = [normal(y, 1) for y in self.sizes[1:]]
        self.weights = [normal(y, x)
                        for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    @classmethod
    def from_parameters(cls, weights, biases):
        """A network with the given ``weights`` (list of ``(n_out, n_in)``
        arrays) and ``biases`` (list of ``(n_out, 1)``), sizes read from
        their shapes and checked; draws no random numbers."""
        weights, biases = list(weights), list(biases)
        if not weights:
            raise ValueError("weights must hold at least one layer")
        network = cls.__new__(cls)
        network.sizes = check.check_sizes(
            [np.shape(weights[0])[-1]] + [np.shape(w)[0] for w in weights])
        network.num_layers = len(network.sizes)
        network.weights, network.biases = weights, biases
        network._parameters()
        return network

    def __repr__(self):
        return f"{type(self).__name__}({self.sizes!r})"

    # ----------------------------------------------------------------
    # The seed's API.

    def feedforward(self, a):
        """Return the output activations for the input ``a``: an
        ``(n_in, 1)`` column, or an ``(n_in, m)`` matrix of ``m`` samples as
        columns, giving ``(n_out, m)``."""
        sizes, params = self._parameters()
        a = check.sample_matrix("a", a, self.sizes[0])
        return np.ascontiguousarray(kernels.feedforward(
            params, sizes, check.input_rows(a, params.dtype)).T)

    def SGD(self, training_data, mini_batch_size, epochs, eta,
            test_data=None):
        """Train by mini-batch stochastic gradient descent, as the seed.

        ``training_data`` is a list (or zip) of ``(x, y)`` tuples, ``x`` an
        ``(n_in, 1)`` input, ``y`` the ``(n_out, 1)`` desired output.  Each
        epoch shuffles the samples with ``random.shuffle``, exactly as the
        seed shuffles its list, and takes one step of learning rate
        ``eta`` per consecutive mini-batch of ``mini_batch_size`` (the last
        one shorter when the sizes do not divide).  With ``test_data``, a
        list of ``(x, label)`` tuples, prints ``Epoch j : correct / total``
        after each epoch, else `` Epoch : j complete.``.

        As in the seed, a list passed as ``training_data`` is left in the
        shuffled order.  Everything is checked before training starts."""
        mini_batch_size = check.check_count("mini_batch_size",
                                            mini_batch_size, 1)
        epochs = check.check_count("epochs", epochs, 0)
        eta = check.check_rate("eta", eta)
        sizes, params = self._parameters()
        samples = check.pairs("training_data", training_data)
        X, Y = self._stack_examples("training_data", samples, params.dtype)
        test = None
        if test_data is not None and not isinstance(test_data, list):
            test_data = list(test_data)
        if test_data:  # as in the seed, an empty list means no testing
            test_data = check.pairs("test_data", test_data)
            test = self._stack_labelled("test_data", test_data)
        positions = np.arange(len(samples))
        for j in range(epochs):
            # random.shuffle draws the same numbers for any list of length
            # n, so shuffling positions follows the seed's stream exactly.
            shuffle(positions)
            _train_epoch(X, Y, positions, params, sizes, mini_batch_size,
                         eta, 1.0, self._cost_kernel)
            self._store(sizes, params)
            if test is not None:
                print(f"Epoch {j} : {_count_correct(params, sizes, *test)} "
                      f"/ {len(test_data)}")
            else:
                print(f" Epoch : {j} complete.")
        _leave_shuffled(training_data, samples, positions)

    def update_mini_batch(self, mini_batch, eta):
        """One gradient-descent step on a list of ``(x, y)`` tuples:
        ``w -> w - (eta / m) * sum of gradients``, likewise ``b``."""
        eta = check.check_rate("eta", eta)
        sizes, params = self._parameters()
        batch = check.pairs("mini_batch", mini_batch)
        X, Y = self._stack_examples("mini_batch", batch, params.dtype)
        m = len(batch)
        kernels.train_batches(X, Y, np.arange(m), params, sizes, m, eta, 1.0,
                              self._cost_kernel, 0, 1)
        self._store(sizes, params)

    def backprop(self, x, y):
        """Return ``(nabla_b, nabla_w)``, the gradient of the cost, layer by
        layer and shaped like ``biases`` and ``weights``.  ``x`` is an
        ``(n_in, 1)`` input and ``y`` its ``(n_out, 1)`` desired output, as
        in the seed; or ``(n_in, m)`` and ``(n_out, m)`` matrices of ``m``
        samples as columns, and the gradient is summed over them."""
        sizes, params = self._parameters()
        x = check.sample_matrix("x", x, self.sizes[0])
        y = check.sample_matrix("y", y, self.sizes[-1])
        if y.shape[1] != x.shape[1]:
            raise ValueError(f"x holds {x.shape[1]} samples (columns) but y "
                             f"holds {y.shape[1]}")
        grad = kernels.gradient(
            params, sizes,
            check.input_rows(x, params.dtype), check.as_rows(y, params.dtype),
            self._cost_kernel)
        return _unpack(sizes, grad)

    def evaluate(self, test_data):
        """Return how many ``(x, label)`` tuples of ``test_data`` the network
        classifies correctly (the most activated output neuron is its
        answer)."""
        sizes, params = self._parameters()
        test_data = check.pairs("test_data", test_data)
        return _count_correct(params, sizes,
                              *self._stack_labelled("test_data", test_data))

    def cost_derivative(self, output_activations, y):
        """Return dC_x/da = a - y for the quadratic cost."""
        a, y = np.asarray(output_activations), np.asarray(y)
        if a.shape != y.shape:
            raise ValueError(f"output_activations has shape {a.shape} but y "
                             f"has shape {y.shape}")
        return a - y

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
        sizes, params = self._parameters(dtype)
        X = check.sample_matrix("X", X, self.sizes[0])
        n = X.shape[1]
        Y = check.target_rows("y", y, n, self.sizes[-1], params.dtype)
        X = check.input_rows(X, params.dtype)
        validation = None
        if validation_data is not None:
            validation = self._labelled_arrays("validation_data",
                                               validation_data, params.dtype)
        rng = _generator(seed)
        self.history_ = []
        for epoch in range(epochs):
            started = time.perf_counter()
            bar = _progress_bar(progress, n, epoch, epochs)
            _train_epoch(X, Y, rng.permutation(n), params, sizes,
                         mini_batch_size, eta, 1 - eta * (lmbda / n),
                         self._cost_kernel, bar)
            seconds = time.perf_counter() - started
            if bar is not None:
                bar.close()
            self._store(sizes, params)
            record = {"epoch": epoch, "seconds": seconds}
            if validation is not None:
                record["correct"] = _count_correct(params, sizes, *validation)
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
        """Check ``weights`` and ``biases`` against ``sizes`` and pack a copy
        of them into one flat vector for the kernels.  Returns the sizes
        as an int64 array and the vector, in ``dtype`` or else the
        weights' own precision."""
        sizes = check.check_sizes(self.sizes)
        layers = len(sizes) - 1
        for name, arrays in (("weights", self.weights),
                             ("biases", self.biases)):
            if not isinstance(arrays, (list, tuple)) or len(arrays) != layers:
                raise ValueError(
                    f"{name} must be a list of {layers} arrays for sizes "
                    f"{sizes}, got {type(arrays).__name__} of length "
                    f"{len(arrays) if hasattr(arrays, '__len__') else '?'}")
        weights = [np.asarray(w) for w in self.weights]
        biases = [np.asarray(b) for b in self.biases]
        if dtype is None:
            dtype = np.result_type(*weights, *biases)
            dtype = dtype if dtype in check.FLOAT_DTYPES else np.float64
        dtype = check.check_dtype(dtype)
        sizes = np.asarray(sizes, np.int64)
        offsets = kernels.param_offsets(sizes)
        params = np.empty(offsets[-1], dtype)
        for l in range(layers):
            rows, cols = int(sizes[l + 1]), int(sizes[l])
            w, b = weights[l], biases[l]
            for name, array, shape in (("weights", w, (rows, cols)),
                                       ("biases", b, (rows, 1))):
                if array.shape != shape:
                    raise ValueError(
                        f"{name}[{l}] has shape {array.shape}, expected "
                        f"{shape} for sizes {self.sizes}")
                if array.dtype.kind not in "biuf":
                    raise TypeError(f"{name}[{l}] must hold real numbers, "
                                    f"got dtype {array.dtype}")
                if not np.isfinite(array).all():
                    raise ValueError(f"{name}[{l}] contains NaN or infinity")
            split = offsets[l] + rows * cols
            params[offsets[l]:split] = w.ravel()
            params[split:offsets[l + 1]] = b.ravel()
        return sizes, params

    def _predict(self, X):
        """``predict`` for an already checked ``X``."""
        sizes, params = self._parameters()
        outputs = kernels.feedforward(params, sizes,
                                      check.input_rows(X, params.dtype))
        return np.argmax(outputs, axis=1)

    def _store(self, sizes, params):
        """Replace ``weights`` and ``biases`` by new arrays holding
        ``params``, as the seed's updates make new arrays."""
        self.biases, self.weights = _unpack(sizes, params.copy())

    def _stack_examples(self, name, examples, dtype):
        """``(x, y)`` tuples -> inputs ``(n, n_in)`` and desired outputs
        ``(n, n_out)``, one sample per row."""
        xs, ys = check.unzip_pairs(name, examples)
        X = check.stacked_columns(name + "[{}][0]", xs, self.sizes[0])
        Y = check.stacked_columns(name + "[{}][1]", ys, self.sizes[-1])
        return (X.astype(check.storage_dtype(X.dtype, dtype), copy=False),
                Y.astype(dtype, copy=False))

    def _stack_labelled(self, name, examples):
        """``(x, label)`` tuples -> inputs ``(n, n_in)`` and labels ``(n,)``."""
        xs, ys = check.unzip_pairs(name, examples)
        X = check.stacked_columns(name + "[{}][0]", xs, self.sizes[0])
        labels = check.labels_from_pairs(name + "[{}][1]", ys, self.sizes[-1])
        if X.dtype not in check.FLOAT_DTYPES:
            X = X.astype(np.float64)
        return X, labels

    def _labelled_arrays(self, name, data, dtype):
        """An ``(X, y)`` pair of arrays -> rows and integer labels."""
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(f"{name} must be an (X, y) pair of arrays")
        X = check.sample_matrix(name + "[0]", data[0], self.sizes[0])
        labels = check.class_labels(name + "[1]", data[1], X.shape[1],
                                    self.sizes[-1])
        return check.input_rows(X, dtype), labels


def _unpack(sizes, flat):
    """Flat parameter (or gradient) vector -> ``(biases, weights)`` lists of
    views into it, shaped ``(n_out, 1)`` and ``(n_out, n_in)``."""
    offsets = kernels.param_offsets(sizes)
    biases, weights = [], []
    for l in range(len(sizes) - 1):
        rows, cols = int(sizes[l + 1]), int(sizes[l])
        split = offsets[l] + rows * cols
        weights.append(flat[offsets[l]:split].reshape(rows, cols))
        biases.append(flat[split:offsets[l + 1]].reshape(rows, 1))
    return biases, weights


def _leave_shuffled(training_data, samples, positions):
    """Put a caller's list in the order the epochs' shuffles left it, as
    the seed's in-place ``random.shuffle`` does; ``samples[i]`` is the
    original i-th item.  Other iterables were copied, as Python 3 forces."""
    if isinstance(training_data, list):
        training_data[:] = [samples[i] for i in positions.tolist()]


def _train_epoch(X, Y, order, params, sizes, batch_size, eta, decay, cost,
                 bar=None):
    """Run one epoch's mini-batches through the compiled trainer, in a few
    large calls (many small ones when a progress bar is shown)."""
    n = order.shape[0]
    batches = -(-n // batch_size)
    if bar is None:
        per_call = max(1, _SAMPLES_PER_CALL // batch_size)
    else:
        per_call = max(1, -(-batches // _PROGRESS_STEPS))
    for first in range(0, batches, per_call):
        stop = min(batches, first + per_call)
        kernels.train_batches(X, Y, order, params, sizes, batch_size, eta,
                              decay, cost, first, stop)
        if bar is not None:
            bar.update(min(n, stop * batch_size) - first * batch_size)


def _count_correct(params, sizes, X, labels):
    """How many rows of ``X`` the network assigns their label."""
    outputs = kernels.feedforward(params, sizes, X)
    return int(np.count_nonzero(np.argmax(outputs, axis=1) == labels))


def _generator(seed):
    """``numpy.random.default_rng(seed)``, with a clear error."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as error:
        raise TypeError(f"seed must be None, an int or a "
                        f"numpy.random.Generator, got {seed!r}") from error


def _normal_sampler(seed):
    """``normal(*shape)``: standard normal draws from the global NumPy
    state as the seed does (``seed=None``), or from a generator."""
    if seed is None:
        return np.random.randn
    rng = _generator(seed)
    return lambda *shape: rng.standard_normal(shape)


def _progress_bar(progress, total, epoch, epochs):
    """A tqdm bar over one epoch's samples, or None."""
    if not progress:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}",
                unit="sample", unit_scale=True, leave=False)
