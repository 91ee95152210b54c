"""Checks on everything a user hands to a network.

Every public entry point runs these before any kernel, so bad input gets
a ``TypeError`` or ``ValueError`` that names the argument and the problem,
never a traceback from deep inside NumPy or Numba, and the network is
left as it was.  They also turn good input into the layouts the kernels
want: one sample per row, C-contiguous (see ``fastnet.kernels``).
"""

import numbers
import operator
import os

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: A bound on any layer's size, so that arithmetic on sizes stays exact;
#: the memory check refuses far smaller networks on real machines.
MAX_LAYER_SIZE = 2 ** 48
_NUMERIC_KINDS = "biuf"


def check_sizes(sizes):
    """Layer sizes as a list of ints: at least two layers (input and
    output), each with at least one neuron.  An ordered sequence: a set
    or a dict has no order to give the layers."""
    if not isinstance(sizes, (list, tuple, range, np.ndarray)) or \
            (isinstance(sizes, np.ndarray) and sizes.ndim != 1):
        raise TypeError(f"sizes must be a list or tuple of layer sizes such "
                        f"as [784, 30, 10], got {type(sizes).__name__} "
                        f"{sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"sizes must name at least an input and an output "
                         f"layer, got {list(sizes)!r}")
    checked = []
    for i, size in enumerate(sizes):
        size = _integer(f"sizes[{i}]", size)
        if size < 1:
            raise ValueError(f"sizes[{i}] must be at least 1, got {size}")
        if size > MAX_LAYER_SIZE:
            raise ValueError(f"sizes[{i}] is {_short(size)}, more neurons "
                             f"than any machine can hold (at most "
                             f"{MAX_LAYER_SIZE:,})")
        checked.append(size)
    return checked


def sizes_of_layers(weights):
    """The layer sizes a list of ``(n_out, n_in)`` weight matrices
    implies, checked."""
    if isinstance(weights, np.ndarray) or not isinstance(
            weights, (list, tuple)):
        raise TypeError(f"weights must be a list of (n_out, n_in) arrays, "
                        f"got {type(weights).__name__}")
    if not weights:
        raise ValueError("weights must hold at least one layer")
    shapes = [np.shape(w) for w in weights]
    for l, shape in enumerate(shapes):
        if len(shape) != 2:
            raise ValueError(f"weights[{l}] must be a 2-D (n_out, n_in) "
                             f"array, got shape {shape}")
    return check_sizes([shapes[0][1]] + [shape[0] for shape in shapes])


def layer_arrays(sizes, weights, biases):
    """``weights`` and ``biases`` as lists of arrays, checked against
    ``sizes``: one ``(n_{l+1}, n_l)`` and one ``(n_{l+1}, 1)`` array per
    layer, real numbers, no NaN or infinity."""
    layers = len(sizes) - 1
    for name, arrays in (("weights", weights), ("biases", biases)):
        if not isinstance(arrays, (list, tuple)) or len(arrays) != layers:
            raise ValueError(
                f"{name} must be a list of {layers} arrays for sizes "
                f"{sizes}, got {type(arrays).__name__} of length "
                f"{len(arrays) if hasattr(arrays, '__len__') else '?'}")
    weights = [np.asarray(w) for w in weights]
    biases = [np.asarray(b) for b in biases]
    for l in range(layers):
        rows, cols = sizes[l + 1], sizes[l]
        for name, array, shape in (("weights", weights[l], (rows, cols)),
                                   ("biases", biases[l], (rows, 1))):
            if array.shape != shape:
                raise ValueError(f"{name}[{l}] has shape {array.shape}, "
                                 f"expected {shape} for sizes {sizes}")
            if array.dtype.kind not in "biuf":
                raise TypeError(f"{name}[{l}] must hold real numbers, got "
                                f"dtype {array.dtype}")
            if not np.isfinite(array).all():
                raise ValueError(f"{name}[{l}] contains NaN or infinity")
    return weights, biases


