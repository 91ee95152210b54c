"""The per-sample ``network3.py`` of Nielsen's book (chapter 6): the oracle.

Convolutional networks: layers of convolution and max-pooling, fully
connected layers and a softmax output layer trained on the log-likelihood
cost, with L2 regularisation and dropout.  Nielsen's code builds these
with Theano, which derives the gradients itself; here every step is
written out in plain NumPy, one training example at a time, with direct
convolution loops and explicit pooling windows, so that the fast
``fastnet.network3`` can be tested against it.  Slow and obvious on
purpose, and, like the other oracles, nothing is checked.

What network3 does, and this module with it:

- Data are pairs ``(X, y)``: ``X`` float ``(n, 784)`` images as rows,
  ``y`` int ``(n,)`` labels (arrays, not Theano shared variables).
- ``ConvPoolLayer`` convolves (a true convolution, the filter flipped, as
  Theano's ``conv2d``), max-pools over non-overlapping windows, then adds
  a bias per feature map and applies the activation function.
- ``SGD`` visits the training mini-batches in order, without shuffling;
  the cost is the mean log-likelihood over the mini-batch plus
  ``0.5*lmbda*sum(w**2)/num_training_batches`` summed over every layer's
  weights (biases are not regularised).
- Accuracy is measured over whole mini-batches only (a remainder of
  fewer than ``mini_batch_size`` examples is left out), after every epoch
  on the validation data, and on the test data whenever the validation
  accuracy is the best so far.
- Initial weights are drawn with ``np.random.normal`` layer by layer,
  weights then biases: N(0, 1/n_out) weights (n_out being, for a
  ``ConvPoolLayer``, ``n_filters*filter_height*filter_width/pool_area``
  rounded down, as Python 2 divided) and N(0, 1) biases; the softmax layer
  starts at zero.

Where this module has to choose, the fast one makes the same choice:

- Dropout masks come from ``net.rng``, a ``np.random.Generator`` seeded
  with ``Network(..., seed=0)`` (network3 seeds its own Theano stream
  with a fixed number, so its masks cannot be reproduced).  At the start
  of each mini-batch, for each layer with ``p_dropout > 0`` in order, a
  ``(mini_batch_size, n_in)`` mask keeps input ``j`` of example ``k``
  when ``rng.random() < 1 - p_dropout``; example ``k`` uses row ``k``.
- The gradient of max-pooling goes to the first maximum of its window
  (row-major order).  Theano's CPU code gives it to every element equal
  to the maximum, which differs only at exact ties.
- ``ReLU'(0)`` is 1, as Theano's gradient of ``maximum(0, z)`` gives.
"""

import numpy as np


#### Activation functions and their derivatives
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def tanh(z):
    return np.tanh(z)


def ReLU(z):
    return np.maximum(0.0, z)


def linear(z):
    return z


sigmoid.prime = lambda z: sigmoid(z) * (1 - sigmoid(z))
tanh.prime = lambda z: 1 - np.tanh(z) ** 2
ReLU.prime = lambda z: (z >= 0).astype(z.dtype)
linear.prime = lambda z: np.ones_like(z)


