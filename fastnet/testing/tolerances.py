"""Tolerances of the kit, derived from the arithmetic rather than guessed.

Notation: ``eps`` is the machine epsilon of the precision the code under
test computes in (2.2e-16 for float64, 1.2e-7 for float32), ``u = eps / 2``
the unit roundoff, ``sizes = (n_0, ..., n_L)`` and ``m`` the number of
samples in the mini-batch.

Gradients.  One entry of layer ``l``'s gradient is a chain of sums of
products: the forward pass (fan-ins ``n_0 .. n_{L-1}``), the backward pass
(fan-ins ``n_2 .. n_L``) and the sum over the ``m`` samples, plus a few
roundings per layer for the sigmoid, sigmoid' and the elementwise
products.  A computed sum of ``K`` products is within ``gamma_K ~ K u``
of the exact sum times the sum of the magnitudes of its terms (Higham,
*Accuracy and Stability of Numerical Algorithms*, ch. 3), and to first
order these bounds add up along the chain.  So an implementation is
within ``K u * R`` of the exact gradient, where

    K = m + (n_0 + ... + n_{L-1}) + (n_2 + ... + n_L) + 8 L

and ``R`` is the *magnitude* of the gradient: the same backpropagation
run on absolute values (the output error ``|cost.delta(z, a, y)|``,
``|W|``, ``sigma' + eps``), which is at least the gradient's own size and
equals it when nothing cancels.
Two implementations (the one under test and the reference) are within
``2 K u R = K eps R`` of each other.  The sigmoid turns a rounding error
``dz`` in its input into a relative error of at most ``|dz|`` in sigma
and sigma', which the first-order bound leaves out; a factor 4 covers it
on the kit's data.  Hence the default

    gradient_rtol = 4 K eps,   |g - g_ref| <= gradient_rtol * max R_l

per layer: 4e-14 for ``(5, 4, 4, 3)`` with 4 samples in float64, 8e-13 for
``(784, 30, 10)`` with 10 samples, 4e-4 for the latter in float32.  It is
a worst-case bound, and sharp enough: over 20 seeds of the default sweep
and of ``(784, 30, 10)``, the oracle, a matrix backprop and fastnet's two
networks stayed below 0.03 of it (below 0.07 of the one-step bound), and
``tests/test_testing.py`` asserts below 0.1; the three planted mistakes
(a transposed gradient, the bias summed from the second sample, sigmoid'
left out) show at relative errors of 0.1 to 5, and even one product
rounded to float32 in float64 code (1e-8) is caught.

Finite differences.  The central difference ``(C(p + h) - C(p - h)) / 2h``
of the cost (always float64; the cross-entropy from the output's ``z``
without cancellation, see ``reference_side.total_cost``) has
a truncation error ``h^2 C''' / 6`` and a rounding error ``~ eps C / h``;
``h = eps^(1/3) max(1, |p|)`` balances them.  The truncation error is
not guessed but measured: the difference at ``2h`` minus the one at
``h`` is ``3 h^2 C''' / 6`` to leading order, a third of it is the
truncation error at ``h``.  An entry passes when it is within
``4 (truncation + 2 K eps_64 C / h) + gradient_rtol R`` of the finite
difference.

One step.  ``w' = d w - (eta / m) sum g`` (``d = 1 - eta lmbda / n`` for
network2, else 1) rounds three times on each side (the product by ``d``,
the product by ``eta / m``, the difference), at most ``3 u |w'|`` each, and
carries the gradient's error, so per layer, with the same factor 4,

    step_atol = 12 eps max|w'| + (eta / m) * gradient_rtol * max R_l.

Whole epochs.  Each step adds its own rounding, and training carries
earlier differences forward, shrinking or amplifying them.  The kit
measures the amplification instead of guessing it: it reruns the
reference from starting weights perturbed by ``gradient_rtol`` (relative)
and takes ``G``, the largest growth of that perturbation so far.  After
``s`` steps a rounding of each step, amplified at most like the
perturbation, gives at most ``s G step_rtol``; the kit allows 4 times
that (see ``fastnet.testing.training``).
"""

import numpy as np

from fastnet.reference import sigmoid, sigmoid_prime

from . import reference_side

#: Room for what the first-order bounds leave out (see the module text).
SAFETY = 4.0


def eps_of(*dtypes):
    """Machine epsilon of the least precise of the floating ``dtypes``
    (non-floating ones count as float64)."""
    eps = np.finfo(np.float64).eps
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            eps = max(eps, float(np.finfo(dtype).eps))
    return float(eps)


def chain_length(sizes, batch_size):
    """``K``: the number of terms summed along the chain that computes
    one gradient entry (see the module text)."""
    layers = len(sizes) - 1
    return batch_size + sum(sizes[:-1]) + sum(sizes[2:]) + 8 * layers


def gradient_rtol(sizes, batch_size, eps):
    """The default relative tolerance of a gradient, ``4 K eps``."""
    return SAFETY * chain_length(sizes, batch_size) * eps


def gradient_magnitude(weights, biases, X, Y, cost, eps):
    """Per layer, the largest entry of ``R``: the gradient summed over the
    columns of ``X (n_in, m)``, ``Y (n_out, m)``, computed on absolute
    values, from the output error ``|cost.delta(z, a, y)| + eps |a - y|``
    of the reference's ``cost`` (None: chapter 1's quadratic cost); the
    ``eps |a - y|`` keeps the tolerance above zero where sigma'(z)
    underflows.  Returns ``(weight_scales, bias_scales)``, lists of
    floats."""
    activations, zs = [X], []
    for w, b in zip(weights, biases):
        zs.append(w @ activations[-1] + b)
        activations.append(sigmoid(zs[-1]))
    slope = [sigmoid_prime(z) + eps for z in zs]
    delta = np.abs(reference_side.output_error(cost, zs[-1], activations[-1],
                                               Y)) + \
        eps * np.abs(activations[-1] - Y)
    weight_scales, bias_scales = [], []
    for l in range(len(weights) - 1, -1, -1):
        weight_scales.append(float(np.max(delta @ np.abs(activations[l]).T)))
        bias_scales.append(float(np.max(np.sum(delta, axis=1))))
        if l:
            delta = (np.abs(weights[l]).T @ delta) * slope[l - 1]
    return weight_scales[::-1], bias_scales[::-1]


def difference_step(value):
    """The central-difference step for a float64 parameter ``value``."""
    return np.finfo(np.float64).eps ** (1 / 3) * max(1.0, abs(value))
