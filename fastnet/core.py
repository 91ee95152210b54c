"""The engine under both faces, ``fastnet.Network`` and ``network2.Network``.

The faces keep the book's APIs (argument orders, printed lines, random
streams); everything they share lives here:

- ``Parameters``: weights and biases packed into the one flat vector the
  kernels take, with ``weights`` and ``biases`` as views into it;
  ``compute_dtype`` is the one place the arithmetic's precision is
  decided;
- ``run_epoch`` and ``train_epoch``, between a face and the kernels;
- ``ListTraining``: the book's ``SGD`` over Nielsen-format lists (checks,
  stacking, ``random.shuffle``'s stream, leaving the list shuffled);
- ``ArrayNetwork``, the base of both faces: the array API (``fit``,
  ``predict``, ``score``, ``feedforward`` and ``backprop`` on matrices,
  ``from_parameters``, ``history_``) and the parameter cache.

Samples are columns in the public API and rows inside (see
``fastnet.kernels``).
"""

import concurrent.futures
import dataclasses
import time
import warnings

import numpy as np

from . import kernels
from . import validation as check
from . import threads
from .blas import single_threaded
from .kernels import sigmoid, sigmoid_prime
from .shuffle import shuffle

#: Rough number of samples the kernels handle per call when no progress
#: is shown: big enough that call overhead vanishes, small enough that
#: Ctrl-C is honoured within a fraction of a second.
SAMPLES_PER_CALL = 1 << 16
#: Progress-bar updates per epoch.
PROGRESS_STEPS = 100
#: Training data of at least this many bytes is gathered a chunk ahead
#: on a second core (``run_epoch``); smaller data stays in the caches.
STAGE_FROM_BYTES = 8 << 20
#: Samples per chunk gathered ahead: the chunk stays in the shared L3
#: cache (500 measured faster than 1,000 or 2,000, alike to 250).
STAGE_SAMPLES = 500
#: Chunks asked for ahead of the one being trained.
STAGE_AHEAD = 2
#: Whether training waits for a chunk being gathered ahead (tests only:
#: see ``_staged_calls``).
STAGE_WAITS = False
#: Chunks trained before ``_staged_calls`` asks whether the training
#: thread has had a core to itself, and the least share of the wall time
#: it must have run for: with every core busy with other work, the
#: gathering thread only takes time slices from the training one (whole
#: epochs beside a spinning process per core took 0.25 s staged against
#: 0.20 s without, medians of 5).
STAGE_PROBE_CHUNKS = 8
STAGE_BUSY_SHARE = 0.85


class SlowPathWarning(UserWarning):
    """A network runs a user's own code (a custom cost, an overridden
    method) instead of fastnet's compiled kernels."""


_warned = set()


def warn_slow_path(cls, reason):
    """Say once per class and reason why the compiled path is not used."""
    if (cls, reason) not in _warned:
        _warned.add((cls, reason))
        warnings.warn(f"{cls.__qualname__}: {reason}, so fastnet runs it "
                      f"instead of its compiled kernels (slower, same "
                      f"results)", SlowPathWarning, stacklevel=4)


class TrainingDiverged(ArithmeticError):
    """Training made the weights NaN or infinite.  The network keeps its
    weights from before the epoch that diverged (``epoch``, counted from
    0)."""

    def __init__(self, epoch, eta, lmbda):
        hint = "a smaller eta" + (" or lmbda" if lmbda else "")
        super().__init__(
            f"training diverged in epoch {epoch}: the weights became NaN or "
            f"infinite (eta {eta:g}{f', lmbda {lmbda:g}' if lmbda else ''}"
            f"); the network keeps its weights from before that epoch; "
            f"try {hint}")
        self.epoch, self.eta, self.lmbda = epoch, eta, lmbda


def check_diverged(parameters, epoch, eta, lmbda):
    """Raise ``TrainingDiverged`` if training left non-finite weights."""
    with np.errstate(all="ignore"):  # summing infinities is the point
        total = parameters.net.params.sum()
    if not np.isfinite(total) and \
            not np.isfinite(parameters.net.params).all():
        raise TrainingDiverged(epoch, eta, lmbda)