def parameter_count(sizes):
    """Weights and biases of a network of layer ``sizes`` (Python ints,
    so that no size overflows)."""
    return sum((int(n_in) + 1) * int(n_out)
               for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def available_memory():
    """Bytes of memory this process can still take (Linux's MemAvailable;
    elsewhere the free physical pages), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


#: Copies of the parameters a network holds at once while it trains: the
#: arrays it was given, the packed vector, the copy being trained and the
#: copy handed back after each epoch.
PARAMETER_COPIES = 4


def check_memory(what, needed):
    """Refuse, before allocating, ``needed`` bytes that the machine does
    not have: a ``ValueError`` naming ``what`` and both figures."""
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(f"{what} needs {_bytes(needed)} of memory, but only "
                         f"{_bytes(available)} are available")


def check_network_memory(sizes, itemsize=8, mini_batch_size=0):
    """``check_memory`` for a network of layer ``sizes`` that trains on
    mini-batches of ``mini_batch_size``: its parameter copies and the
    mini-batch's workspace (every layer's activations, two error
    buffers as wide as the widest layer, the targets)."""
    workspace = mini_batch_size * (sum(sizes) + 2 * max(sizes) + sizes[-1])
    what = f"a network of sizes {list(sizes)} " \
           f"({parameter_count(sizes):,} parameters)"
    if mini_batch_size:
        what += f" training on mini-batches of {mini_batch_size:,}"
    check_memory(what, itemsize * (PARAMETER_COPIES * parameter_count(sizes)
                                   + workspace))


def _bytes(count):
    """``count`` bytes in words, for any integer (no float overflow)."""
    count = int(count)
    for power, unit in ((4, "TB"), (3, "GB"), (2, "MB"), (1, "kB")):
        if count >= 1000 ** power:
            whole, rest = divmod(count * 10 // 1000 ** power, 10)
            return f"{whole:,}.{rest} {unit}"
    return f"{count:,} bytes"


def _short(number):
    """A huge integer in a few characters."""
    text = str(number) if number < 10 ** 4000 else "more than 10**4000"
    return text if len(text) <= 20 else f"about 10**{len(text) - 1}"


def finite_parameters(params):
    """Refuse a packed parameter vector holding NaN or infinity (weights
    edited in place after they were checked)."""
    with np.errstate(all="ignore"):
        total = params.sum()
    if not np.isfinite(total) and not np.isfinite(params).all():
        raise ValueError("the weights or biases contain NaN or infinity")


def check_count(name, value, minimum):
    """An integer argument such as ``epochs`` or ``mini_batch_size``."""
    value = _integer(name, value)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_rate(name, value, allow_zero=False):
    """A real, finite, positive (or, with ``allow_zero``, non-negative)
    hyper-parameter such as ``eta`` or ``lmbda``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} "
                        f"of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {bound} number, "
                         f"got {value!r}")
    return value


def check_dtype(dtype):
    """float32 or float64, given as a NumPy dtype, type or name."""
    try:
        checked = np.dtype(dtype)
    except (TypeError, ValueError):
        checked = None
    # Test dtype None first: np.dtype(None) is float64, and so
    # ``None in FLOAT_DTYPES`` is true.
    if dtype is None or checked is None or checked not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return checked


def storage_dtype(given, compute):
    """The dtype in which inputs are kept for the kernels: float32 input
    stays float32 (the kernels widen it exactly), anything else becomes
    the compute dtype."""
    return given if given == np.float32 else compute


def column_or_matrix(name, a, n_features):
    """``a`` as ``sample_matrix`` checks it, except that a lone float
    column ``(n_features, 1)`` is returned unchecked for NaN and infinity:
    the compiled forward pass checks that one in the same call
    (``kernels.column_forward``; the caller raises ``nonfinite_column``)."""
    if type(a) is np.ndarray and a.shape == (n_features, 1) and \
            a.dtype.kind == "f":
        return a
    return sample_matrix(name, a, n_features)


def nonfinite_column(name):
    """The error ``sample_matrix`` raises for a column holding NaN or
    infinity."""
    return ValueError(f"{name} contains NaN or infinity (first in column 0)")


