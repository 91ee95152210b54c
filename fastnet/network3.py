"""A fast drop-in for Nielsen's ``network3.py`` (chapter 6), without Theano.

Convolutional networks with the API of the book's ``network3.py``, so that
its ``conv.py`` experiments run by changing the imports::

    from fastnet import network3
    from fastnet.network3 import Network, ConvPoolLayer, \\
        FullyConnectedLayer, SoftmaxLayer, sigmoid, tanh, ReLU, linear

    training_data, validation_data, test_data = network3.load_data_shared()
    mini_batch_size = 10
    net = Network([
        ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28),
                      filter_shape=(20, 1, 5, 5), poolsize=(2, 2)),
        FullyConnectedLayer(n_in=20*12*12, n_out=100),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    net.SGD(training_data, 60, mini_batch_size, 0.1,
            validation_data, test_data)

Data are pairs of arrays ``(X float (n, 784), y int (n,))`` rather than
Theano shared variables.  Each mini-batch is computed at once: the
convolution and its gradients are matrix products on unrolled image
patches (im2col), and max-pooling keeps the position of each window's
maximum for the backward pass.  Arithmetic is float32 by default, as the
book's GPU setting; ``Network(..., dtype="float64")`` gives double
precision.

The mathematics, the random draws of the initial weights (``np.random.normal``
in network3's order and scales), the visiting order of the training data
(in order, no shuffling; ``SGD(..., shuffle=True)`` reshuffles each epoch
from ``net.rng``), the L2 term and the printed lines are those of
network3; ``fastnet.reference.network3`` is the per-sample oracle it is
tested against, and its docstring lists the few choices network3 leaves
open (dropout masks, ties in max-pooling, ReLU'(0)), made the same here.

Unlike network3, bad input is refused before any work with a ValueError or
TypeError naming the layer and the numbers that do not match; pool sizes
must divide the convolution's output (network3 silently drops the
remainder), and an activation function needs its derivative as ``.prime``
(there is no automatic differentiation).

This module is the face a script imports.  Behind it: the compiled loops
in ``fastnet.conv_kernels``; the input checks in ``fastnet.validation``;
the book's networks by name (``PRESETS``) and networks as descriptions
for model files in ``fastnet.conv_models``, whose names this module also
answers for.
"""

import contextlib
import functools
import numbers
import time

import numpy as np

from . import blas, conv_kernels, mnist_loader
from . import validation as check

__all__ = ["Network", "ConvPoolLayer", "FullyConnectedLayer", "SoftmaxLayer",
           "sigmoid", "tanh", "ReLU", "linear", "load_data_shared",
           "expand_mnist", "size", "single_threaded_blas", "PRESETS",
           "ACTIVATIONS"]

#: Names whose home is ``fastnet.conv_models``, answered here too and
#: loaded on first use: that module builds on this one, so importing it
#: from here at load time would be a cycle.
_FROM_CONV_MODELS = ("PRESETS", "Preset", "describe_layers",
                     "parameter_shapes", "from_description")


def __getattr__(name):
    """A name of ``_FROM_CONV_MODELS``, kept here once looked up."""
    if name in _FROM_CONV_MODELS:
        from . import conv_models
        value = globals()[name] = getattr(conv_models, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FROM_CONV_MODELS))


#: Examples per forward pass when predicting: small enough that a
#: conv layer's unrolled patches stay in cache (25 measured faster than
#: 100 or 250 here), and bounding memory for any number of examples.
EVALUATION_CHUNK = 25


#### Activation functions, each with its derivative as ``.prime``
def sigmoid(z):
    # 1 / (1 + e^-z) written with tanh: no overflow for large -z, and
    # NumPy's tanh is several times faster than scipy.special.expit.
    return 0.5 * (1 + np.tanh(0.5 * z))


def tanh(z):
    return np.tanh(z)


def ReLU(z):
    return np.maximum(z, 0)


def linear(z):
    return z


def _sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1 - s)


sigmoid.prime = _sigmoid_prime
tanh.prime = lambda z: 1 - np.tanh(z) ** 2
ReLU.prime = lambda z: (z >= 0).astype(z.dtype)   # 1 at 0, as Theano's
linear.prime = lambda z: np.ones_like(z)

