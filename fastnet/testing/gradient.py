"""``check_gradient``: a user's backprop against the reference and
against central finite differences."""

from collections import namedtuple

import numpy as np

from . import reference_side, tolerances
from .cases import (check_seed, random_examples, random_parameters,
                    subject_cases)
from .compare import (CheckFailure, as_layers, first_difference,
                      shape_problem)
from .seeding import preserved_random_state
from .targets import Subject, cast_layers

AGAINST = ("reference", "finite-differences")


class GradientReport(namedtuple("GradientReport",
                                "mode cases reference_margin fd_margin")):
    """What passed: the form of backprop checked, the number of cases, and
    the largest observed error as a fraction of its tolerance against the
    reference and against finite differences (None when not checked)."""

    def __str__(self):
        parts = [f"{self.cases} cases, backprop {self.mode}"]
        for name, margin in (("reference", self.reference_margin),
                             ("finite differences", self.fd_margin)):
            if margin is not None:
                parts.append(f"vs {name}: largest error {margin:.2g} of "
                             f"tolerance")
        return "; ".join(parts)


MODES = {True: "on the whole matrix (gradient summed over the columns)",
         False: "per sample"}


def check_gradient(backprop, sizes=None, *, batch_sizes=None, matrix=None,
                   reduction="sum", against=AGAINST, cost="auto",
                   dtype=np.float64, rtol=None, seed=0):
    """Check a backpropagation against the reference and finite differences.

    ``backprop`` is a network class or factory ``make(sizes)``, a network
    instance or its bound ``backprop``, or a function
    ``backprop(weights, biases, x, y)``; it must return Nielsen's
    ``(nabla_b, nabla_w)``, lists shaped like the biases and weights.
    For each case (the default sweep ``fastnet.testing.CASES``, or every
    one of ``sizes`` with every one of ``batch_sizes``) the kit draws
    weights, biases and samples, sets them, and compares the gradient with
    ``fastnet.reference``'s (summed one sample at a time) and with central
    differences of the cost at a few entries per layer.

    ``matrix``: True if backprop takes ``x (n_in, m)``, ``y (n_out, m)``
    and returns the gradient summed (``reduction="sum"``, Nielsen's
    convention) or averaged (``"mean"``) over the columns; False to call it
    one column at a time; None to find out (it is called on a two-column
    matrix: if that fails or gives a bias gradient per column, per sample).
    ``cost``: "auto" reads a network2-style ``cost`` attribute (any class
    with ``fn(a, y)`` and ``delta(z, a, y)``, which the reference network
    then runs; without one, chapter 1's quadratic cost); or give None
    (chapter 1), a cost class, or a built-in cost's name ("quadratic",
    "cross-entropy", or network2's "QuadraticCost", "CrossEntropyCost").
    Finite differences sum a user's own cost from its ``fn``.  ``dtype``:
    the precision the weights and samples are handed over in; the
    tolerance follows the least precise of it and the arrays returned.
    ``rtol`` overrides the derived tolerance (``fastnet.testing.tolerances``).

    Raises ``AssertionError`` (``CheckFailure``) naming the case, the
    layer, weights or biases, the entry, both values, the relative error
    and the tolerance; returns a ``GradientReport`` otherwise.  The
    caller's random states and network are left as they were.
    """
    seed = check_seed(seed)
    subject = Subject(backprop, "backprop")
    against = _check_options(against, reduction, matrix, dtype, rtol)
    if not (isinstance(cost, str) and cost == "auto"):
        cost = reference_side.resolve_cost(cost)
    cases = subject_cases(subject.fixed_sizes, sizes, batch_sizes)
    margins = {"reference": 0.0, "finite-differences": 0.0}
    note = ""
    with preserved_random_state(), subject.restoring():
        networks = {}
        for i, case in enumerate(cases):
            if case.sizes not in networks:
                networks[case.sizes] = subject.network(case.sizes, seed)
            net = networks[case.sizes]
            run = _Run(subject, net, case, seed + i, dtype, cost, reduction)
            if matrix is None:
                matrix, note = run.detect_matrix()
            run.matrix, run.note = matrix, note
            for name in against:
                margin = run.check(name, rtol)
                margins[name] = max(margins[name], margin)
    return GradientReport(MODES[matrix], len(cases),
                          margins["reference"] if "reference" in against
                          else None,
                          margins["finite-differences"]
                          if "finite-differences" in against else None)


def _check_options(against, reduction, matrix, dtype, rtol):
    against = (against,) if isinstance(against, str) else tuple(against)
    if not against or any(a not in AGAINST for a in against):
        raise ValueError(f"against must name some of {AGAINST}, got "
                         f"{against!r}")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got "
                         f"{reduction!r}")
    if matrix not in (None, True, False):
        raise TypeError(f"matrix must be None, True or False, got {matrix!r}")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if rtol is not None and not (isinstance(rtol, (int, float)) and
                                 0 < rtol < 1):
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}")
    return against


