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
"""

import contextlib
import dataclasses
import functools
import numbers
import time

import numpy as np

from . import conv_kernels, mnist_loader

__all__ = ["Network", "ConvPoolLayer", "FullyConnectedLayer", "SoftmaxLayer",
           "sigmoid", "tanh", "ReLU", "linear", "load_data_shared",
           "expand_mnist", "size", "single_threaded_blas", "PRESETS",
           "ACTIVATIONS"]

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
    dtype = _float_dtype(dtype)
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
        dtype = _float_dtype(dtype)
        _check_layers(layers, mini_batch_size)
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
        _check_training_options(epochs, mini_batch_size,
                                self.mini_batch_size, eta, lmbda)
        _check_parameters(self.layers, self.dtype)
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
        return _check_data(name, data, self.layers[0],
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
        products are small, as in ``SGD``)."""
        x = _check_inputs(x, self.layers[0])
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
        return None, None


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
        self.filter_shape = _int_tuple("filter_shape", filter_shape, 4)
        self.image_shape = _int_tuple("image_shape", image_shape, 4)
        self.poolsize = _int_tuple("poolsize", poolsize, 2)
        self.activation_fn = _check_activation(activation_fn)
        self.p_dropout = 0.0   # no dropout in convolutional layers
        self.conv_shape = _conv_shape(self.filter_shape, self.image_shape,
                                      self.poolsize)
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
        conv = np.matmul(columns, filters.T, out=self._buffer(
            "conv", (len(columns), n_filters), dtype))
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
        delta_z = derivative(self.activation_fn, z, activation)
        delta_z *= delta.reshape((len(z),) + self.output_shape
                                 ).transpose(0, 2, 3, 1)
        delta_z = delta_z.reshape(-1, n_filters)
        argmax = argmax.reshape(-1, n_filters)
        nabla_b = delta_z.sum(axis=0)
        delta_conv = self._buffer("delta_conv", (len(columns), n_filters),
                                  z.dtype)
        conv_kernels.unpool(delta_z, argmax, delta_conv)
        nabla_w = _filters_from_rows(delta_conv.T @ columns,
                                     self.filter_shape)
        delta_in = None
        if need_delta_in:
            delta_columns = np.matmul(delta_conv, filters, out=self._buffer(
                "delta_columns", columns.shape, z.dtype))
            delta_in = self._buffer("delta_in", x_shape, z.dtype)
            conv_kernels.col2im(delta_columns, kh, kw, *self.poolsize,
                                delta_in)
            delta_in = delta_in.transpose(0, 3, 1, 2)
        if step is not None:
            nabla_w, nabla_b = self._step(nabla_w, nabla_b, step)
        return nabla_w, nabla_b, delta_in


class FullyConnectedLayer(_Buffered):
    """``activation_fn(a w + b)`` with ``w`` (n_in, n_out); with dropout,
    each input is kept with probability ``1 - p_dropout`` in training,
    and ``a w`` is scaled by ``1 - p_dropout`` in evaluation."""

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0):
        """Weights from N(0, 1/n_out), then biases from N(0, 1), drawn
        with ``np.random.normal``."""
        self._set_sizes(n_in, n_out, p_dropout)
        self.activation_fn = _check_activation(activation_fn)
        self.w = np.random.normal(loc=0.0, scale=np.sqrt(1.0 / n_out),
                                  size=(n_in, n_out))
        self.b = np.random.normal(loc=0.0, scale=1.0, size=(n_out,))

    def _set_sizes(self, n_in, n_out, p_dropout):
        self.n_in = _positive_int("n_in", n_in)
        self.n_out = _positive_int("n_out", n_out)
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
        z = a_in @ self.w + self.b
        activation = self.activation_fn(z)
        return activation, (a.shape, a_in, mask, z, activation)

    def evaluate(self, a):
        return self.activation_fn(self._evaluation_z(a))

    def _evaluation_z(self, a):
        product = a.reshape(len(a), self.n_in) @ self.w
        if self.p_dropout:
            product *= 1 - self.p_dropout
        return product + self.b

    def backward(self, delta, cache, need_delta_in=True, step=None):
        """``(nabla_w, nabla_b, delta_in)`` from ``delta`` (m, n_out), the
        gradient with the output; ``delta_in`` shaped like the input.
        With ``step`` = (eta, decay), takes the step (see ``_step``) and
        returns None for both gradients."""
        delta = delta * derivative(self.activation_fn, cache[3], cache[4])
        return self._gradients(delta, cache, need_delta_in, step)

    def _gradients(self, delta, cache, need_delta_in, step):
        """From ``delta``, the gradient with ``z``."""
        a_shape, a_in, mask = cache[:3]
        nabla_b = delta.sum(axis=0)
        delta_in = None
        if need_delta_in:   # from the weights before the step
            delta_in = _times_transpose(delta, self.w, self._buffer(
                "delta_in", a_in.shape, delta.dtype))
            if mask is not None:
                delta_in *= mask
            delta_in = delta_in.reshape(a_shape)
        if step is None:
            nabla_w = np.matmul(a_in.T, delta, out=self._buffer(
                "nabla_w", self.w.shape, delta.dtype))
        elif self.w.flags.c_contiguous:
            # w <- (1 - eta decay) w - eta a_in^T delta in one BLAS call:
            # no weight gradient stored, one pass over w
            eta, decay = step
            conv_kernels.gradient_step(self.w, np.ascontiguousarray(a_in),
                                       delta, -eta, 1 - eta * decay)
            self.b -= eta * nabla_b
            return None, None, delta_in
        else:
            nabla_w, nabla_b = self._step(a_in.T @ delta, nabla_b, step)
        return nabla_w, nabla_b, delta_in


