"""A scikit-learn classifier on fastnet's chapter 3 network.

``NetworkClassifier`` follows scikit-learn's conventions (samples as
rows, hyper-parameters as constructor arguments, fitted state in
attributes ending in ``_``) so that ``GridSearchCV``, ``Pipeline`` and
``cross_val_score`` work, and with joblib's Dask backend run on a
cluster.  Underneath is ``fastnet.network2.Network``, which keeps the
book's layout of samples as columns: this module transposes at the
border.  Needs scikit-learn (``pip install scikit-learn``); the rest of
fastnet does not.
"""

import contextlib

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:
    raise ImportError(f"fastnet.sklearn needs scikit-learn 1.6 or later: "
                      f"pip install 'fastnet[sklearn]' ({error})") from None

from . import costs, training
from . import validation as check


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """Nielsen's sigmoid network trained by mini-batch SGD, as a
    scikit-learn classifier.

    ``hidden_layer_sizes`` are the hidden layers (``(30,)`` gives the
    book's [n_features, 30, n_classes]; ``()`` no hidden layer).  Each
    class has one output neuron; the labels may be of any type.
    ``epochs``, ``mini_batch_size``, ``eta`` (learning rate) and ``lmbda``
    (L2 regularisation, network2's weight decay) are ``fit``'s;
    ``cost`` is ``"cross-entropy"`` or ``"quadratic"``; ``init``
    ``"default"`` draws weights from N(0, 1/n_in), ``"large"`` from
    N(0, 1).  ``random_state`` (an int, a NumPy Generator or None for a
    fresh draw) seeds the initial weights and the mini-batch order, as
    ``seed`` does in the rest of fastnet; it has scikit-learn's name so
    that its tools can set it.  ``dtype`` is the arithmetic's precision.

    After ``fit``: ``network_`` (the ``network2.Network``), ``classes_``,
    ``n_features_in_`` and ``history_`` (one record per epoch)."""

    def __init__(self, hidden_layer_sizes=(30,), *, epochs=30,
                 mini_batch_size=10, eta=0.5, lmbda=0.0,
                 cost="cross-entropy", init="default", random_state=None,
                 dtype="float64"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.epochs = epochs
        self.mini_batch_size = mini_batch_size
        self.eta = eta
        self.lmbda = lmbda
        self.cost = cost
        self.init = init
        self.random_state = random_state
        self.dtype = dtype

    def fit(self, X, y):
        """Train a new network on ``X`` (n_samples, n_features) and the
        labels ``y`` (n_samples,) for ``epochs`` epochs; return self."""
        with _unchanged_if_refused(self):
            hidden = self._check_hyperparameters()
            X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
            check_classification_targets(y)
            classes, labels = np.unique(y, return_inverse=True)
            _check_two_classes(classes)
        self._start(X.shape[1], hidden, classes)
        return self._train(X, labels, self.epochs)

    def partial_fit(self, X, y, classes=None):
        """One epoch on ``X`` and ``y``, starting a network on the first
        call (which needs ``classes``, every label there will be, unless
        ``y`` holds them all) and continuing it afterwards.  A refused
        call changes nothing: a first one leaves the estimator unfitted."""
        first = not hasattr(self, "network_")
        with _unchanged_if_refused(self):
            hidden = self._check_hyperparameters() if first else None
            X, y = validate_data(self, X, y, dtype=(np.float64, np.float32),
                                 reset=first)
            check_classification_targets(y)
            classes = self._partial_classes(y, classes, first)
        if first:
            self._start(X.shape[1], hidden, classes)
        return self._train(X, np.searchsorted(self.classes_, y), 1)

    def _partial_classes(self, y, classes, first):
        """The classes of a ``partial_fit`` call, checked against ``y``
        and (after the first call) against ``classes_``."""
        if first:
            classes = np.unique(y if classes is None else classes)
            _check_two_classes(classes)
        else:
            if classes is not None and not np.array_equal(
                    np.unique(classes), self.classes_):
                raise ValueError(f"classes {np.unique(classes)!r} differ "
                                 f"from those of the first partial_fit, "
                                 f"{self.classes_!r}")
            classes = self.classes_
        unknown = ~np.isin(y, classes)
        if unknown.any():
            raise ValueError(f"y holds labels not in classes_: "
                             f"{np.unique(y[unknown])!r}")
        return classes

    def predict_proba(self, X):
        """The output activations of each sample, normalised to sum to
        one: (n_samples, n_classes), columns in ``classes_`` order.
        (Sigmoid outputs are not probabilities; scaled, they rank the
        classes as ``predict`` does.)"""
        outputs = self._outputs(X)
        totals = outputs.sum(axis=1, keepdims=True)
        # All outputs 0 (saturated): no class is preferred.
        return np.divide(outputs, totals, out=np.full_like(
            outputs, 1 / outputs.shape[1]), where=totals > 0)

    def predict(self, X):
        """The class of each sample: the label whose output neuron is the
        most active."""
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=1)]

    # ------------------------------------------------------------------

    def _check_hyperparameters(self):
        """The hidden layers' sizes, every hyper-parameter checked; a
        ``ValueError`` or ``TypeError`` naming the bad one otherwise."""
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, (int, np.integer)):
            hidden = (hidden,)
        try:
            if isinstance(hidden, (str, bytes)):
                raise TypeError
            sizes = check.check_sizes([1, *hidden, 1])
        except TypeError:
            raise TypeError(f"hidden_layer_sizes must be a sequence of "
                            f"layer sizes such as (30,), got "
                            f"{self.hidden_layer_sizes!r}") from None
        except ValueError as error:
            raise ValueError(f"hidden_layer_sizes: {error}".replace(
                "sizes[", "layer [")) from None
        check.check_count("epochs", self.epochs, 1)
        check.check_count("mini_batch_size", self.mini_batch_size, 1)
        check.check_rate("eta", self.eta)
        check.check_rate("lmbda", self.lmbda, allow_zero=True)
        check.check_dtype(self.dtype)
        if self.init not in training.INITIALIZERS:
            raise ValueError(f"init must be one of "
                             f"{', '.join(training.INITIALIZERS)}; got "
                             f"{self.init!r}")
        costs.by_name(self.cost)
        return sizes[1:-1]

    def _start(self, n_features, hidden, classes):
        """A new network for ``n_features`` inputs and one output per
        class, built as ``fastnet train`` builds one, and the random
        stream that trains it."""
        self._rng = _generator(self.random_state)
        self.classes_ = classes
        self.network_ = training.build_network(training.Settings(
            sizes=(n_features, *hidden, len(classes)), cost=self.cost,
            init=self.init), self._rng)
        self.history_ = []

    def _train(self, X, labels, epochs):
        self.network_.fit(X.T, labels, epochs=epochs,
                          mini_batch_size=self.mini_batch_size, eta=self.eta,
                          lmbda=self.lmbda, seed=self._rng, dtype=self.dtype)
        self.history_.extend(self.network_.history_)
        return self

    def _outputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32),
                          reset=False)
        return self.network_.feedforward(X.T).T


def _check_two_classes(classes):
    if len(classes) < 2:
        raise ValueError(f"y holds one class only ({classes!r}); a "
                         f"classifier needs at least two")


@contextlib.contextmanager
def _unchanged_if_refused(estimator):
    """The estimator's attributes as they were if the block raises, so
    that a refused call leaves no half-set state (``validate_data`` sets
    ``n_features_in_`` before the labels can be checked)."""
    before = dict(vars(estimator))
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(before)
        raise


def _generator(random_state):
    """A NumPy Generator from an int, a Generator, a legacy RandomState
    (drawing its seed) or None."""
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(2**31)
    return np.random.default_rng(random_state)