@dataclasses.dataclass(frozen=True)
class TrainingPath:
    """How a network trains.  ``"compiled"``: fastnet's kernels.
    ``"batched"``: whole mini-batches in NumPy, calling ``delta(z, a, y)``
    (the user's output error) on ``(n_out, m)`` matrices.
    ``"per-sample"``: the book's loop over the user's own
    ``update_mini_batch``.  ``reason`` says why it is not compiled."""
    kind: str = "compiled"
    reason: str = ""
    delta: object = None


COMPILED = TrainingPath()


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
    in place.  BLAS runs on one thread meanwhile: a mini-batch's products
    are too small for a second one to pay, and on a busy machine its
    threads wait for cores (``blas.single_threaded``).  Rows lying in
    memory too large for the caches are gathered a chunk ahead on a
    second core (``_staged_calls``), which hands over whole chunks of
    about a millisecond and a half of training: no lock-step, so a busy
    core delays only its own work."""
    n = order.shape[0]
    batches = -(-n // batch_size)
    if bar is None:
        per_call = max(1, SAMPLES_PER_CALL // batch_size)
    else:
        per_call = max(1, -(-batches // PROGRESS_STEPS))
    calls = ((X, Y, order, first, min(batches, first + per_call))
             for first in range(0, batches, per_call))
    if _stages(X, n, batch_size):
        per_call = min(per_call, max(1, STAGE_SAMPLES // batch_size))
        calls = _staged_calls(X, Y, order, batch_size, per_call,
                              STAGE_WAITS)
    with single_threaded():
        try:
            for X_part, Y_part, order_part, first, stop in calls:
                kernels.train_batches(net, X_part, Y_part, order_part,
                                      batch_size, first, stop, step)
                if bar is not None:
                    seen = min(order_part.shape[0], stop * batch_size)
                    bar.update(seen - first * batch_size)
        finally:
            calls.close()   # now, not when a traceback lets go of it


def _stages(X, n, batch_size):
    """Whether ``run_epoch`` gathers the shuffled rows a chunk ahead on a
    second core: where there is one, the rows lie in memory too large
    for the caches, and there are two chunks or more.  Gathered on the
    training thread, 10 shuffled rows of 784 wait on memory for 3 to 5
    us a mini-batch even when prefetched one mini-batch ahead: a fifth of
    a float32 epoch of [784, 30, 10] and a tenth of a float64 one."""
    rows, width, dtype = _rows_layout(X)
    return (rows * width * dtype.itemsize >= STAGE_FROM_BYTES and n >= 2 * STAGE_SAMPLES
            and batch_size <= STAGE_SAMPLES and threads.cores() >= 2)


def _staged_calls(X, Y, order, batch_size, per_call, wait=False):
    """``run_epoch``'s calls, each on a chunk of ``per_call`` mini-batches
    whose rows another thread gathered in order into a buffer of their
    own (in the rows' own dtype) while the chunk before was trained:
    ``(X_chunk, Y_chunk, positions, 0, batches)``.  The kernels then read
    the rows one after another: the same numbers in the same order, so
    the weights come out bit for bit as without staging.

    The training thread never waits for the other (unless ``wait``, for
    tests): a chunk not gathered in time, as on a busy machine where the
    other thread waits for a core, is trained from the rows where they
    lie, ``(X, Y, order, first, stop)`` in the epoch's mini-batches, and
    the next chunk is asked for once the other thread is free.  Waiting
    instead would tie the two threads in lock-step, and on a busy machine
    each hand-over could cost a whole time slice.  After
    ``STAGE_PROBE_CHUNKS`` chunks it asks for no more for the rest of the
    epoch if the training thread has not had a core to itself
    (``_had_a_core``): every core is then busy with other work."""
    n = order.shape[0]
    rows = per_call * batch_size
    layouts = [_rows_layout(source) for source in (X, Y)]
    buffers = [tuple(np.empty((rows, width), dtype)
                     for _, width, dtype in layouts)
               for _ in range(STAGE_AHEAD + 1)]
    positions = np.arange(rows, dtype=order.dtype)
    starts = range(0, n, rows)

    owners = [None] * len(buffers)   # the gather last asked to fill each

    def ask(chunk):
        """The gather of ``chunk`` into its buffer, or None while an
        earlier gather may still write there (or the pool is gone): that
        chunk then trains from the rows in place."""
        buffer = chunk % len(buffers)
        if owners[buffer] is not None and not owners[buffer].done():
            return None
        try:
            job = _gatherer().submit(gather, starts[chunk], buffers[buffer])
        except RuntimeError:   # "cannot schedule new futures after shutdown"
            return None
        owners[buffer] = job
        return job

    def gather(start, into):
        count = min(rows, n - start)
        parts = tuple(buffer[:count] for buffer in into)
        for source, part in zip((X, Y), parts):
            kernels.gather_rows(source, order, start, part)
        return parts

    # Chunk j is gathered into buffer j % (STAGE_AHEAD + 1), asked for up
    # to STAGE_AHEAD chunks ahead (the other thread may take a while to
    # wake), and only once no gather still writes there (``owners``); a
    # staged buffer is read only while its chunk trains, before the
    # generator resumes and may hand it to another gather.
    jobs = {}   # chunk -> its gather, asked for and not yet trained
    began, asking = _thread_clocks(), True
    try:
        for i, start in enumerate(starts):
            if i == STAGE_PROBE_CHUNKS and not wait:
                asking = _had_a_core(began)
            job = jobs.pop(i, None)
            staged = job is not None and (wait or job.done())
            if job is not None and not staged:
                job.cancel()   # if running, its owner entry keeps it
            for ahead in range(i + 1, min(i + 1 + STAGE_AHEAD, len(starts))):
                if asking and ahead not in jobs:
                    job_ahead = ask(ahead)
                    if job_ahead is not None:
                        jobs[ahead] = job_ahead
            if staged:
                X_chunk, Y_chunk = job.result()
                count = X_chunk.shape[0]
                yield (X_chunk, Y_chunk, positions[:count], 0,
                       -(-count // batch_size))
            else:
                first = start // batch_size
                yield (X, Y, order, first,
                       min(-(-n // batch_size), first + per_call))
    finally:
        # A gather still running reads the caller's arrays (the drop-in's
        # rows in place): it must end before they may be let go.
        running = [job for job in owners if job is not None
                   and not job.cancel()]
        concurrent.futures.wait(running)


def _thread_clocks():
    """``(this thread's CPU time, wall time)`` now, in seconds."""
    return time.thread_time(), time.perf_counter()


#: Whether this thread's CPU clock is POSIX's own (elsewhere it may count
#: in coarse ticks: see ``_had_a_core``).
_PRECISE_THREAD_CLOCK = time.get_clock_info(
    "thread_time").implementation.startswith("clock_gettime")


def _had_a_core(since):
    """Whether this thread ran for at least ``STAGE_BUSY_SHARE`` of the
    wall time since ``since`` (from ``_thread_clocks``).  True where its
    CPU time may be measured too coarsely to tell: elsewhere than with
    POSIX's per-thread clock (Windows' counts in 15.6 ms ticks whatever
    resolution it states)."""
    if not _PRECISE_THREAD_CLOCK:
        return True
    cpu, wall = (now - then for now, then in zip(_thread_clocks(), since))
    return cpu >= STAGE_BUSY_SHARE * wall


def _gatherer():
    """The one thread that gathers rows ahead (``_staged_calls``): a pool
    of its own, so that its gathers run one at a time in the order
    asked."""
    return threads._executor(1, "gather")


def _rows_layout(source):
    """``(rows, width, dtype)`` of ``source``: a 2-D array of rows, or a
    ``kernels.RowsAt`` reading them where they lie."""
    if isinstance(source, kernels.RowsAt):
        return len(source.addresses), source.width, source.like.dtype
    return source.shape[0], source.shape[1], source.dtype


def python_epoch(weights, biases, X, Y, order, batch_size, eta, decay,
                 delta):
    """One epoch of mini-batch SGD in NumPy, for a user's own output error
    ``delta(z, a, y)``.  ``X`` (n, n_in) and ``Y`` (n, n_out) rows, taken
    in ``order``; returns the new ``(weights, biases)`` lists.

    ``delta`` is called on whole ``(n_out, m)`` mini-batch matrices when
    that gives what calling it column by column gives (Nielsen's costs
    are elementwise NumPy expressions), checked on each epoch's first
    mini-batch; else once per sample, as the book does."""
    batched = None
    for start in range(0, order.shape[0], batch_size):
        rows = order[start:start + batch_size]
        x, y = X[rows].T.astype(weights[0].dtype), Y[rows].T
        if batched is None:
            batched = columnwise(delta, weights, biases, x, y)
        nabla_b, nabla_w = python_gradient(weights, biases, x, y, delta,
                                           batched)
        step = eta / len(rows)
        weights = [decay * w - step * nw for w, nw in zip(weights, nabla_w)]
        biases = [b - step * nb for b, nb in zip(biases, nabla_b)]
    return weights, biases


def python_gradient(weights, biases, x, y, delta, batched=True):
    """Nielsen's backprop on matrices: the cost gradient summed over the
    columns of ``x`` (n_in, m) with desired outputs ``y`` (n_out, m), the
    output error given by ``delta(z, a, y)`` on the whole matrices
    (``batched``) or column by column.  Returns ``(nabla_b, nabla_w)``."""
    activations, zs = [x], []
    for w, b in zip(weights, biases):
        zs.append(w @ activations[-1] + b)
        activations.append(sigmoid(zs[-1]))
    error = output_error(delta, zs[-1], activations[-1], y, batched)
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        nabla_b[l] = error.sum(axis=1, keepdims=True)
        nabla_w[l] = error @ activations[l].T
        if l > 0:
            error = (weights[l].T @ error) * sigmoid_prime(zs[l - 1])
    return nabla_b, nabla_w


def output_error(delta, z, a, y, batched=True):
    """``delta(z, a, y)`` for ``(n_out, m)`` matrices, called once on them
    (``batched``) or once per column; checked to have their shape."""
    if batched:
        error = np.asarray(delta(z, a, y), dtype=z.dtype)
    else:
        error = np.hstack([np.asarray(delta(z[:, [j]], a[:, [j]], y[:, [j]]),
                                      dtype=z.dtype)
                           for j in range(z.shape[1])])
    if error.shape != z.shape:
        raise ValueError(f"the output error delta(z, a, y) has shape "
                         f"{error.shape} for outputs of shape {z.shape}")
    return error


def columnwise(delta, weights, biases, x, y):
    """Whether ``delta`` on whole matrices equals ``delta`` column by
    column on this mini-batch's outputs, to rounding (NumPy may take
    another SIMD path for a lone column; a cost that mixes samples is off
    by far more)."""
    a = x
    for w, b in zip(weights, biases):
        z = w @ a + b
        a = sigmoid(z)
    together = output_error(delta, z, a, y, batched=True)
    separate = output_error(delta, z, a, y, batched=False)
    scale = max(float(np.max(np.abs(separate), initial=0.0)), 1e-300)
    return bool(np.allclose(together, separate, rtol=1e-12,
                            atol=1e-12 * scale, equal_nan=True))


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


def initial_parameters(sizes, seed=None, scaled=False):
    """A network's starting ``Parameters``, drawn as the book draws them:
    every layer's biases, then every layer's weights, from N(0, 1)
    (``np.random.randn``, or ``seed``'s generator); with ``scaled`` the
    weights are divided by sqrt(n_in) (network2's default
    initialiser)."""
    normal = normal_sampler(seed)
    biases = [normal(y, 1) for y in sizes[1:]]
    weights = [normal(y, x) / np.sqrt(x) if scaled else normal(y, x)
               for x, y in zip(sizes[:-1], sizes[1:])]
    return Parameters.pack(sizes, weights, biases)


def progress_bar(progress, total, epoch, epochs):
    """A tqdm bar over one epoch's samples, or None."""
    if not progress:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}",
                unit="sample", unit_scale=True, leave=False)