def _times_transpose(delta, w, out):
    """``delta @ w.T`` (m, n_in) for ``delta`` (m, n_out) and ``w``
    (n_in, n_out), in ``out`` or a view of the same numbers.  In float32
    computed as ``(w @ delta.T).T``: OpenBLAS's sgemm took half the time
    that way round at these shapes (mini-batches of 10, a 2880 x 100
    layer; SkylakeX kernels), and its dgemm longer."""
    if delta.dtype == np.float32:
        return np.matmul(w, delta.T, out=out.reshape(out.shape[::-1])).T
    return np.matmul(delta, w.T, out=out)


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


#### The book's chapter 6 experiments, by name
#: The activation functions a saved network may name.
ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "ReLU": ReLU,
               "linear": linear}


def _conv_layer(m, activation_fn, filters=20, maps=1, size=28):
    """The book's 5x5 convolution with 2x2 max-pooling."""
    return ConvPoolLayer(image_shape=(m, maps, size, size),
                         filter_shape=(filters, maps, 5, 5), poolsize=(2, 2),
                         activation_fn=activation_fn)


def _shallow(m):
    return [FullyConnectedLayer(n_in=784, n_out=100),
            SoftmaxLayer(n_in=100, n_out=10)]


def _conv(m):
    return [_conv_layer(m, sigmoid),
            FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100),
            SoftmaxLayer(n_in=100, n_out=10)]


def _conv2(m, activation_fn=sigmoid):
    return [_conv_layer(m, activation_fn),
            _conv_layer(m, activation_fn, filters=40, maps=20, size=12),
            FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100,
                                activation_fn=activation_fn),
            SoftmaxLayer(n_in=100, n_out=10)]


def _conv2_relu(m):
    return _conv2(m, ReLU)


def _dropout(m):
    return [_conv_layer(m, ReLU),
            _conv_layer(m, ReLU, filters=40, maps=20, size=12),
            FullyConnectedLayer(n_in=40 * 4 * 4, n_out=1000,
                                activation_fn=ReLU, p_dropout=0.5),
            FullyConnectedLayer(n_in=1000, n_out=1000, activation_fn=ReLU,
                                p_dropout=0.5),
            SoftmaxLayer(n_in=1000, n_out=10, p_dropout=0.5)]


@dataclasses.dataclass(frozen=True)
class Preset:
    """One of the book's chapter 6 networks and the settings it was
    trained with.  ``layers(mini_batch_size)`` builds its layers, drawing
    their initial weights from ``np.random`` as network3 does;
    ``expanded``: trained on ``expand_mnist``'s 250,000 images;
    ``book_accuracy``: the test accuracy the book reports (at the best
    validation epoch, best of three runs)."""
    layers: object
    epochs: int
    eta: float
    lmbda: float
    expanded: bool
    book_accuracy: float
    description: str