class _Run:
    """One case: parameters, samples, the reference and the user's answer."""

    def __init__(self, subject, net, case, seed, dtype, cost, reduction):
        self.subject, self.net, self.case = subject, net, case
        self.cost = reference_side.resolve_cost(cost, net)
        weights, biases = random_parameters(case.sizes, seed)
        X, _, Y = random_examples(case.sizes, case.batch_size, seed)
        self.weights, self.biases = (cast_layers(weights, dtype),
                                     cast_layers(biases, dtype))
        self.X, self.Y = X.astype(dtype), Y.astype(dtype)
        self.dtype, self.reduction, self.matrix = dtype, reduction, None
        self.note = ""
        self.shapes_w = [w.shape for w in self.weights]
        self.shapes_b = [b.shape for b in self.biases]
        self._gradient = None

    def where(self):
        cost = "" if self.cost is None else \
            f", cost {reference_side.cost_name(self.cost)}"
        return (f"check_gradient, sizes {list(self.case.sizes)} with "
                f"{self.case.batch_size} sample(s){cost}, backprop "
                f"{MODES[self.matrix]}{self.note}")

    def detect_matrix(self):
        """Whether backprop takes a matrix of samples, and why not: it
        fails on two columns, or gives a bias gradient per column."""
        X, Y = self.X[:, :1].repeat(2, axis=1), self.Y[:, :1].repeat(2, 1)
        try:
            result = self._call(X, Y)
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
        else:
            first = np.shape(result[0][0]) if _indexable(result) else None
            if first != (self.shapes_b[0][0], 2):
                return True, ""
            problem = f"it gave nabla_b[0] of shape {first}"
        return False, (f" (not on a matrix: given two columns, {problem}; "
                       f"pass matrix=True to check it on matrices)")

    def _call(self, x, y):
        result, _, _ = self.subject.call(self.net, self.weights, self.biases,
                                         x, y)
        return result

    def _parse(self, result):
        """``(nabla_b, nabla_w)`` as float arrays, or (None, message)."""
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            return None, (f"backprop returned a {type(result).__name__}, "
                          f"expected the pair (nabla_b, nabla_w)")
        layers = len(self.weights)
        nabla_b, problem = as_layers(result[0], layers, "nabla_b")
        if problem is None:
            nabla_w, problem = as_layers(result[1], layers, "nabla_w")
        if problem is None:
            problem = shape_problem(nabla_b, self.shapes_b, "nabla_b",
                                    self.shapes_w) or \
                shape_problem(nabla_w, self.shapes_w, "nabla_w",
                              self.shapes_b)
        return (None, problem) if problem else (nabla_b, nabla_w)

    def gradient(self):
        """The user's gradient, summed (or averaged) like the reference's
        will be; a CheckFailure if it cannot be had."""
        if self._gradient is not None:
            return self._gradient
        columns = [(self.X, self.Y)] if self.matrix else \
            [(self.X[:, [j]], self.Y[:, [j]]) for j in range(self.X.shape[1])]
        total_b = total_w = None
        for x, y in columns:
            try:
                result = self._call(x, y)
            except Exception as error:
                raise CheckFailure(f"{self.where()}: backprop raised "
                                   f"{type(error).__name__}: {error}") \
                    from error
            nabla_b, nabla_w = self._parse(result)
            if nabla_b is None:
                raise CheckFailure(f"{self.where()}: {nabla_w}")
            if total_b is None:
                total_b, total_w = nabla_b, nabla_w
            else:
                total_b = [t + n for t, n in zip(total_b, nabla_b)]
                total_w = [t + n for t, n in zip(total_w, nabla_w)]
        self._gradient = total_b, total_w
        return self._gradient

    def _scaling(self):
        """What the summed reference must be multiplied by."""
        return 1.0 / self.case.batch_size if self.matrix and \
            self.reduction == "mean" else 1.0

    def _eps_and_scales(self):
        nabla_b, nabla_w = self.gradient()
        eps = tolerances.eps_of(self.dtype, *[a.dtype for a in
                                              nabla_b + nabla_w])
        weights = [w.astype(np.float64) for w in self.weights]
        biases = [b.astype(np.float64) for b in self.biases]
        scale_w, scale_b = tolerances.gradient_magnitude(
            weights, biases, self.X.astype(np.float64),
            self.Y.astype(np.float64), self.cost, eps)
        k = self._scaling()
        return eps, [s * k for s in scale_w], [s * k for s in scale_b]

    def check(self, against, rtol):
        """Compare with the reference or finite differences; the largest
        error as a fraction of its tolerance, or a CheckFailure."""
        nabla_b, nabla_w = self.gradient()
        eps, scale_w, scale_b = self._eps_and_scales()
        if rtol is None:
            rtol = tolerances.gradient_rtol(self.case.sizes,
                                            self.case.batch_size, eps)
        if against == "reference":
            return self._against_reference(nabla_b, nabla_w, rtol, scale_w,
                                           scale_b)
        return self._against_differences(nabla_b, nabla_w, rtol, scale_w,
                                         scale_b)

    def _against_reference(self, nabla_b, nabla_w, rtol, scale_w, scale_b):
        net = reference_side.network(self.case.sizes, self.weights,
                                     self.biases, self.cost)
        X, Y = self.X.astype(np.float64), self.Y.astype(np.float64)
        expected_b, expected_w = reference_side.gradient(net, X, Y)
        k = self._scaling()
        expected_b = [e * k for e in expected_b]
        expected_w = [e * k for e in expected_w]
        atol_w = [rtol * s for s in scale_w]
        atol_b = [rtol * s for s in scale_b]
        problem = first_difference(nabla_w, expected_w, "nabla_w", atol_w,
                                   scale_w) or \
            first_difference(nabla_b, expected_b, "nabla_b", atol_b, scale_b)
        if problem:
            raise CheckFailure(f"{self.where()}: against the reference "
                               f"gradient: {problem}")
        return _margin(nabla_w + nabla_b, expected_w + expected_b,
                       atol_w + atol_b)

    def _against_differences(self, nabla_b, nabla_w, rtol, scale_w, scale_b):
        """At a few entries per layer, the user's gradient against central
        differences of the float64 cost (tolerance in ``tolerances``)."""
        weights = [w.astype(np.float64) for w in self.weights]
        biases = [b.astype(np.float64) for b in self.biases]
        X, Y = self.X.astype(np.float64), self.Y.astype(np.float64)
        rng = np.random.RandomState(self.case.batch_size + len(weights))
        chain = tolerances.chain_length(self.case.sizes, self.case.batch_size)

        def cost():
            return reference_side.total_cost(weights, biases, X, Y,
                                             self.cost)

        rounding = 2 * chain * np.finfo(np.float64).eps * abs(cost())
        k, worst = self._scaling(), 0.0
        for name, params, grads, scales in (
                ("nabla_w", weights, nabla_w, scale_w),
                ("nabla_b", biases, nabla_b, scale_b)):
            for layer, (p, g) in enumerate(zip(params, grads)):
                for index in _probe_entries(g, rng):
                    d1, d2, h = _differences(p, index, cost)
                    atol = k * tolerances.SAFETY * (
                        abs(d2 - d1) / 3 + rounding / h) + rtol * scales[layer]
                    got, want = float(g[index]), d1 * k
                    worst = max(worst, abs(got - want) / atol)
                    if not abs(got - want) <= atol:
                        raise CheckFailure(
                            f"{self.where()}: against finite differences: "
                            f"{name}[{layer}], entry {list(index)} is "
                            f"{got:.6g} where the central difference of the "
                            f"cost gives {want:.6g}: difference "
                            f"{abs(got - want):.3g}, relative error "
                            f"{abs(got - want) / scales[layer]:.3g} (of the "
                            f"layer's scale {scales[layer]:.3g}), tolerance "
                            f"{atol / scales[layer]:.3g}")
        return worst


