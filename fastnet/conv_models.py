"""The book's chapter 6 networks by name, and any ``fastnet.network3``
network as a plain description for model files.

``PRESETS`` holds the networks of the book's chapter 6 table with the
settings it trained them with (``fastnet train --net NAME`` trains
them).  ``describe_layers`` turns a network's layers into JSON-ready
dicts, ``parameter_shapes`` checks such a description without building
anything, and ``from_description`` builds the network again: together
they are how ``fastnet.model_file`` saves and loads chapter 6 networks.

The layers, the activation functions and ``ACTIVATIONS`` (the names a
description may give them) are ``fastnet.network3``'s; this module builds
on that one, and ``fastnet.network3`` still answers for the names here
(``network3.PRESETS`` and the rest), loading them on first use.
"""

import dataclasses

import numpy as np

from . import validation as check
from .network3 import ACTIVATIONS, ConvPoolLayer, FullyConnectedLayer, \
    Network, ReLU, SoftmaxLayer, sigmoid

__all__ = ["PRESETS", "Preset", "ACTIVATIONS", "describe_layers",
           "parameter_shapes", "from_description"]


#### The book's chapter 6 experiments, by name
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
        _check_arguments(lambda: check.positive_int(f"{name}: {field}",
                                                    entry[field]))
    if kind != "ConvPoolLayer":
        return (entry["n_in"], entry["n_out"]), (entry["n_out"],)
    filters, image, pool = (_check_arguments(
        lambda: check.int_tuple(f"{name}: {field}", entry[field],
                                2 if field == "poolsize" else 4))
        for field in ("filter_shape", "image_shape", "poolsize"))
    oh, ow = _check_arguments(lambda: check.conv_shape(filters, image,
                                                       pool))
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


def _check_arguments(call):
    """``call()``, its TypeError given as a ValueError: in a
    description every mistake is a bad value."""
    try:
        return call()
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