#: The book's chapter 6 table, as ``fastnet train --net NAME`` trains it.
#: The settings are the book's text; its ``conv.py`` trains the expanded
#: data for 20 epochs where the text says 60.
PRESETS = {
    "shallow": Preset(_shallow, 60, 0.1, 0.0, False, 0.9780,
                      "784-100-10: one sigmoid layer of 100, softmax"),
    "conv": Preset(_conv, 60, 0.1, 0.0, False, 0.9878,
                   "one conv-pool layer (20 5x5 filters), FC 100, softmax"),
    "conv2": Preset(_conv2, 60, 0.1, 0.0, False, 0.9906,
                    "two conv-pool layers (20, 40 filters), FC 100, "
                    "softmax"),
    "conv2-relu": Preset(_conv2_relu, 60, 0.03, 0.1, False, 0.9923,
                         "conv2 with ReLU, L2 lmbda 0.1"),
    "conv2-relu-expanded": Preset(_conv2_relu, 60, 0.03, 0.1, True, 0.9937,
                                  "conv2-relu on the expanded data"),
    "dropout": Preset(_dropout, 40, 0.03, 0.0, True, 0.9960,
                      "conv2-relu, two FC-1000 ReLU layers, dropout 0.5, "
                      "expanded data"),
}


#### A network as a description (for model files)
def describe_layers(layers):
    """Each layer as a JSON-ready dict: ``kind`` ("ConvPoolLayer",
    "FullyConnectedLayer" or "SoftmaxLayer"), ``n_in``, ``n_out``,
    ``p_dropout``, ``activation`` (a name in ``ACTIVATIONS``), and for
    a conv layer ``filter_shape``, ``image_shape``, ``poolsize``."""
    described = []
    for j, layer in enumerate(layers):
        entry = {"kind": type(layer).__name__, "n_in": layer.n_in,
                 "n_out": layer.n_out, "p_dropout": layer.p_dropout}
        if not isinstance(layer, SoftmaxLayer):
            names = [name for name, fn in ACTIVATIONS.items()
                     if fn is layer.activation_fn]
            if not names:
                raise TypeError(f"layer {j} ({type(layer).__name__}): only "
                                f"{', '.join(ACTIVATIONS)} can be saved; "
                                f"got {layer.activation_fn!r}")
            entry["activation"] = names[0]
        if isinstance(layer, ConvPoolLayer):
            entry.update(filter_shape=list(layer.filter_shape),
                         image_shape=list(layer.image_shape),
                         poolsize=list(layer.poolsize))
        described.append(entry)
    return described


_FIELDS = {"ConvPoolLayer": {"kind", "n_in", "n_out", "p_dropout",
                             "activation", "filter_shape", "image_shape",
                             "poolsize"},
           "FullyConnectedLayer": {"kind", "n_in", "n_out", "p_dropout",
                                   "activation"},
           "SoftmaxLayer": {"kind", "n_in", "n_out", "p_dropout"}}


def parameter_shapes(description):
    """``[(w shape, b shape), ...]`` of the layers ``description``
    (from ``describe_layers``) describes, after checking every field and
    that the layers fit together, without building anything: a
    ValueError naming the layer and the field otherwise."""
    if not isinstance(description, list) or not description:
        raise ValueError("layers must be a non-empty list")
    shapes = []
    for j, entry in enumerate(description):
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in _FIELDS:
            raise ValueError(f"layer {j}: kind must be one of "
                             f"{', '.join(_FIELDS)}; got {str(kind)[:40]!r}")
        if set(entry) != _FIELDS[kind]:
            raise ValueError(f"layer {j} ({kind}): fields must be "
                             f"{sorted(_FIELDS[kind])}; got {sorted(entry)}")
        shapes.append(_layer_shapes(j, kind, entry))
    _check_arguments(lambda: _check_layer_sizes(description))
    return shapes