def train_epoch(network, path, parameters, data, order, batch_size, eta,
                lmbda, n, bar=None):
    """One epoch of mini-batch SGD along ``path``; returns the trained
    ``Parameters`` (``parameters`` itself, updated in place, on the
    compiled path).  ``data`` is an ``EpochData``; ``order`` the sample
    order; the L2 decay is that of ``lmbda`` for a training set of
    ``n``."""
    decay = weight_decay(eta, lmbda, n)
    if path.kind == "compiled":
        run_epoch(parameters.net, data.X, data.Y, order, batch_size,
                  kernels.Step(eta, decay, network._cost_info.kernel), bar)
        return parameters
    if path.kind == "batched":
        weights, biases = python_epoch(
            parameters.weights, parameters.biases, data.X, data.Y, order,
            batch_size, eta, decay, path.delta)
        return Parameters.pack(parameters.sizes, weights, biases,
                               parameters.dtype)
    for start in range(0, order.shape[0], batch_size):  # the user's code
        network._book_step(data.examples(order[start:start + batch_size]),
                           eta, lmbda, n)
    return network._parameters().copy()


@dataclasses.dataclass
class EpochData:
    """Training data in both forms an epoch may need: rows ``X`` (n, n_in)
    and ``Y`` (n, n_out) for the kernels, and ``examples(indices)``, the
    Nielsen-format ``(x, y)`` tuples a user's ``update_mini_batch``
    takes."""
    X: np.ndarray
    Y: np.ndarray
    samples: list = None

    def examples(self, indices):
        if self.samples is not None:
            return [self.samples[i] for i in indices.tolist()]
        return [(self.X[i].reshape(-1, 1), self.Y[i].reshape(-1, 1))
                for i in indices.tolist()]


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
        self.network, self.path = network, network._checked_path()
        self.mini_batch_size, self.eta, self.lmbda = \
            mini_batch_size, eta, lmbda
        # float64, as the book's arithmetic is (weights set to float32
        # become float64 at its first update).
        self.parameters = network._parameters(np.float64).copy()
        check.finite_parameters(self.parameters.net.params)
        self.training_data = training_data
        samples = check.pairs("training_data", training_data)
        self._stacked = None  # arrays() stacks them when read in place
        self.data = EpochData(*self._rows(samples), samples)
        self.evaluation = None
        if evaluation_data is not None and \
                not isinstance(evaluation_data, list):
            evaluation_data = list(evaluation_data)
        if evaluation_data:  # as in the book, an empty list means none
            evaluation_data = check.pairs(evaluation_name, evaluation_data)
            self.evaluation = stack_labelled(evaluation_name,
                                             evaluation_data, network.sizes)
        self.positions = np.arange(len(samples))

    def _rows(self, samples):
        """Inputs and desired outputs as the kernels read them: in the
        caller's own arrays where they allow it (``kernels.RowsAt``, the
        tuples kept alive meanwhile), else stacked into new arrays, one
        sample per row."""
        # Only the compiled trainer reads rows in place; the NumPy paths
        # index arrays (and ``arrays()`` stacks them for the monitors).
        if self.path.kind == "compiled":
            self._kept = list(samples)  # the caller's list may change
            rows = kernels.pairs_in_place(self._kept, self.network.sizes[0],
                                          self.network.sizes[-1])
            if rows is not None:
                return rows
        return stack_examples("training_data", samples, self.network.sizes,
                              self.parameters.dtype)

    @property
    def n(self):
        return len(self.data.samples)

    def arrays(self):
        """The training inputs and desired outputs as ``(n, n_in)`` and
        ``(n, n_out)`` arrays, one sample per row in the list's original
        order: the rows the kernels read, or a stacked copy of them (made
        once, when asked) where training reads the caller's arrays in
        place."""
        if isinstance(self.data.X, np.ndarray):
            return self.data.X, self.data.Y
        if self._stacked is None:
            self._stacked = stack_examples(
                "training_data", self.data.samples, self.network.sizes,
                self.parameters.dtype)
        return self._stacked

    def epoch(self, j):
        """Shuffle, train epoch ``j``, give the network the new weights
        (``TrainingDiverged`` if they are not finite)."""
        shuffle(self.positions)
        self.parameters = train_epoch(
            self.network, self.path, self.parameters, self.data,
            self.positions, self.mini_batch_size, self.eta, self.lmbda,
            self.n)
        check_diverged(self.parameters, j, self.eta, self.lmbda)
        self.network._adopt(self.parameters.copy())

    def evaluation_correct(self):
        """How many evaluation samples the network now classifies
        correctly."""
        return self.network._count_correct(self.parameters, *self.evaluation)

    def finish(self):
        """Leave a caller's list in the epochs' shuffled order (other
        iterables were copied, as Python 3 forces)."""
        if isinstance(self.training_data, list):
            self.training_data[:] = [self.data.samples[i]
                                     for i in self.positions.tolist()]