#: The activation functions a saved network may name (see
#: ``fastnet.conv_models``).
ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "ReLU": ReLU,
               "linear": linear}


def _slope_source(activation_fn, z, a):
    """``(kind, values)`` for ``conv_kernels.pool_backward``: how the
    compiled loop finds ``activation_fn.prime(z)``, and from what."""
    if activation_fn is sigmoid:
        return conv_kernels.SLOPE_SIGMOID, a
    if activation_fn is tanh:
        return conv_kernels.SLOPE_TANH, a
    if activation_fn is ReLU:
        return conv_kernels.SLOPE_RELU, z
    return conv_kernels.SLOPE_GIVEN, derivative(activation_fn, z, a)


def derivative(activation_fn, z, a):
    """A fresh array of ``activation_fn.prime(z)``, from the activation
    ``a = activation_fn(z)`` where that is cheaper (sigmoid, tanh)."""
    if activation_fn is sigmoid:
        return a * (1 - a)
    if activation_fn is tanh:
        return 1 - a * a
    if activation_fn is ReLU:
        return (z >= 0).astype(z.dtype)
    # A copy: the caller works in place, and a user's prime may return a
    # view of z.
    return np.array(activation_fn.prime(z), dtype=z.dtype, order="C")


#### Data
def load_data_shared(filename=None, dtype="float32"):
    """``[training_data, validation_data, test_data]``: Nielsen's 50,000 /
    10,000 / 10,000 split of MNIST, each a pair ``(X (n, 784) dtype,
    y (n,) int64)``, pixels as byte / 256.  ``filename``: None for
    fastnet's MNIST files, or what ``fastnet.mnist_loader.load_data``
    takes (a folder of IDX files, or Nielsen's ``mnist.pkl.gz``)."""
    dtype = check.float_dtype(dtype)
    return [(np.asarray(X, dtype=dtype), np.asarray(y, dtype=np.int64))
            for X, y in mnist_loader.load_data(filename)]


def expand_mnist(training_data=None, seed=0):
    """Nielsen's ``expand_mnist.py`` in memory: each training image, then
    it shifted one pixel down, up, right and left (the row or column moved
    in filled with zeros), the 5n pairs shuffled by a permutation drawn
    from ``np.random.default_rng(seed)``.  ``training_data``: ``(X (n, 784),
    y (n,))``, by default the 50,000 MNIST training images (giving
    250,000; about 0.8 GB as float32).  Returns ``(X (5n, 784), y (5n,))``."""
    if training_data is None:
        training_data = load_data_shared()[0]
    X, y = training_data
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 784 or y.shape != (len(X),):
        raise ValueError(f"expand_mnist needs (X (n, 784), y (n,)); got X "
                         f"{X.shape} and y {y.shape}")
    n = len(y)
    order = np.random.default_rng(seed).permutation(5 * n)
    position = np.empty_like(order)
    position[order] = np.arange(5 * n)   # where pair 5*i + k lands
    expanded_X = np.empty((5 * n, 784), dtype=X.dtype)
    expanded_y = np.empty(5 * n, dtype=y.dtype)
    for k, images in enumerate(_shifted_images(X.reshape(n, 28, 28))):
        expanded_X[position[k::5]] = images.reshape(n, 784)
        expanded_y[position[k::5]] = y
    return expanded_X, expanded_y


def _shifted_images(images):
    """The images, then shifted one pixel down, up, right, left."""
    yield images
    for axis, forward in ((1, True), (1, False), (2, True), (2, False)):
        shifted = np.zeros_like(images)
        source = [slice(None)] * 3
        target = [slice(None)] * 3
        source[axis] = slice(None, -1) if forward else slice(1, None)
        target[axis] = slice(1, None) if forward else slice(None, -1)
        shifted[tuple(target)] = images[tuple(source)]
        yield shifted


def size(data):
    """The number of examples in ``data`` = ``(X, y)``."""
    return len(data[1])


