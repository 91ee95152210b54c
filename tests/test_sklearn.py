"""fastnet.sklearn.NetworkClassifier: scikit-learn's own estimator checks,
and that it is exactly network2's network trained on the transposed
data."""

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa

import fastnet  # noqa: E402
from fastnet import network2  # noqa: E402
from fastnet.sklearn import NetworkClassifier  # noqa: E402


# Every check passes: none is marked as an expected failure.  (Two skip
# themselves: the pandas one without pandas, the array-API one without
# SCIPY_ARRAY_API.)
@parametrize_with_checks([NetworkClassifier()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    """400 MNIST training images as rows, pixels in [0, 1)."""
    images, labels = fastnet.load_mnist("train")
    X = fastnet.to_columns(images[:400]).T
    return X, labels[:400]


def test_it_is_network2_on_the_transposed_data(digits):
    """The same seed gives bit-identical weights and outputs: one
    Generator draws the initial weights, then each epoch's order."""
    X, y = digits
    model = NetworkClassifier((20,), epochs=3, eta=0.5, lmbda=1.0,
                              random_state=5).fit(X, y)
    rng = np.random.default_rng(5)
    net = network2.Network([784, 20, 10], seed=rng)
    net.fit(X.T, y, epochs=3, mini_batch_size=10, eta=0.5, lmbda=1.0,
            seed=rng)
    for mine, theirs in zip(model.network_.weights, net.weights):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(model.predict(X), net.predict(X.T))
    outputs = net.feedforward(X.T).T
    np.testing.assert_array_equal(
        model.predict_proba(X), outputs / outputs.sum(axis=1, keepdims=True))
    assert model.n_features_in_ == 784 and len(model.history_) == 3
    assert model.score(X, y) > 0.5      # learnt something in 3 epochs


def test_labels_of_any_type_and_their_order(digits):
    X, y = digits
    # Names that sort as the digits do: output neuron k is still digit k,
    # so the network is the same and only the labels differ.
    names = np.array([f"digit {k}" for k in range(10)], dtype=object)
    model = NetworkClassifier(epochs=2, random_state=0).fit(X, names[y])
    numbers = NetworkClassifier(epochs=2, random_state=0).fit(X, y)
    assert list(model.classes_) == list(names)
    np.testing.assert_array_equal(model.predict_proba(X),
                                  numbers.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X),
                                  names[numbers.predict(X)])
    assert model.score(X, names[y]) == numbers.score(X, y)
    odd = y % 2 == 1
    binary = NetworkClassifier(epochs=2, random_state=0).fit(X, odd)
    assert list(binary.classes_) == [False, True]
    assert binary.predict_proba(X).shape == (400, 2)
    np.testing.assert_allclose(binary.predict_proba(X).sum(axis=1), 1,
                               rtol=1e-12)


def test_partial_fit_continues_where_fit_would(digits):
    """Two partial_fit epochs with one seed are two epochs of fit."""
    X, y = digits
    whole = NetworkClassifier(epochs=2, random_state=1).fit(X, y)
    steps = NetworkClassifier(random_state=1)
    steps.partial_fit(X, y, classes=np.arange(10))
    steps.partial_fit(X, y)
    for a, b in zip(whole.network_.weights, steps.network_.weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="labels not in classes_"):
        steps.partial_fit(X[:5], np.array([1, 2, 3, 4, 11]))
    with pytest.raises(ValueError, match="differ from those of the first"):
        steps.partial_fit(X, y, classes=np.arange(11))
    # The first call may learn the classes from y, if y holds them all.
    fresh = NetworkClassifier(random_state=1).partial_fit(X, y)
    assert list(fresh.classes_) == list(range(10))


@pytest.mark.parametrize("call", [
    lambda model, X: model.partial_fit(X[:6], [0, 1, 5, 0, 1, 0],
                                       classes=[0, 1]),
    lambda model, X: model.partial_fit(X[:6], [0] * 6),
    lambda model, X: model.fit(X[:6], [0] * 6),
])
def test_a_refused_first_call_leaves_the_estimator_unfitted(digits, call):
    X, _ = digits
    model = NetworkClassifier((3,))
    with pytest.raises(ValueError):
        call(model, X)
    assert vars(model) == vars(NetworkClassifier((3,)))
    # ... so that the next call starts afresh.
    model.partial_fit(X[:6], [0, 1, 5, 0, 1, 0])
    assert list(model.classes_) == [0, 1, 5]
    assert model.n_features_in_ == X.shape[1]


def test_pickle_and_clone(digits):
    X, y = digits
    model = NetworkClassifier(epochs=1, random_state=2).fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X),
                                  model.predict_proba(X))
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "network_")


@pytest.mark.parametrize("params, error, message", [
    (dict(hidden_layer_sizes=(30, 0)), ValueError,
     "hidden_layer_sizes: layer [2] must be at least 1"),
    (dict(hidden_layer_sizes="30"), TypeError, "hidden_layer_sizes must be"),
    (dict(epochs=0), ValueError, "epochs must be at least 1"),
    (dict(mini_batch_size=2.5), TypeError, "mini_batch_size"),
    (dict(eta=-1), ValueError, "eta must be a finite positive number"),
    (dict(lmbda=np.inf), ValueError, "lmbda must be a finite non-negative"),
    (dict(cost="hinge"), ValueError, "hinge"),
    (dict(init="small"), ValueError, "init must be one of large, default"),
    (dict(dtype="float16"), ValueError, "dtype must be float32 or float64"),
])
def test_bad_hyperparameters_are_refused_before_any_change(
        digits, params, error, message):
    X, y = digits
    model = NetworkClassifier(epochs=1, random_state=0).fit(X, y)
    network, weights = model.network_, model.network_.weights[0].copy()
    model.set_params(**params)
    with pytest.raises(error) as raised:
        model.fit(X, y)
    assert message in str(raised.value)
    assert model.network_ is network
    np.testing.assert_array_equal(model.network_.weights[0], weights)


def test_grid_search_pipeline_and_cross_validation(digits):
    X, y = digits
    search = GridSearchCV(
        NetworkClassifier(epochs=3, random_state=0),
        {"eta": [0.05, 3.0], "hidden_layer_sizes": [(10,)]}, cv=2)
    search.fit(X, y)
    # eta 0.05 learns far less in 3 epochs than eta 3 (cross-entropy).
    assert search.best_params_["eta"] == 3.0
    pipeline = make_pipeline(StandardScaler(),
                             NetworkClassifier(epochs=3, random_state=0))
    scores = cross_val_score(pipeline, X, y, cv=2)
    assert scores.shape == (2,) and scores.min() > 0.5


@pytest.mark.slow
def test_grid_search_on_a_dask_cluster_with_joblib(digits):
    """joblib's Dask backend sends the search's fits to the workers and
    finds what the local search finds."""
    distributed = pytest.importorskip("distributed")
    joblib = pytest.importorskip("joblib")
    from fastnet import sweep
    X, y = digits
    grid = {"eta": [0.05, 3.0], "hidden_layer_sizes": [(10,)]}
    local = GridSearchCV(NetworkClassifier(epochs=2, random_state=0), grid,
                         cv=2).fit(X, y)
    with sweep.local_cluster(2) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        remote = GridSearchCV(NetworkClassifier(epochs=2, random_state=0),
                              grid, cv=2, n_jobs=-1).fit(X, y)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