def _layer_shapes(j, kind, entry):
    name = f"layer {j} ({kind})"
    p = entry["p_dropout"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) \
            or not 0 <= p < 1 or (kind == "ConvPoolLayer" and p):
        raise ValueError(f"{name}: p_dropout must be a number in [0, 1) "
                         f"(0 in a ConvPoolLayer); got {str(p)[:40]}")
    if kind != "SoftmaxLayer" and entry["activation"] not in ACTIVATIONS:
        raise ValueError(f"{name}: activation must be one of "
                         f"{', '.join(ACTIVATIONS)}; got "
                         f"{str(entry['activation'])[:40]!r}")
    for field in ("n_in", "n_out"):
        _check_arguments(lambda: _positive_int(f"{name}: {field}",
                                               entry[field]))
    if kind != "ConvPoolLayer":
        return (entry["n_in"], entry["n_out"]), (entry["n_out"],)
    filters, image, pool = (_check_arguments(
        lambda: _int_tuple(f"{name}: {field}", entry[field], 4 - 2 * (
            field == "poolsize"))) for field in ("filter_shape",
                                                 "image_shape", "poolsize"))
    oh, ow = _check_arguments(lambda: _conv_shape(filters, image, pool))
    n_in = image[1] * image[2] * image[3]
    n_out = filters[0] * (oh // pool[0]) * (ow // pool[1])
    if (entry["n_in"], entry["n_out"]) != (n_in, n_out):
        raise ValueError(f"{name}: n_in, n_out are {entry['n_in']}, "
                         f"{entry['n_out']} but the shapes give {n_in}, "
                         f"{n_out}")
    return filters, (filters[0],)


def _check_layer_sizes(description):
    for j in range(1, len(description)):
        n_in, previous = description[j]["n_in"], description[j - 1]["n_out"]
        if n_in != previous:
            raise ValueError(f"layer {j} ({description[j]['kind']}) takes "
                             f"{n_in} inputs but layer {j - 1} gives "
                             f"{previous}")
    if description[-1]["kind"] != "SoftmaxLayer" or any(
            entry["kind"] == "SoftmaxLayer" for entry in description[:-1]):
        raise ValueError("the last layer, and only it, must be a "
                         "SoftmaxLayer")


def _check_arguments(check):
    """``check()``, its TypeError given as a ValueError: in a
    description every mistake is a bad value."""
    try:
        return check()
    except TypeError as error:
        raise ValueError(str(error)) from None


def from_description(description, params, mini_batch_size, dtype):
    """The ``Network`` of ``mini_batch_size`` that ``description`` (from
    ``describe_layers``) describes, with the weights and biases ``params``
    (``[w0, b0, w1, b1, ...]``, shaped as ``parameter_shapes`` says);
    ``np.random``'s state is left as it was."""
    shapes = parameter_shapes(description)
    expected = [shape for pair in shapes for shape in pair]
    if [tuple(np.shape(p)) for p in params] != expected:
        raise ValueError(f"params must have shapes {expected}")
    state = np.random.get_state()
    try:
        layers = [_layer_from(entry) for entry in description]
    finally:
        np.random.set_state(state)
    for layer, w, b in zip(layers, params[0::2], params[1::2]):
        layer.w, layer.b = w, b
    return Network(layers, mini_batch_size, dtype=dtype)


def _layer_from(entry):
    kind = entry["kind"]
    if kind == "SoftmaxLayer":
        return SoftmaxLayer(entry["n_in"], entry["n_out"], entry["p_dropout"])
    activation_fn = ACTIVATIONS[entry["activation"]]
    if kind == "FullyConnectedLayer":
        return FullyConnectedLayer(entry["n_in"], entry["n_out"],
                                   activation_fn, entry["p_dropout"])
    return ConvPoolLayer(entry["filter_shape"], entry["image_shape"],
                         entry["poolsize"], activation_fn)


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


#### Checks, all before any work
def _float_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError("dtype must be 'float32' or 'float64'")
    return dtype


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value}")
    return int(value)


def _int_tuple(name, value, length):
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of {length} integers; got "
                        f"{value!r}") from None
    if len(items) != length:
        raise ValueError(f"{name} must have {length} entries; got {value!r}")
    return tuple(_positive_int(f"{name} entry", v) for v in items)


def _check_activation(activation_fn):
    if not callable(activation_fn) or not callable(
            getattr(activation_fn, "prime", None)):
        raise TypeError(f"activation_fn must be sigmoid, tanh, ReLU, linear "
                        f"or a function with its derivative as .prime; got "
                        f"{activation_fn!r}")
    return activation_fn


def _conv_shape(filter_shape, image_shape, poolsize):
    """The (height, width) of the convolution, after checking that the
    filters fit the image and the pools divide the result."""
    n_filters, channels, kh, kw = filter_shape
    if channels != image_shape[1]:
        raise ValueError(f"ConvPoolLayer: filter_shape {filter_shape} has "
                         f"{channels} input feature maps but image_shape "
                         f"{image_shape} has {image_shape[1]}")
    if kh > image_shape[2] or kw > image_shape[3]:
        raise ValueError(f"ConvPoolLayer: filters of {kh}x{kw} do not fit "
                         f"images of {image_shape[2]}x{image_shape[3]}")
    oh, ow = image_shape[2] - kh + 1, image_shape[3] - kw + 1
    if oh % poolsize[0] or ow % poolsize[1]:
        raise ValueError(f"ConvPoolLayer: poolsize {poolsize} does not "
                         f"divide the {oh}x{ow} output of the convolution")
    return oh, ow