def single_threaded_blas():
    """A context in which BLAS runs on one thread, when threadpoolctl is
    installed (otherwise nothing changes).  At the book's mini-batch of 10
    each matrix product is small (at most 26 million FLOPs): a second BLAS
    thread gains little and, on a busy machine, waits for a core; one
    epoch measured 20 times slower with two threads than with one on a
    shared 2-core machine.  Set OPENBLAS_NUM_THREADS=1 for the same
    without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class _Report:
    """How ``SGD`` reports: network3's printed lines (or nothing), a
    progress bar, a caller's per-epoch function."""

    def __init__(self, verbose, on_epoch, progress):
        self.say = print if verbose else (lambda *args: None)
        self.on_epoch, self.progress = on_epoch, progress

    def bar(self, total, epoch, epochs):
        if not self.progress:
            return None
        from .core import progress_bar
        return progress_bar(True, total, epoch, epochs)

    def epoch_ended(self, history_entry, best, seconds):
        if self.on_epoch is not None:
            epoch, validation_accuracy, test_accuracy = history_entry
            self.on_epoch({"epoch": epoch, "seconds": seconds,
                           "validation_accuracy": validation_accuracy,
                           "best": best, "test_accuracy": test_accuracy})


#### The network
class Network:

    def __init__(self, layers, mini_batch_size, dtype="float32", seed=0):
        """``layers``: the layers, input side first, the last a
        ``SoftmaxLayer``; ``mini_batch_size``: examples per SGD step
        (every ``ConvPoolLayer``'s ``image_shape[0]``).  The layers'
        weights are converted to ``dtype`` ("float32" or "float64").
        ``seed`` seeds ``self.rng``, which draws the dropout masks (and
        the shuffles, when asked for)."""
        dtype = check.float_dtype(dtype)
        check.check_layers(layers, mini_batch_size)
        self.layers = list(layers)
        self.mini_batch_size = mini_batch_size
        self.dtype = dtype
        self.rng = np.random.default_rng(seed)
        for layer in self.layers:
            layer.w = np.asarray(layer.w, dtype=dtype)
            layer.b = np.asarray(layer.b, dtype=dtype)

    @property
    def params(self):
        """Every layer's weights and biases, as network3's ``params``."""
        return [p for layer in self.layers for p in (layer.w, layer.b)]

    def SGD(self, training_data, epochs, mini_batch_size, eta,
            validation_data, test_data, lmbda=0.0, shuffle=False,
            on_epoch=None, verbose=True, progress=False):
        """Train by mini-batch stochastic gradient descent, network3's way:
        the mini-batches in order (a remainder of fewer than
        ``mini_batch_size`` examples is left out), the validation accuracy
        after each epoch, the test accuracy when it is the best so far.
        ``shuffle=True`` reshuffles the training examples each epoch.
        Afterwards ``best_validation_accuracy``, ``best_iteration``,
        ``test_accuracy`` and ``history`` (one ``(epoch, validation
        accuracy, test accuracy or None)`` per epoch) hold the results.

        Beyond network3: ``on_epoch(record)`` is called after each
        epoch's printed lines with ``epoch``, ``seconds`` (the training
        time of the epoch), ``validation_accuracy``, ``best`` (whether it
        is the best so far) and ``test_accuracy`` (None unless ``best``);
        ``verbose=False`` prints nothing; ``progress=True`` shows a tqdm
        bar over each epoch's mini-batches."""
        training_x, training_y = self._checked("training_data",
                                               training_data)
        validation_data = self._checked("validation_data", validation_data)
        if test_data is not None:
            test_data = self._checked("test_data", test_data)
        check.check_training_options(epochs, mini_batch_size,
                                     self.mini_batch_size, eta, lmbda)
        check.check_parameters(self.layers, self.dtype)
        if on_epoch is not None and not callable(on_epoch):
            raise TypeError(f"on_epoch must be callable; got {on_epoch!r}")
        report = _Report(verbose, on_epoch, progress)
        with single_threaded_blas():
            self._train(training_x, training_y, epochs, mini_batch_size, eta,
                        validation_data, test_data, lmbda, shuffle, report)
        if test_data is not None:   # as network3 leaves it
            self.test_mb_predictions = functools.partial(
                self._mini_batch_predictions, test_data[0])

    def _checked(self, name, data):
        return check.check_data(name, data, self.layers[0],
                                self.layers[-1].n_out, self.mini_batch_size)

    def _mini_batch_predictions(self, x, i):
        """The predicted digits of mini-batch ``i`` of ``x``."""
        m = self.mini_batch_size
        return self.predict(x[i * m:(i + 1) * m])

    def _train(self, training_x, training_y, epochs, mini_batch_size, eta,
               validation_data, test_data, lmbda, shuffle, report):
        num_training_batches = len(training_y) // mini_batch_size
        self.best_validation_accuracy, self.best_iteration = 0.0, None
        self.test_accuracy, self.history = None, []
        say = report.say
        for epoch in range(epochs):
            started = time.perf_counter()
            bar = report.bar(num_training_batches * mini_batch_size, epoch,
                             epochs)
            order = (self.rng.permutation(len(training_y)) if shuffle
                     else None)
            for minibatch_index in range(num_training_batches):
                iteration = num_training_batches * epoch + minibatch_index
                if iteration % 1000 == 0:
                    say("Training mini-batch number {0}".format(iteration))
                batch = slice(minibatch_index * mini_batch_size,
                              (minibatch_index + 1) * mini_batch_size)
                rows = batch if order is None else order[batch]
                self.update_mini_batch(training_x[rows], training_y[rows],
                                       eta, lmbda, num_training_batches)
                if bar is not None:
                    bar.update(mini_batch_size)
            if bar is not None:
                bar.close()
            seconds = time.perf_counter() - started
            best = self._end_of_epoch(epoch, iteration, validation_data,
                                      test_data, say)
            report.epoch_ended(self.history[-1], best, seconds)
        say("Finished training network.")
        if self.best_iteration is not None:
            say("Best validation accuracy of {0:.2%} obtained at "
                "iteration {1}".format(self.best_validation_accuracy,
                                       self.best_iteration))
        if self.test_accuracy is not None:
            say("Corresponding test accuracy of {0:.2%}".format(
                self.test_accuracy))

    def _end_of_epoch(self, epoch, iteration, validation_data, test_data,
                      say=print):
        validation_accuracy = self.accuracy(validation_data)
        say("Epoch {0}: validation accuracy {1:.2%}".format(
            epoch, validation_accuracy))
        test_accuracy = None
        best = validation_accuracy >= self.best_validation_accuracy
        if best:
            say("This is the best validation accuracy to date.")
            self.best_validation_accuracy = validation_accuracy
            self.best_iteration = iteration
            if test_data is not None:
                test_accuracy = self.test_accuracy = self.accuracy(test_data)
                say("The corresponding test accuracy is {0:.2%}".format(
                    test_accuracy))
        self.history.append((epoch, validation_accuracy, test_accuracy))
        return best

    def update_mini_batch(self, x, y, eta, lmbda, num_training_batches):
        """One gradient step on ``x`` (m, n_in), ``y`` (m,): the mean
        log-likelihood's gradient plus the L2 term's
        ``lmbda * w / num_training_batches``, dropout masks drawn from
        ``self.rng``.  Each layer steps as soon as its gradient is known,
        after the gradient sent to the layer below has been computed
        from its weights before the step: the step ``backprop``'s
        gradients give, without keeping them."""
        self._backward(x, y, self.dropout_masks(len(y)),
                       (eta, lmbda / num_training_batches))

    def dropout_masks(self, m):
        """One mask per layer for a mini-batch of ``m``: ``(m, n_in)``
        of 1 (kept, probability ``1 - p_dropout``) and 0 for layers with
        dropout, None for the others; drawn in layer order."""
        return [None if layer.p_dropout == 0 else
                (self.rng.random((m, layer.n_in)) < 1 - layer.p_dropout
                 ).astype(self.dtype)
                for layer in self.layers]

    def backprop(self, x, y, masks=None):
        """``(nabla_w, nabla_b)``: the gradient of the mean of ``-log a_y``
        over the examples ``x`` (m, n_in), labels ``y`` (m,), with each
        layer's weights and biases, inputs multiplied by ``masks`` (from
        ``dropout_masks``; None: no dropout).  The gradients may live in
        the layers' buffers: the next ``backprop`` overwrites them."""
        return self._backward(x, y, masks, None)

    def _backward(self, x, y, masks, step):
        """Forward, then backward through every layer: each layer's
        gradients, or with ``step`` = (eta, decay) each layer's step."""
        a = np.asarray(x, dtype=self.dtype)
        masks = masks or [None] * len(self.layers)
        caches = []
        for layer, mask in zip(self.layers, masks):
            a, cache = layer.forward(a, mask)
            caches.append(cache)
        nabla_w, nabla_b, delta = [], [], np.asarray(y)
        for j in reversed(range(len(self.layers))):
            nw, nb, delta = self.layers[j].backward(
                delta, caches[j], need_delta_in=j > 0, step=step)
            nabla_w.insert(0, nw)
            nabla_b.insert(0, nb)
        return nabla_w, nabla_b

    def feedforward(self, x):
        """The softmax outputs ``(m, n_out)`` for the examples ``x``
        (m, n_in), without dropout (weights scaled by ``1 - p_dropout``),
        computed ``EVALUATION_CHUNK`` rows at a time: memory is bounded
        for any number of examples, and BLAS runs on one thread (the
        products are small, as in ``SGD``).  The layers compute in
        scratch buffers of their own, so one network serves one thread
        at a time (give each thread its own copy)."""
        x = check.check_inputs(x, self.layers[0])
        outputs = np.empty((len(x), self.layers[-1].n_out), dtype=self.dtype)
        with single_threaded_blas():
            for i in range(0, len(x), EVALUATION_CHUNK):
                a = np.asarray(x[i:i + EVALUATION_CHUNK], dtype=self.dtype)
                for layer in self.layers:
                    a = layer.evaluate(a)
                outputs[i:i + len(a)] = a
        return outputs

    def predict(self, x):
        """The most likely digit for each row of ``x`` (m, n_in): (m,)."""
        return np.argmax(self.feedforward(x), axis=1)

    def accuracy(self, data):
        """The fraction of ``data`` = ``(X, y)`` classified correctly, over
        whole mini-batches as network3 measures it."""
        x, y = data
        n = len(y) // self.mini_batch_size * self.mini_batch_size
        return float(np.mean(self.predict(x[:n]) == y[:n]))