#### The network
class Network:

    def __init__(self, layers, mini_batch_size, seed=0):
        """``layers``: the layers in order, input side first;
        ``mini_batch_size``: the number of examples per SGD step.
        ``seed`` seeds ``self.rng``, the generator of dropout masks."""
        self.layers = layers
        self.mini_batch_size = mini_batch_size
        self.rng = np.random.default_rng(seed)

    def feedforward(self, x):
        """The softmax output ``(n_out,)`` for one image ``x``, without
        dropout (each layer's weights scaled by its ``1 - p_dropout``)."""
        a = x
        for layer in self.layers:
            a, _ = layer.feedforward(a, layer.evaluation_mask())
        return a

    def SGD(self, training_data, epochs, mini_batch_size, eta,
            validation_data, test_data, lmbda=0.0):
        """Train by mini-batch stochastic gradient descent, printing
        network3's lines."""
        training_x, training_y = training_data
        num_training_batches = len(training_y) // mini_batch_size
        best_validation_accuracy = 0.0
        test_accuracy = None
        for epoch in range(epochs):
            for minibatch_index in range(num_training_batches):
                iteration = num_training_batches * epoch + minibatch_index
                if iteration % 1000 == 0:
                    print("Training mini-batch number {0}".format(iteration))
                batch = slice(minibatch_index * mini_batch_size,
                              (minibatch_index + 1) * mini_batch_size)
                self.update_mini_batch(training_x[batch], training_y[batch],
                                       eta, lmbda, num_training_batches)
            validation_accuracy = self.accuracy(validation_data)
            print("Epoch {0}: validation accuracy {1:.2%}".format(
                epoch, validation_accuracy))
            if validation_accuracy >= best_validation_accuracy:
                print("This is the best validation accuracy to date.")
                best_validation_accuracy = validation_accuracy
                best_iteration = iteration
                if test_data is not None:
                    test_accuracy = self.accuracy(test_data)
                    print("The corresponding test accuracy is {0:.2%}".format(
                        test_accuracy))
        print("Finished training network.")
        if epochs > 0:
            print("Best validation accuracy of {0:.2%} obtained at "
                  "iteration {1}".format(best_validation_accuracy,
                                         best_iteration))
        if test_accuracy is not None:
            print("Corresponding test accuracy of {0:.2%}".format(
                test_accuracy))

    def update_mini_batch(self, xs, ys, eta, lmbda, num_training_batches):
        """One gradient step on the mini-batch ``xs`` (m, n_in), ``ys``
        (m,): the mean of the per-example gradients plus the L2 term's
        ``lmbda * w / num_training_batches``."""
        masks = [layer.training_masks(self.rng, len(ys))
                 for layer in self.layers]
        nabla_w = [np.zeros(layer.w.shape) for layer in self.layers]
        nabla_b = [np.zeros(layer.b.shape) for layer in self.layers]
        for k, (x, y) in enumerate(zip(xs, ys)):
            delta_nabla_w, delta_nabla_b = self.backprop(
                x, y, [mask[k] for mask in masks])
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
        for layer, nw, nb in zip(self.layers, nabla_w, nabla_b):
            decay = lmbda * layer.w / num_training_batches
            layer.w = layer.w - eta * (nw / len(ys) + decay)
            layer.b = layer.b - eta * nb / len(ys)

    def backprop(self, x, y, masks):
        """``(nabla_w, nabla_b)``: the gradient of the cost
        ``-log a_y`` of one example (image ``x``, label ``y``) with each
        layer's weights and biases, the layers' inputs multiplied by
        ``masks`` (one per layer, all ones where there is no dropout)."""
        a, caches = x, []
        for layer, mask in zip(self.layers, masks):
            a, cache = layer.feedforward(a, mask)
            caches.append(cache)
        # The output layer's backprop takes the label y in place of a delta.
        nabla_w, nabla_b, delta = [], [], y
        for layer, cache in reversed(list(zip(self.layers, caches))):
            nw, nb, delta = layer.backprop(delta, cache)
            nabla_w.insert(0, nw)
            nabla_b.insert(0, nb)
        return nabla_w, nabla_b

    def accuracy(self, data):
        """The fraction of correctly classified examples in the whole
        mini-batches of ``data`` = ``(X, y)``."""
        xs, ys = data
        n = len(ys) // self.mini_batch_size * self.mini_batch_size
        return np.mean([np.argmax(self.feedforward(x)) == y
                        for x, y in zip(xs[:n], ys[:n])])


#### Layer types
class ConvPoolLayer:
    """A convolutional layer followed by max-pooling: output feature map
    ``f`` is ``activation_fn(maxpool(sum_c x_c * w_fc) + b_f)``."""

    def __init__(self, filter_shape, image_shape, poolsize=(2, 2),
                 activation_fn=sigmoid):
        """``filter_shape``: (number of filters, input feature maps, filter
        height, filter width); ``image_shape``: (mini-batch size, input
        feature maps, image height, image width); ``poolsize``: (height,
        width) of the pooling windows."""
        self.filter_shape = filter_shape
        self.image_shape = image_shape
        self.poolsize = poolsize
        self.activation_fn = activation_fn
        self.p_dropout = 0.0   # no dropout in convolutional layers
        n_out = (filter_shape[0] * np.prod(filter_shape[2:])
                 // np.prod(poolsize))
        self.w = np.random.normal(loc=0, scale=np.sqrt(1.0 / n_out),
                                  size=filter_shape)
        self.b = np.random.normal(loc=0, scale=1.0, size=(filter_shape[0],))

    def training_masks(self, rng, m):
        return np.ones((m, 1))

    def evaluation_mask(self):
        return 1.0

    def feedforward(self, a, mask):
        """``(output (filters, pooled height, pooled width), cache)`` for
        one input ``a`` of ``prod(image_shape[1:])`` numbers."""
        x = np.reshape(a, self.image_shape[1:])
        conv = convolve(x, self.w)
        pooled, argmax = max_pool(conv, self.poolsize)
        z = pooled + self.b[:, None, None]
        return self.activation_fn(z), (x, conv.shape, argmax, z)

    def backprop(self, delta, cache):
        """``(nabla_w, nabla_b, delta_in)`` from ``delta``, the gradient of
        the cost with this layer's output; ``delta_in`` is the gradient
        with its input, shaped like it."""
        x, conv_shape, argmax, z = cache
        delta = np.reshape(delta, z.shape) * self.activation_fn.prime(z)
        nabla_b = delta.sum(axis=(1, 2))
        delta_conv = unpool(delta, argmax, conv_shape)
        # conv[f, i, j] = sum_{c,p,q} x[c, i+p, j+q] w[f, c, kh-1-p, kw-1-q]
        kh, kw = self.filter_shape[2:]
        oh, ow = conv_shape[1:]
        nabla_w = np.zeros(self.w.shape)
        delta_x = np.zeros(x.shape)
        for p in range(kh):
            for q in range(kw):
                window = x[:, p:p + oh, q:q + ow]
                tap = (slice(None), slice(None), kh - 1 - p, kw - 1 - q)
                nabla_w[tap] = np.einsum("fij,cij->fc", delta_conv, window)
                delta_x[:, p:p + oh, q:q + ow] += np.einsum(
                    "fij,fc->cij", delta_conv, self.w[tap])
        return nabla_w, nabla_b, delta_x


class FullyConnectedLayer:
    """``activation_fn(w^T a + b)``, ``w`` of shape (n_in, n_out) as in
    network3; with dropout, each input is kept with probability
    ``1 - p_dropout`` in training and the weights are scaled by
    ``1 - p_dropout`` in evaluation."""

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0):
        self.n_in = n_in
        self.n_out = n_out
        self.activation_fn = activation_fn
        self.p_dropout = p_dropout
        self.w = np.random.normal(loc=0.0, scale=np.sqrt(1.0 / n_out),
                                  size=(n_in, n_out))
        self.b = np.random.normal(loc=0.0, scale=1.0, size=(n_out,))

    def training_masks(self, rng, m):
        """(m, n_in) masks of 1.0 (kept) and 0.0 (dropped), or ones."""
        if self.p_dropout == 0:
            return np.ones((m, 1))
        return (rng.random((m, self.n_in)) < 1 - self.p_dropout).astype(float)

    def evaluation_mask(self):
        return 1 - self.p_dropout

    def feedforward(self, a, mask):
        """``(output (n_out,), cache)``: the input, flattened, is
        multiplied by ``mask`` (a dropout mask, or ``1 - p_dropout``)."""
        a_in = np.reshape(a, self.n_in) * mask
        z = np.dot(a_in, self.w) + self.b
        return self.activation_fn(z), (a, a_in, mask, z)

    def backprop(self, delta, cache):
        a, a_in, mask, z = cache
        # flat, whatever shape the layer above read the output in
        delta = np.reshape(delta, self.n_out) * self.activation_fn.prime(z)
        return self.gradients(delta, a, a_in, mask)

    def gradients(self, delta, a, a_in, mask):
        """From ``delta``, the gradient with ``z``: ``(nabla_w, nabla_b,
        delta_in)``."""
        nabla_w = np.outer(a_in, delta)
        delta_in = np.dot(self.w, delta) * mask
        return nabla_w, delta, np.reshape(delta_in, np.shape(a))