def sample_matrix(name, a, n_features, finite=True):
    """An ``(n_features, m)`` array of samples as columns, checked: two
    dimensions, a numeric dtype, the right number of rows, no NaN or inf
    (unless ``finite`` is False: the caller checks that itself, with
    ``finite_columns`` at the latest), at least one sample."""
    if type(a) is np.ndarray and a.ndim == 2 and a.dtype.kind == "f" and \
            a.shape[0] == n_features and a.shape[1] > 0 and \
            (not finite or _sum_is_finite(a)):
        return a  # the common case, checked in a microsecond
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be a numeric array, got "
                            f"{type(a).__name__} ({error})") from None
    _check_numeric(name, a.dtype)
    if a.ndim != 2:
        hint = ""
        if a.ndim == 1:
            hint = (f": a flat vector; fastnet takes a column vector "
                    f"({a.shape[0]}, 1) or a matrix ({n_features}, m) with "
                    f"one sample per column (use {name}.reshape(-1, 1))")
        raise ValueError(f"{name} must be 2-dimensional, got shape "
                         f"{a.shape}{hint}")
    if a.shape[0] != n_features:
        hint = ""
        if a.shape[1] == n_features:
            hint = (f"; it looks like one sample per row: pass its "
                    f"transpose {name}.T")
        raise ValueError(f"{name} has shape {a.shape}, but the network "
                         f"takes {n_features} inputs, so it must have "
                         f"{n_features} rows (one sample per column){hint}")
    if a.shape[1] == 0:
        raise ValueError(f"{name} holds no samples (shape {a.shape})")
    if finite:
        finite_columns(name, a)
    return a


def _sum_is_finite(a):
    """``threads.all_finite``: the sum of ``a`` finite (on every core for
    a large ``a``); imported here, as threads loads the kernels."""
    from .threads import all_finite
    return all_finite(a)


def finite_columns(name, a):
    """Raise ``ValueError`` naming the first column of ``a`` that holds
    NaN or infinity, if any."""
    _check_finite(name, a, axis=0, what="column")


def as_rows(columns, dtype):
    """Samples-as-columns ``(n, m)`` -> C-contiguous rows ``(m, n)``
    (free when ``columns`` is the transpose of a C array)."""
    return np.ascontiguousarray(columns.T, dtype=dtype)


def input_rows(columns, compute):
    """Checked inputs as rows for the kernels, kept in float32 when given
    so (see ``storage_dtype``)."""
    return as_rows(columns, storage_dtype(columns.dtype, compute))


def labels_vector(name, y, count, classes):
    """Integer class labels ``(count,)`` in ``0 .. classes-1``, as intp."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of {count} integer "
                         f"labels, got shape {y.shape}")
    if y.dtype == object and all(isinstance(v, numbers.Integral) and
                                 not isinstance(v, bool) for v in y):
        # Python ints too large for any integer dtype: out of range.
        big = next(i for i, v in enumerate(y) if not 0 <= v < classes)
        raise ValueError(f"{name}[{big}] is {y[big]}, outside the network's "
                         f"{classes} classes 0..{classes - 1}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype "
                        f"{y.dtype}")
    if y.shape[0] != count:
        raise ValueError(f"{name} has {y.shape[0]} labels but there are "
                         f"{count} samples")
    _check_label_range(name + "[{}]", y, classes)
    return y.astype(np.intp, copy=False)


def target_rows(name, y, count, n_out, dtype):
    """Desired outputs as rows ``(count, n_out)`` in ``dtype``, from either
    integer labels ``(count,)`` (made one-hot) or an ``(n_out, count)``
    matrix of target columns."""
    y = np.asarray(y)
    if y.ndim == 1:
        labels = labels_vector(name, y, count, n_out)
        rows = np.zeros((count, n_out), dtype)
        rows[np.arange(count), labels] = 1
        return rows
    if y.ndim != 2 or y.shape != (n_out, count):
        raise ValueError(f"{name} must be {count} integer labels or an "
                         f"({n_out}, {count}) matrix of target columns, got "
                         f"shape {y.shape}")
    _check_numeric(name, y.dtype)
    _check_finite(name, y, axis=0, what="column")
    return as_rows(y, dtype)


def class_labels(name, y, count, classes):
    """Labels for scoring: integer labels ``(count,)``, or an
    ``(classes, count)`` one-hot matrix reduced by argmax."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape == (classes, count):
        _check_numeric(name, y.dtype)
        _check_finite(name, y, axis=0, what="column")
        return np.argmax(y, axis=0)
    return labels_vector(name, y, count, classes)