#### Layer types
class _Buffered:
    """Scratch arrays kept from one mini-batch to the next: fresh arrays
    of these sizes would come from the operating system each time, and
    their page faults cost about as much as the work done in them.  What
    a layer returns from ``forward`` and ``backward`` lives in these
    buffers until its next call.  Also the gradient step every layer
    takes in ``backward`` when given one."""

    def _buffer(self, name, shape, dtype):
        buffers = self.__dict__.setdefault("_buffers", {})
        array = buffers.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = buffers[name] = np.empty(shape, dtype=dtype)
        return array

    def _step(self, nabla_w, nabla_b, step):
        """``w <- w - eta (nabla_w + decay w)``, ``b <- b - eta nabla_b``
        in place, for ``step`` = (eta, decay); ``nabla_w`` is scratch."""
        eta, decay = step
        if decay:
            self.w *= 1 - eta * decay
        nabla_w *= eta
        self.w -= nabla_w
        self.b -= eta * nabla_b


class ConvPoolLayer(_Buffered):
    """Convolution, max-pooling, bias and activation: output map ``f`` is
    ``activation_fn(maxpool(sum_c x_c * w_fc) + b_f)``, ``*`` the valid
    (true, filter-flipped) convolution of Theano's ``conv2d``."""

    def __init__(self, filter_shape, image_shape, poolsize=(2, 2),
                 activation_fn=sigmoid):
        """``filter_shape``: (filters, input feature maps, filter height,
        filter width); ``image_shape``: (mini-batch size, input feature
        maps, image height, image width); ``poolsize``: (height, width).
        Weights from N(0, 1/n_out) with n_out = filters * filter area //
        pool area, biases from N(0, 1), drawn with ``np.random.normal``."""
        self.filter_shape = check.int_tuple("filter_shape", filter_shape, 4)
        self.image_shape = check.int_tuple("image_shape", image_shape, 4)
        self.poolsize = check.int_tuple("poolsize", poolsize, 2)
        self.activation_fn = check.check_activation(activation_fn)
        self.p_dropout = 0.0   # no dropout in convolutional layers
        self.conv_shape = check.conv_shape(self.filter_shape,
                                           self.image_shape, self.poolsize)
        n_out = (self.filter_shape[0] * np.prod(self.filter_shape[2:])
                 // np.prod(self.poolsize))   # Python 2's division
        if n_out < 1:
            raise ValueError(f"ConvPoolLayer: filters * filter area // pool "
                             f"area is {n_out}; network3 draws weights with "
                             f"standard deviation 1/sqrt of it")
        self.w = np.random.normal(loc=0, scale=np.sqrt(1.0 / n_out),
                                  size=self.filter_shape)
        self.b = np.random.normal(loc=0, scale=1.0,
                                  size=(self.filter_shape[0],))

    @property
    def n_in(self):
        return int(np.prod(self.image_shape[1:]))

    @property
    def output_shape(self):
        """(filters, pooled height, pooled width) of one example."""
        (oh, ow), (ph, pw) = self.conv_shape, self.poolsize
        return (self.filter_shape[0], oh // ph, ow // pw)

    @property
    def n_out(self):
        return int(np.prod(self.output_shape))

    def forward(self, a, mask=None):
        """``(output (m, filters, pooled h, pooled w), cache)`` for the
        inputs ``a``, m rows of ``n_in`` numbers (any shape).  The output
        is a view of channels-last storage, which the next convolutional
        layer reads without a copy."""
        x = _channels_last(a, self.image_shape)
        (kh, kw), (oh, ow), (ph, pw) = (self.filter_shape[2:],
                                        self.conv_shape, self.poolsize)
        n_filters, m, dtype = self.filter_shape[0], len(x), x.dtype
        columns = self._buffer("columns", (m * oh * ow, self.filter_shape[1]
                                           * kh * kw), dtype)
        conv_kernels.im2col(x, kh, kw, ph, pw, columns)
        filters = _filter_rows(self.w)
        conv = _product(self._buffer("conv", (len(columns), n_filters),
                                     dtype),
                        columns, np.ascontiguousarray(filters.T))
        pooled_shape = (m, oh // ph, ow // pw, n_filters)
        z = self._buffer("z", pooled_shape, dtype)
        argmax = self._buffer("argmax", pooled_shape, np.int64)
        conv_kernels.max_pool(conv, np.asarray(self.b, dtype=dtype),
                              z.reshape(-1, n_filters),
                              argmax.reshape(-1, n_filters))
        activation = self.activation_fn(z)
        return (activation.transpose(0, 3, 1, 2),
                (x.shape, columns, argmax, z, activation, filters))

    def evaluate(self, a):
        return self.forward(a)[0]

    def backward(self, delta, cache, need_delta_in=True, step=None):
        """``(nabla_w, nabla_b, delta_in)`` from ``delta`` (m, filters,
        pooled h, pooled w), the gradient with the output; ``delta_in``
        (m, channels, height, width) is None unless asked for.  With
        ``step`` = (eta, decay), takes the step (see ``_step``) and
        returns None for both gradients."""
        x_shape, columns, argmax, z, activation, filters = cache
        n_filters, _, kh, kw = self.filter_shape
        kind, values = _slope_source(self.activation_fn, z, activation)
        nabla_b = np.empty(n_filters, z.dtype)
        delta_conv = self._buffer("delta_conv", (len(columns), n_filters),
                                  z.dtype)
        conv_kernels.pool_backward(   # delta read where it lies
            np.asarray(delta, dtype=z.dtype).reshape(len(z), n_filters, -1),
            values.reshape(-1, n_filters), kind,
            argmax.reshape(-1, n_filters), delta_conv, nabla_b)
        nabla_w = _filters_from_rows(
            _product(np.empty(filters.shape, z.dtype), delta_conv, columns,
                     transpose_a=True), self.filter_shape)
        delta_in = None
        if need_delta_in:
            delta_columns = _product(self._buffer(
                "delta_columns", columns.shape, z.dtype), delta_conv, filters)
            delta_in = self._buffer("delta_in", x_shape, z.dtype)
            conv_kernels.col2im(delta_columns, kh, kw, *self.poolsize,
                                delta_in)
            delta_in = delta_in.transpose(0, 3, 1, 2)
        if step is not None:
            self._step(nabla_w, nabla_b, step)
            return None, None, delta_in
        return nabla_w, nabla_b, delta_in


class FullyConnectedLayer(_Buffered):
    """``activation_fn(a w + b)`` with ``w`` (n_in, n_out); with dropout,
    each input is kept with probability ``1 - p_dropout`` in training,
    and ``a w`` is scaled by ``1 - p_dropout`` in evaluation."""

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0):
        """Weights from N(0, 1/n_out), then biases from N(0, 1), drawn
        with ``np.random.normal``."""
        self._set_sizes(n_in, n_out, p_dropout)
        self.activation_fn = check.check_activation(activation_fn)
        self.w = np.random.normal(loc=0.0, scale=np.sqrt(1.0 / n_out),
                                  size=(n_in, n_out))
        self.b = np.random.normal(loc=0.0, scale=1.0, size=(n_out,))

    def _set_sizes(self, n_in, n_out, p_dropout):
        self.n_in = check.positive_int("n_in", n_in)
        self.n_out = check.positive_int("n_out", n_out)
        if (not isinstance(p_dropout, numbers.Real)
                or not 0 <= p_dropout < 1):
            raise ValueError(f"p_dropout must be a number in [0, 1); got "
                             f"{p_dropout!r}")
        self.p_dropout = float(p_dropout)

    def forward(self, a, mask=None):
        """``(output (m, n_out), cache)`` in training: the inputs ``a``
        (m rows of ``n_in``), multiplied by ``mask`` when given."""
        a_in = a.reshape(len(a), self.n_in)
        if mask is not None:
            a_in = a_in * mask
        z = _product(None, a_in, self.w)
        z += self.b
        activation = self.activation_fn(z)
        return activation, (a.shape, a_in, mask, z, activation)

    def evaluate(self, a):
        return self.activation_fn(self._evaluation_z(a))

    def _evaluation_z(self, a):
        product = _product(None, a.reshape(len(a), self.n_in), self.w)
        if self.p_dropout:
            product *= 1 - self.p_dropout
        return product + self.b

    def backward(self, delta, cache, need_delta_in=True, step=None):
        """``(nabla_w, nabla_b, delta_in)`` from ``delta`` (m, n_out), the
        gradient with the output; ``delta_in`` shaped like the input.
        With ``step`` = (eta, decay), takes the step (see ``_step``) and
        returns None for both gradients."""
        delta = delta.reshape(len(delta), self.n_out) * derivative(
            self.activation_fn, cache[3], cache[4])
        return self._gradients(delta, cache, need_delta_in, step)

    def _gradients(self, delta, cache, need_delta_in, step):
        """From ``delta``, the gradient with ``z``."""
        a_shape, a_in, mask = cache[:3]
        nabla_b = delta.sum(axis=0)
        delta_in = None
        if need_delta_in:   # from the weights before the step
            delta_in = _product(self._buffer("delta_in", a_in.shape,
                                             delta.dtype),
                                delta, self.w, transpose_b=True)
            if mask is not None:
                delta_in *= mask
            delta_in = delta_in.reshape(a_shape)
        if step is None:
            nabla_w = _product(self._buffer("nabla_w", self.w.shape,
                                            delta.dtype),
                               a_in, delta, transpose_a=True)
            return nabla_w, nabla_b, delta_in
        if _gemm_can_step(self.w, a_in, delta):
            # w <- (1 - eta decay) w - eta a_in^T delta in one BLAS call:
            # no weight gradient stored, one pass over w
            eta, decay = step
            conv_kernels.gradient_step(self.w, np.ascontiguousarray(a_in),
                                       np.ascontiguousarray(delta), -eta,
                                       1 - eta * decay)
            self.b -= eta * nabla_b
        else:
            self._step(a_in.T @ delta, nabla_b, step)
        return None, None, delta_in


def _gemm_can_step(w, a, delta):
    """Whether BLAS can update ``w`` in place from ``a`` and ``delta``: a
    writeable, C-contiguous float32 or float64 ``w``, and all three of
    its dtype.  Otherwise NumPy's route steps (read-only weights get
    NumPy's error; mixed dtypes NumPy's promotion)."""
    return (w.flags.c_contiguous and w.flags.writeable
            and w.dtype in (np.float32, np.float64)
            and w.dtype == a.dtype == delta.dtype)


def _product(out, a, b, transpose_a=False, transpose_b=False):
    """``op(a) op(b)`` (``op(x)`` is ``x.T`` if ``transpose_x``), in
    ``out`` (None: a new array), returned.  Cut into the blocks
    ``blas.block_plan`` chooses where every array is of one float dtype
    with contiguous rows; otherwise NumPy's product (mixed dtypes get
    NumPy's promotion).  Called several times a mini-batch, so the checks
    are plain attribute reads."""
    left, right = (a.T if transpose_a else a), (b.T if transpose_b else b)
    m, k, n = left.shape[0], left.shape[1], right.shape[1]
    if out is None:
        out = np.empty((m, n), a.dtype if a.dtype == b.dtype
                       else np.result_type(a, b))
    dtype = out.dtype
    if a.dtype != dtype or b.dtype != dtype or dtype not in _BLAS_FLOATS \
            or out.ndim != 2 or not (_blas_rows(a) and _blas_rows(b)
                                     and _blas_rows(out)):
        return np.matmul(left, right, out=out)
    axis, size = blas.block_plan(m, n, k, transpose_a, transpose_b)
    if size == (m, n, k)[axis]:   # one block: NumPy's
        return np.matmul(left, right, out=out)
    blas.gemm_in_blocks(out, a, b, transpose_a, transpose_b, 1.0, 0.0, axis,
                        size)
    return out


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _blas_rows(x):
    """Whether BLAS can read the 2-d ``x`` row by row: each row contiguous,
    the rows one after another at a stride of at least a row (not
    reversed, overlapping or broadcast)."""
    rows_stride, item = x.strides[0], x.itemsize
    return x.strides[1] == item and (
        x.shape[0] == 1 or rows_stride >= x.shape[1] * item)


class SoftmaxLayer(FullyConnectedLayer):
    """The output layer, ``softmax(a w + b)``, trained on the mean
    log-likelihood cost; weights and biases start at zero."""

    def __init__(self, n_in, n_out, p_dropout=0.0):
        self._set_sizes(n_in, n_out, p_dropout)
        self.activation_fn = softmax
        self.w = np.zeros((n_in, n_out))
        self.b = np.zeros((n_out,))

    def backward(self, y, cache, need_delta_in=True, step=None):
        """From the labels ``y`` (m,): the gradient of the mean of
        ``-log a_y`` with ``z`` is ``(a - e_y) / m``."""
        delta = cache[4].copy()   # the softmax output
        delta[np.arange(len(y)), y] -= 1
        delta /= len(y)
        return self._gradients(delta, cache, need_delta_in, step)

    def cost(self, x, y):
        """The mean log-likelihood cost ``-log a_y`` of the rows of ``x``
        (the layer's inputs, m rows of ``n_in``) with labels ``y``, without
        dropout."""
        z = self._evaluation_z(x)
        z = z - z.max(axis=1, keepdims=True)
        log_a = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-np.mean(log_a[np.arange(len(y)), y]))


def softmax(z):
    """Row-wise softmax of ``z`` (m, n)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


#### Images and filters in the compiled convolution's layouts (conv_kernels)
def _channels_last(a, image_shape):
    """The inputs ``a`` (m rows of ``n_in`` numbers, in network3's
    channels-first order) as a contiguous ``(m, h, w, channels)`` array:
    no copy for one channel, nor for a convolutional layer's output."""
    images = a.reshape((len(a),) + tuple(image_shape[1:]))
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1))


def _filter_rows(w):
    """Filters (f, c, kh, kw), flipped for a true convolution, as rows
    (f, kh * kw * c) matching ``im2col``'s patches (row, column,
    channel)."""
    return np.ascontiguousarray(
        w[:, :, ::-1, ::-1].transpose(0, 2, 3, 1)).reshape(len(w), -1)


def _filters_from_rows(rows, filter_shape):
    """The inverse of ``_filter_rows``."""
    f, c, kh, kw = filter_shape
    return np.ascontiguousarray(
        rows.reshape(f, kh, kw, c).transpose(0, 3, 1, 2)[:, :, ::-1, ::-1])