def _check_layers(layers, mini_batch_size):
    _positive_int("mini_batch_size", mini_batch_size)
    layer_types = (ConvPoolLayer, FullyConnectedLayer)
    if (not isinstance(layers, (list, tuple)) or not layers
            or not all(isinstance(layer, layer_types) for layer in layers)):
        raise TypeError("layers must be a non-empty list of ConvPoolLayer, "
                        "FullyConnectedLayer and SoftmaxLayer objects")
    if not isinstance(layers[-1], SoftmaxLayer):
        raise ValueError("the last layer must be a SoftmaxLayer (it gives "
                         "the cost)")
    for j, layer in enumerate(layers):
        name = f"layer {j} ({type(layer).__name__})"
        if isinstance(layer, SoftmaxLayer) and j != len(layers) - 1:
            raise ValueError(f"{name}: a SoftmaxLayer must be the last layer")
        if (isinstance(layer, ConvPoolLayer)
                and layer.image_shape[0] != mini_batch_size):
            raise ValueError(f"{name}: image_shape {layer.image_shape} is "
                             f"for mini-batches of {layer.image_shape[0]}, "
                             f"but mini_batch_size is {mini_batch_size}")
        if j and layer.n_in != layers[j - 1].n_out:
            previous = layers[j - 1]
            raise ValueError(
                f"{name} takes {layer.n_in} inputs but layer {j - 1} "
                f"({type(previous).__name__}) gives {previous.n_out}")


def _input_description(layer):
    """How the first layer reads its input, for error messages."""
    if isinstance(layer, ConvPoolLayer):
        channels, height, width = layer.image_shape[1:]
        return (f"the first layer (ConvPoolLayer, image_shape "
                f"{layer.image_shape}) takes {channels}x{height}x{width} = "
                f"{layer.n_in}")
    return f"the first layer ({type(layer).__name__}) takes {layer.n_in}"


def _check_inputs(x, first_layer, name="x"):
    """``x`` as an array of examples in rows, checked for shape and
    values."""
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number) \
            or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"{name} must be a 2-D array of real numbers, one "
                        f"example per row; got {x.dtype} {x.shape}")
    if x.shape[1] != first_layer.n_in:
        raise ValueError(f"{name}: examples have {x.shape[1]} numbers but "
                         f"{_input_description(first_layer)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def _check_parameters(layers, dtype):
    """Each layer's ``w`` and ``b`` still of the shape and dtype it was
    built with (they are public and may have been replaced)."""
    for j, layer in enumerate(layers):
        shapes = {"w": (layer.filter_shape if isinstance(layer, ConvPoolLayer)
                        else (layer.n_in, layer.n_out)),
                  "b": (layer.filter_shape[0] if isinstance(
                      layer, ConvPoolLayer) else layer.n_out,)}
        for name, shape in shapes.items():
            value = getattr(layer, name)
            if not isinstance(value, np.ndarray) or value.shape != shape \
                    or value.dtype != dtype:
                raise ValueError(
                    f"layer {j} ({type(layer).__name__}): {name} must be a "
                    f"{dtype} array of shape {shape}; got "
                    f"{getattr(value, 'dtype', type(value).__name__)} "
                    f"{getattr(value, 'shape', '')}")


def _check_data(name, data, first_layer, n_classes, mini_batch_size):
    """``(X, y)`` as arrays, after checking shapes, labels and values."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y) of arrays")
    X = _check_inputs(data[0], first_layer, f"{name} X")
    y = np.asarray(data[1])
    if y.shape != (len(X),):
        raise ValueError(f"{name}: y must have shape ({len(X)},); got "
                         f"{y.shape}")
    if len(y) < mini_batch_size:
        raise ValueError(f"{name} has {len(y)} examples, fewer than one "
                         f"mini-batch of {mini_batch_size}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or np.any(y != np.round(y)):
            raise TypeError(f"{name}: labels y must be integers; got "
                            f"{y.dtype}")
        y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"{name}: labels must be in 0..{n_classes - 1}; got "
                         f"{y.min()}..{y.max()}")
    return X, y


def _check_training_options(epochs, mini_batch_size, network_batch, eta,
                            lmbda):
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) \
            or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer; got "
                         f"{epochs!r}")
    if mini_batch_size != network_batch:
        raise ValueError(f"SGD's mini_batch_size {mini_batch_size!r} differs "
                         f"from the network's {network_batch}")
    for name, value, lowest in (("eta", eta, "positive"),
                                ("lmbda", lmbda, "non-negative")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not np.isfinite(value) \
                or (value <= 0 if lowest == "positive" else value < 0):
            raise ValueError(f"{name} must be a {lowest} number; got "
                             f"{value!r}")