def pairs(name, data):
    """``data`` as a list of ``(x, y)`` pairs, not empty."""
    if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
        raise TypeError(f"{name} must be a list (or zip) of (x, y) tuples, "
                        f"got {type(data).__name__}")
    if not isinstance(data, list):
        data = list(data)
    if not data:
        raise ValueError(f"{name} is empty")
    return data


def unzip_pairs(name, data):
    """The ``x``s and the ``y``s of a list of ``(x, y)`` pairs."""
    try:
        return [x for x, _ in data], [y for _, y in data]
    except (TypeError, ValueError):
        for i, item in enumerate(data):
            if not isinstance(item, tuple) or len(item) != 2:
                raise TypeError(f"{name}[{i}] must be an (x, y) tuple, got "
                                f"{type(item).__name__}") from None
        raise


def stacked_columns(name, vectors, rows):
    """Stack ``n`` column vectors of shape ``(rows, 1)`` into an
    ``(n, rows)`` array, one vector per row, keeping their dtype.
    ``name.format(i)`` names the i-th vector in errors."""
    stacked = None
    try:
        # Every vector has ``rows`` rows and the first is (rows, 1), so
        # np.concatenate accepts them only if all are (rows, 1).
        if set(map(len, vectors)) == {rows} and \
                np.shape(vectors[0]) == (rows, 1):
            stacked = np.concatenate(vectors, axis=0)
    except (TypeError, ValueError):
        pass
    if stacked is None or stacked.dtype.kind not in _NUMERIC_KINDS:
        _explain_bad_column(name, vectors, rows)
    stacked = stacked.reshape(len(vectors), rows)
    bad = _first_nonfinite(stacked, axis=1)
    if bad is not None:
        raise ValueError(f"{name.format(bad)} contains NaN or infinity")
    return stacked


def _explain_bad_column(name, vectors, rows):
    """Raise the error that says which vector cannot be stacked, and why."""
    for i, v in enumerate(vectors):
        shape = np.shape(v)
        if shape != (rows, 1):
            hint = ""
            if shape == (rows,):
                hint = " (a flat vector: reshape it to a column)"
            elif shape == ():
                hint = (" (a label? training examples need target columns, "
                        "such as the one-hot vectors of load_data_wrapper's "
                        "training data)")
            raise ValueError(f"{name.format(i)} has shape {shape}, expected "
                             f"({rows}, 1){hint}")
        _check_numeric(name.format(i), np.asarray(v).dtype)
    raise TypeError(f"{name.format('i')} could not be stacked into one array")


def labels_from_pairs(name, labels, classes):
    """Integer labels taken from ``(x, label)`` pairs, checked."""
    for i, label in enumerate(labels):
        if isinstance(label, (bool, np.bool_)) or not isinstance(
                label, (numbers.Integral, np.integer)):
            if isinstance(label, np.ndarray) and label.ndim == 0 \
                    and label.dtype.kind in "iu":
                continue
            shape = getattr(label, "shape", None)
            hint = (" (a one-hot vector? evaluation data takes integer "
                    "labels, as load_data_wrapper's test data has)"
                    if shape == (classes, 1) else "")
            raise TypeError(f"{name.format(i)} must be an integer class "
                            f"label, got {type(label).__name__}"
                            f"{' of shape ' + str(shape) if shape else ''}"
                            f"{hint}")
    try:
        labels = np.asarray(labels, dtype=np.intp)
    except OverflowError:  # a label beyond any array index
        big = next(i for i, label in enumerate(labels)
                   if not -2**62 < int(label) < 2**62)
        raise ValueError(f"{name.format(big)} is {int(labels[big])}, outside "
                         f"the network's {classes} classes "
                         f"0..{classes - 1}") from None
    _check_label_range(name, labels, classes)
    return labels


def _integer(name, value):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r} of type "
                        f"{type(value).__name__}") from None