class SoftmaxLayer(FullyConnectedLayer):
    """The output layer: ``softmax(w^T a + b)``, trained on the
    log-likelihood cost ``-log a_y``; weights and biases start at zero."""

    def __init__(self, n_in, n_out, p_dropout=0.0):
        self.n_in = n_in
        self.n_out = n_out
        self.activation_fn = softmax
        self.p_dropout = p_dropout
        self.w = np.zeros((n_in, n_out))
        self.b = np.zeros((n_out,))

    def backprop(self, y, cache):
        """For the label ``y``: the gradient of ``-log a_y`` with ``z`` is
        ``a - e_y``."""
        a, a_in, mask, z = cache
        delta = softmax(z)
        delta[y] -= 1.0
        return self.gradients(delta, a, a_in, mask)


#### Convolution and pooling, one example at a time
def convolve(x, w):
    """The valid convolution of ``x`` (channels, height, width) with the
    filters ``w`` (filters, channels, kh, kw), the filters flipped as in a
    true convolution: (filters, height - kh + 1, width - kw + 1)."""
    n_filters, channels, kh, kw = w.shape
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    conv = np.zeros((n_filters, oh, ow))
    for f in range(n_filters):
        for i in range(oh):
            for j in range(ow):
                patch = x[:, i:i + kh, j:j + kw]
                conv[f, i, j] = np.sum(patch * w[f, :, ::-1, ::-1])
    return conv


def max_pool(conv, poolsize):
    """``(pooled, argmax)``: the maximum of each non-overlapping
    ``poolsize`` window of each feature map, and where it is (the first
    maximum in row-major order), as (map, row, column) of ``conv``."""
    ph, pw = poolsize
    maps, height, width = conv.shape
    pooled = np.zeros((maps, height // ph, width // pw))
    argmax = np.zeros(pooled.shape + (3,), dtype=int)
    for f in range(maps):
        for i in range(height // ph):
            for j in range(width // pw):
                window = conv[f, i * ph:(i + 1) * ph, j * pw:(j + 1) * pw]
                p, q = np.unravel_index(np.argmax(window), window.shape)
                pooled[f, i, j] = window[p, q]
                argmax[f, i, j] = (f, i * ph + p, j * pw + q)
    return pooled, argmax


def unpool(delta, argmax, conv_shape):
    """The gradient with the convolution's output: each pooled output's
    ``delta`` goes to the position of its window's maximum."""
    delta_conv = np.zeros(conv_shape)
    for index in np.ndindex(delta.shape):
        delta_conv[tuple(argmax[index])] += delta[index]
    return delta_conv


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)