class ArrayNetwork:
    """What both faces share: the parameter cache, the array API and the
    book's ``feedforward``, ``backprop`` and ``update_mini_batch`` steps
    on matrices.  A face sets ``sizes``, ``num_layers``, ``weights`` and
    ``biases`` in ``_set_up``, names its cost in ``_cost_info`` (a
    ``fastnet.costs.CostInfo``) and says in ``_custom_output_error``
    whether user code decides the output error."""

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
        """Set ``sizes`` and ``num_layers`` once they are checked, the
        memory for the parameters too; a face adds its own state."""
        sizes = check.check_sizes(sizes)
        check.check_network_memory(sizes)
        self.sizes, self.num_layers = sizes, len(sizes)

    def __repr__(self):
        return f"{type(self).__name__}({self.sizes!r})"

    # ----------------------------------------------------------------
    # The book's steps, on one column or on matrices.

    def feedforward(self, a):
        """Return the output activations for the input ``a``: an
        ``(n_in, 1)`` column, or an ``(n_in, m)`` matrix of ``m`` samples as
        columns, giving ``(n_out, m)``."""
        parameters = self._parameters()
        a = check.column_or_matrix("a", a, self.sizes[0])
        if a.shape[1] == 1:  # the book's scripts, one column at a time
            out = kernels.column_forward(   # a strided column: copied
                parameters.net, np.ascontiguousarray(a.reshape(-1)))
            if out.shape[0] == 0:
                raise check.nonfinite_column("a")
            return out.reshape(-1, 1)
        return np.ascontiguousarray(threads.feedforward(
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
        delta, _ = self._custom_output_error()
        if delta is not None:
            x, y = (a.astype(parameters.dtype) for a in (x, y))
            return python_gradient(
                parameters.weights, parameters.biases, x, y, delta,
                columnwise(delta, parameters.weights, parameters.biases,
                           x, y))
        grad = kernels.gradient(
            parameters.net, check.input_rows(x, parameters.dtype),
            check.as_rows(y, parameters.dtype), self._cost_info.kernel)
        return unpack(parameters.net, grad)

    def _step_on_list(self, mini_batch, eta, lmbda, n):
        """One gradient step on a list of ``(x, y)`` tuples with L2 decay
        for a training set of ``n``; the rest already checked."""
        path = self._checked_path()
        if path.kind == "per-sample":  # backprop is the user's own
            return self._book_update(mini_batch, eta, lmbda, n)
        parameters = self._parameters(np.float64).copy()  # as the book
        check.finite_parameters(parameters.net.params)
        batch = check.pairs("mini_batch", mini_batch)
        data = EpochData(*stack_examples("mini_batch", batch, self.sizes,
                                         parameters.dtype), batch)
        self._adopt(train_epoch(self, path, parameters, data,
                                np.arange(len(batch)), len(batch), eta,
                                lmbda, n))

    def _book_update(self, mini_batch, eta, lmbda, n):
        """The book's ``update_mini_batch``, sample by sample through
        ``self.backprop`` (a user's own)."""
        mini_batch = check.pairs("mini_batch", mini_batch)
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        step, decay = eta / len(mini_batch), weight_decay(eta, lmbda, n)
        self.weights = [decay * w - step * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - step * nb for b, nb in zip(self.biases, nabla_b)]

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
        path = self._checked_path()
        check.check_network_memory(
            self.sizes, compute_dtype(self.weights, self.biases,
                                      dtype).itemsize, mini_batch_size)
        parameters = self._parameters(dtype).copy()
        check.finite_parameters(parameters.net.params)
        X = check.sample_matrix("X", X, self.sizes[0])
        n = X.shape[1]
        data = EpochData(check.input_rows(X, parameters.dtype),
                         check.target_rows("y", y, n, self.sizes[-1],
                                           parameters.dtype))
        validation = None
        if validation_data is not None:
            validation = self._labelled_arrays(
                "validation_data", validation_data, parameters.dtype)
        rng = generator(seed)
        self.history_ = []
        for epoch in range(epochs):
            started = time.perf_counter()
            bar = progress_bar(progress, n, epoch, epochs)
            parameters = train_epoch(self, path, parameters, data,
                                     rng.permutation(n), mini_batch_size,
                                     eta, lmbda, n, bar)
            seconds = time.perf_counter() - started
            if bar is not None:
                bar.close()
            check_diverged(parameters, epoch, eta, lmbda)
            self._adopt(parameters.copy())
            record = {"epoch": epoch, "seconds": seconds}
            if validation is not None:
                record["correct"] = self._count_correct(parameters,
                                                        *validation)
                record["total"] = int(validation[1].shape[0])
            self.history_.append(record)
            if callback is not None:
                callback(record)
        return self

    def predict(self, X):
        """Most likely class of each column of ``X`` (n_in, m): an ``(m,)``
        integer array."""
        return self._predict(check.sample_matrix("X", X, self.sizes[0],
                                                 finite=False))

    def score(self, X, y):
        """Fraction of the columns of ``X`` classified as ``y`` says
        (integer labels, or one-hot columns)."""
        X = check.sample_matrix("X", X, self.sizes[0], finite=False)
        labels = check.class_labels("y", y, X.shape[1], self.sizes[-1])
        return float(np.mean(self._predict(X) == labels))

    # ----------------------------------------------------------------
    # Between the public API and the kernels.

    def _parameters(self, dtype=None):
        """The packed ``Parameters`` of ``weights`` and ``biases``, in
        ``dtype`` if given.  The cached ones while the network still holds
        their views (the usual case: a microsecond); else checked against
        ``sizes`` and packed afresh (after the user replaced arrays).
        Read-only: training works on a copy."""
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

    def _custom_output_error(self):
        """``(delta, reason)`` when user code decides the output error
        ``delta(z, a, y)`` (a custom cost, an overridden method), else
        ``(None, "")``.  Faces override this."""
        return None, ""

    def _book_step(self, mini_batch, eta, lmbda, n):
        """Call the face's ``update_mini_batch`` (maybe a user's) with its
        own arguments.  Faces override this."""
        raise NotImplementedError

    def _overrides(self, name):
        """Whether the method ``name`` comes from a class outside fastnet
        (a user's subclass)."""
        for klass in type(self).__mro__:
            if name in vars(klass):
                return klass.__module__.split(".")[0] != "fastnet"
        return False

    def _checked_path(self):
        """How this network trains (see ``TrainingPath``); says once why
        when it is not the compiled path."""
        path = COMPILED
        for name in ("update_mini_batch", "backprop"):
            if self._overrides(name):
                path = TrainingPath("per-sample", f"it overrides {name}")
                break
        else:
            delta, reason = self._custom_output_error()
            if delta is not None:
                path = TrainingPath("batched", reason, delta)
        if path.kind != "compiled":
            warn_slow_path(type(self), path.reason)
        return path

    def _count_correct(self, parameters, X, labels):
        """How many rows of ``X`` are classified as ``labels`` say, through
        the user's ``feedforward`` if they overrode it."""
        return int(np.count_nonzero(self._classes(parameters, X) == labels))

    def _classes(self, parameters, X):
        """The network's answer for each row of ``X``: its most activated
        output neuron."""
        return np.argmax(self._outputs(parameters, X), axis=1)

    def _outputs(self, parameters, X):
        """Output activations ``(m, n_out)`` for the rows of ``X``, through
        the user's ``feedforward``, sample by sample, if they overrode
        it."""
        if self._overrides("feedforward"):
            warn_slow_path(type(self), "it overrides feedforward")
            return np.array([np.ravel(self.feedforward(x.reshape(-1, 1)))
                             for x in X])
        return threads.feedforward(parameters.net, X)

    def _predict(self, X):
        """``predict`` for an ``X`` checked but for NaN and infinity: the
        compiled forward pass over the columns where they lie checks them
        block by block (``kernels.forward_rows``) instead of in a pass of its
        own over ``X``; when one is not finite, ``X`` is checked to name
        the column (or, finite after all but not in the network's dtype,
        takes the usual route)."""
        parameters = self._parameters()
        if not self._overrides("feedforward"):
            classes, finite = threads.classify_columns(parameters, X)
            if finite:
                return classes
        check.finite_columns("X", X)
        return self._classes(parameters,
                             check.input_rows(X, parameters.dtype))

    def _labelled_arrays(self, name, data, dtype):
        """An ``(X, y)`` pair of arrays -> rows and integer labels."""
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(f"{name} must be an (X, y) pair of arrays")
        X = check.sample_matrix(name + "[0]", data[0], self.sizes[0])
        labels = check.class_labels(name + "[1]", data[1], X.shape[1],
                                    self.sizes[-1])
        return check.input_rows(X, dtype), labels