def _check_numeric(name, dtype):
    if dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")


def _first_nonfinite(a, axis):
    """Index along the other axis of the first sample holding NaN or inf."""
    # A NaN or inf anywhere makes the sum NaN or inf, so a finite sum
    # proves every entry finite; only then is the slower exact test
    # needed (the sum of finite entries can also overflow).
    if a.dtype.kind != "f":
        return None
    with np.errstate(all="ignore"):
        total = a.sum()
    if np.isfinite(total) or np.isfinite(a).all():
        return None
    return int(np.flatnonzero(~np.isfinite(a).all(axis=axis))[0])


def _check_finite(name, a, axis, what):
    bad = _first_nonfinite(a, axis)
    if bad is not None:
        raise ValueError(f"{name} contains NaN or infinity (first in "
                         f"{what} {bad})")


def _check_label_range(template, y, classes):
    """``template.format(i)`` names the i-th label."""
    bad = np.flatnonzero((y < 0) | (y >= classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{template.format(i)} is {y[i]}, outside the "
                         f"network's {classes} classes 0..{classes - 1}")


#### Chapter 6: fastnet.network3's layers, data and training options
# In network3's own words (its tests pin the messages), which is why a
# few have a twin above in other words: ``float_dtype`` beside
# ``check_dtype``, ``positive_int`` beside ``check_count``.

def _layer_classes():
    """network3's ``(ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer)``,
    imported at call time: importing network3 here at load time would be
    a cycle, since network3 imports this module."""
    from .network3 import ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
    return ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer


def float_dtype(dtype):
    """float32 or float64 as a NumPy dtype, from anything ``np.dtype``
    takes (None too: NumPy reads it as float64)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError("dtype must be 'float32' or 'float64'")
    return dtype


def positive_int(name, value):
    """``value`` as an int of at least 1 (a bool is not an integer)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value}")
    return int(value)


def int_tuple(name, value, length):
    """``value`` as a tuple of ``length`` ints, each at least 1."""
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of {length} integers; got "
                        f"{value!r}") from None
    if len(items) != length:
        raise ValueError(f"{name} must have {length} entries; got {value!r}")
    return tuple(positive_int(f"{name} entry", v) for v in items)


def check_activation(activation_fn):
    """``activation_fn``, callable and with its derivative as ``.prime``
    (network3 has no automatic differentiation to find it)."""
    if not callable(activation_fn) or not callable(
            getattr(activation_fn, "prime", None)):
        raise TypeError(f"activation_fn must be sigmoid, tanh, ReLU, linear "
                        f"or a function with its derivative as .prime; got "
                        f"{activation_fn!r}")
    return activation_fn


def conv_shape(filter_shape, image_shape, poolsize):
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


def check_layers(layers, mini_batch_size):
    """A ``Network``'s layers: a softmax layer last and only last, each
    taking what the one before gives, conv layers built for mini-batches
    of ``mini_batch_size``."""
    positive_int("mini_batch_size", mini_batch_size)
    ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer = _layer_classes()
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
    if isinstance(layer, _layer_classes()[0]):   # a ConvPoolLayer
        channels, height, width = layer.image_shape[1:]
        return (f"the first layer (ConvPoolLayer, image_shape "
                f"{layer.image_shape}) takes {channels}x{height}x{width} = "
                f"{layer.n_in}")
    return f"the first layer ({type(layer).__name__}) takes {layer.n_in}"


def check_inputs(x, first_layer, name="x"):
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


def check_parameters(layers, dtype):
    """Each layer's ``w`` and ``b`` still of the shape and dtype it was
    built with (they are public and may have been replaced)."""
    ConvPoolLayer = _layer_classes()[0]
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


def check_data(name, data, first_layer, n_classes, mini_batch_size):
    """``(X, y)`` as arrays, after checking shapes, labels and values."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y) of arrays")
    X = check_inputs(data[0], first_layer, f"{name} X")
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


def check_training_options(epochs, mini_batch_size, network_batch, eta,
                           lmbda):
    """``SGD``'s counts and rates; its ``mini_batch_size`` must be the
    one the network was built for (``network_batch``)."""
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