def _indexable(result):
    try:
        result[0][0]
    except Exception:
        return False
    return True


def _probe_entries(gradient, rng, count=3):
    """The entry of largest magnitude and ``count`` random others."""
    g = np.asarray(gradient, dtype=np.float64)
    entries = [np.unravel_index(np.argmax(np.abs(g)), g.shape)]
    for flat in rng.choice(g.size, min(g.size, count), replace=False):
        entries.append(np.unravel_index(flat, g.shape))
    return list(dict.fromkeys(tuple(int(i) for i in e) for e in entries))


def _differences(p, index, cost):
    """Central differences of ``cost`` in ``p[index]`` at steps h and 2h."""
    original = p[index]
    h = tolerances.difference_step(original)
    values = []
    for step in (h, 2 * h):
        p[index] = original + step
        up = cost()
        p[index] = original - step
        down = cost()
        p[index] = original
        values.append((up - down) / (2 * step))
    return values[0], values[1], h


def _margin(actual, expected, atols):
    """The largest |difference| as a fraction of its tolerance."""
    worst = 0.0
    for a, e, atol in zip(actual, expected, atols):
        difference = float(np.max(np.abs(a.astype(np.float64) - e)))
        worst = max(worst, difference / atol if atol > 0 else 0.0)
    return worst
