"""Comparing layer lists and saying exactly where they differ."""

import numpy as np


class CheckFailure(AssertionError):
    """A check found a difference: the message says where and by how much.
    An ``AssertionError``, so test runners report it as a failed test."""


def as_layers(value, count, name):
    """``value`` as a list of ``count`` float arrays, or a message."""
    if isinstance(value, np.ndarray) or not hasattr(value, "__len__"):
        return None, (f"{name} is a {type(value).__name__}, not a list of "
                      f"{count} arrays, one per layer")
    if len(value) != count:
        return None, f"{name} has {len(value)} layers, expected {count}"
    arrays = []
    for i, array in enumerate(value):
        try:
            array = np.asarray(array)
        except Exception as error:  # ragged or odd objects
            return None, f"{name}[{i}] is not an array: {error}"
        if array.dtype.kind not in "fiu":
            return None, f"{name}[{i}] has dtype {array.dtype}, not numbers"
        arrays.append(array)
    return arrays, None


def shape_problem(arrays, shapes, name, other_shapes=None):
    """A message for the first array whose shape is wrong, else None."""
    for i, (array, shape) in enumerate(zip(arrays, shapes)):
        if array.shape == shape:
            continue
        hint = ""
        if array.shape == shape[::-1]:
            hint = " (transposed?)"
        elif other_shapes and array.shape == other_shapes[i]:
            hint = " (nabla_b and nabla_w swapped? Nielsen returns " \
                   "(nabla_b, nabla_w), biases first)"
        elif array.ndim == 2 and array.shape[0] == shape[0] and \
                shape[1] == 1:
            hint = " (one column per sample: not summed over the " \
                   "mini-batch?)"
        return f"{name}[{i}] has shape {array.shape}, expected {shape}{hint}"
    return None


def layer_difference(actual, expected, name, atol, scale):
    """A message for the entry of ``actual`` furthest from ``expected``
    when that distance exceeds ``atol``, else None.  ``scale`` is the
    layer's size the distance is reported against."""
    actual = actual.astype(np.float64)
    with np.errstate(invalid="ignore"):
        distance = np.abs(actual - expected)
    bad = ~np.isfinite(distance)
    if not bad.any() and distance.max(initial=0.0) <= atol:
        return None
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
    else:
        index = tuple(int(i) for i in np.unravel_index(np.argmax(distance),
                                                       distance.shape))
    got, want = actual[index], expected[index]
    scale = scale if scale > 0 else 1.0
    where = f"{name}, entry {list(index)}"
    if not np.isfinite(got):
        return f"{where} is {got} where the reference has {want:.6g}"
    difference = abs(got - want)
    return (f"{where} is {got:.6g} where the reference has {want:.6g}: "
            f"difference {difference:.3g}, relative error "
            f"{difference / scale:.3g} (of the layer's scale {scale:.3g}), "
            f"tolerance {atol / scale:.3g}")


def first_difference(actual, expected, name, atols, scales):
    """The message for the first layer of ``actual`` that differs from
    ``expected`` beyond its ``atol``, else None."""
    for i, (a, e, atol, scale) in enumerate(zip(actual, expected, atols,
                                                scales)):
        problem = layer_difference(a, e, f"{name}[{i}]", atol, scale)
        if problem:
            return problem
    return None


def largest_relative_difference(actual, expected):
    """max over layers of max |a - e| / max |e|: one number for 'how far
    apart are these two networks'."""
    worst = 0.0
    for a, e in zip(actual, expected):
        scale = float(np.max(np.abs(e))) or 1.0
        worst = max(worst, float(np.max(np.abs(np.asarray(a, float) - e)))
                    / scale)
    return worst
