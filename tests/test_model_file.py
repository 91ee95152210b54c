"""Saved models: round trip, atomic writes, and every kind of bad file."""

import json

import numpy as np
import pytest

import fastnet
from fastnet import model_file, network2
from fastnet.model_file import ModelFileError, load_model, save_model


@pytest.fixture
def network():
    return fastnet.Network([12, 7, 5, 3], seed=0)


def test_round_trip_gives_identical_predictions(network, tmp_path):
    path = tmp_path / "model.npz"
    save_model(network, path, {"note": "hello", "accuracy": 0.5})
    loaded, metadata = load_model(path)
    assert metadata == {"note": "hello", "accuracy": 0.5}
    assert loaded.sizes == network.sizes and loaded.num_layers == 4
    for a, b in zip(loaded.weights + loaded.biases,
                    network.weights + network.biases):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    X = np.random.default_rng(1).random((12, 20))
    np.testing.assert_array_equal(loaded.feedforward(X),
                                  network.feedforward(X))


def test_float32_models_stay_float32(network, tmp_path):
    network.fit(np.random.default_rng(0).random((12, 30)),
                np.arange(30) % 3, epochs=1, dtype="float32")
    save_model(network, tmp_path / "m.npz")
    loaded, _ = load_model(tmp_path / "m.npz")
    assert {w.dtype for w in loaded.weights + loaded.biases} == \
        {np.dtype(np.float32)}


def test_save_is_atomic(network, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save_model(network, path, {"version": "old"})
    before = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model_file.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        save_model(network, path, {"version": "new"})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_saving_a_broken_network_is_refused(network, tmp_path):
    network.weights[0] = np.full((7, 12), np.nan)
    with pytest.raises(ValueError, match=r"weights\[0\] contains NaN"):
        save_model(network, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def arrays_of(network, **changes):
    arrays = {"format": np.array("fastnet-model"), "version": np.array(1),
              "sizes": np.array(network.sizes),
              "metadata": np.array(json.dumps({}))}
    for l, (w, b) in enumerate(zip(network.weights, network.biases)):
        arrays[f"weights_{l}"], arrays[f"biases_{l}"] = w, b
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


@pytest.mark.parametrize("changes, message", [
    (dict(format=np.array("something-else")), "no 'fastnet-model' marker"),
    (dict(version=np.array(3)), "version 3 is not supported"),
    (dict(version=np.array(1.9)), "version 1.9 is not supported"),
    (dict(weights_1=None), r"arrays missing: \['weights_1'\]"),
    (dict(extra=np.zeros(3)), r"unexpected: \['extra'\]"),
    (dict(weights_0=np.zeros((7, 11))), r"weights_0 has shape \(7, 11\), "
     r"expected \(7, 12\)"),
    (dict(biases_2=np.zeros((3, 2))), r"biases_2 has shape \(3, 2\)"),
    (dict(weights_1=np.full((5, 7), np.inf)), r"weights\[1\] contains NaN"),
    (dict(weights_0=np.zeros((7, 12), np.int64)), "weights_0 has dtype int64"),
    (dict(weights_0=np.zeros((7, 12), np.float32)),
     "must all be float32 or all float64"),
    (dict(sizes=np.array([12, 7, 5, 4])), r"weights_2 has shape \(3, 5\), "
     r"expected \(4, 5\)"),
    (dict(metadata=np.array("{not json")), "metadata is not JSON"),
    # Issue 9, item 6: every field is checked, metadata included.
    (dict(metadata=np.array("[1, 2]")), "metadata must be a JSON object"),
    (dict(metadata=np.array('{"input_scale": "abc"}')),
     "input_scale must be a number with 255 . input_scale between 0.0001 "
     "and 10000, got abc"),
    (dict(metadata=np.array('{"input_scale": Infinity}')),
     "input_scale must be .*, got inf"),
    (dict(metadata=np.array('{"input_scale": 0}')),
     "input_scale must be .*, got 0"),
    (dict(metadata=np.array('{"input_scale": -0.1}')), "input_scale must"),
    (dict(metadata=np.array('{"input_scale": 1e300}')), "input_scale must"),
    (dict(metadata=np.array('{"input_scale": 1e-30}')), "input_scale must"),
    (dict(metadata=np.array('{"input_scale": 1' + '0' * 400 + '}')),
     "input_scale must"),
    (dict(metadata=np.array('{"dataset": "cifar"}')),
     "dataset must be one of fashion, mnist, got 'cifar'"),
    (dict(metadata=np.array('{"dataset": ["mnist"]}')),
     "dataset must be one of fashion, mnist"),
    (dict(version=np.array("abc")), "version abc is not supported"),
    (dict(weights_0=np.array(1.0)), r"weights_0 has shape \(\), expected"),
    (dict(sizes=np.array([12, 10 ** 12, 3])), "needs .* of memory"),
    (dict(sizes=np.zeros((2, 2), np.int64)), "sizes has shape"),
])
def test_inconsistent_files(network, tmp_path, changes, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays_of(network, **changes))
    with pytest.raises(ModelFileError, match=message) as caught:
        load_model(path)
    assert "bad.npz" in str(caught.value)


def test_foreign_truncated_and_missing_files(network, tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(ModelFileError, match="no 'fastnet-model' marker"):
        load_model(foreign)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="not a fastnet model file"):
        load_model(pickled)
    good = tmp_path / "good.npz"
    save_model(network, good)
    for cut in (10, 400, len(good.read_bytes()) - 30):
        truncated = tmp_path / "truncated.npz"
        truncated.write_bytes(good.read_bytes()[:cut])
        with pytest.raises(ModelFileError, match="truncated"):
            load_model(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="neither an .npz archive nor network2.s JSON"):
        load_model(text)
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent.npz")
    with pytest.raises(ModelFileError, match="a directory|folder"):
        load_model(tmp_path)


def test_from_parameters_checks_shapes():
    w = [np.zeros((3, 4)), np.zeros((2, 3))]
    b = [np.zeros((3, 1)), np.zeros((2, 1))]
    net = fastnet.Network.from_parameters(w, b)
    assert net.sizes == [4, 3, 2]
    with pytest.raises(ValueError, match=r"weights\[1\] has shape"):
        fastnet.Network.from_parameters([w[0], np.zeros((2, 4))], b)


@pytest.mark.parametrize("cost", [network2.QuadraticCost,
                                  network2.CrossEntropyCost])
def test_a_loaded_network2_model_keeps_its_face_and_cost(tmp_path, cost):
    """Reloaded, a chapter 3 model is a network2.Network with its cost,
    and one more epoch of training matches the saved network's."""
    net = network2.Network([12, 7, 3], cost=cost, seed=2)
    save_model(net, tmp_path / "m.npz")
    loaded, _ = load_model(tmp_path / "m.npz")
    assert type(loaded) is network2.Network and loaded.cost is cost
    rng = np.random.default_rng(3)
    X, y = rng.random((12, 40)), rng.integers(0, 3, 40)
    for each in (net, loaded):
        each.fit(X, y, epochs=1, eta=0.5, lmbda=1.0, seed=4)
    for a, b in zip(net.weights + net.biases, loaded.weights + loaded.biases):
        np.testing.assert_array_equal(a, b)


def test_chapter1_models_load_as_fastnet_network(network, tmp_path):
    save_model(network, tmp_path / "m.npz")
    loaded, _ = load_model(tmp_path / "m.npz")
    assert type(loaded) is fastnet.Network


@pytest.mark.parametrize("metadata, face, cost", [
    ({}, fastnet.Network, "quadratic"),
    ({"cost": "cross-entropy"}, network2.Network, "cross-entropy"),
    ({"cost": "quadratic"}, network2.Network, "quadratic")])
def test_version_1_files_still_load(network, tmp_path, metadata, face, cost):
    """Version 1 stored no cost; the command line's metadata named it."""
    path = tmp_path / "v1.npz"
    np.savez(path, **arrays_of(network,
                               metadata=np.array(json.dumps(metadata))))
    loaded, _ = load_model(path)
    assert type(loaded) is face and loaded._cost_info.name == cost


@pytest.mark.parametrize("changes, message", [
    (dict(face=np.array("network9")), "unknown face 'network9'"),
    (dict(cost=np.array("hinge")), "unknown cost 'hinge'"),
    (dict(face=np.array("network"), cost=np.array("cross-entropy")),
     "a network model has the quadratic cost")])
def test_bad_face_or_cost(network, tmp_path, changes, message):
    path = tmp_path / "bad.npz"
    arrays = arrays_of(network, version=np.array(2), face=np.array("network"),
                       cost=np.array("quadratic"))
    arrays.update(changes)
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_a_header_claiming_a_huge_array_is_refused_before_reading(
        network, tmp_path):
    """Issue 9, item 6: a member whose .npy header claims (10**12,) is
    refused from its header, without reading or allocating it."""
    import io
    import zipfile
    path = tmp_path / "huge.npz"
    np.savez(path, **arrays_of(network))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {
        "descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra.npy", header.getvalue())
    with pytest.raises(ModelFileError, match="unexpected: .'extra'."):
        load_model(path)


def test_fifos_are_refused_without_blocking(tmp_path):
    import os
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="FIFO|not a regular file"):
        load_model(fifo)


def test_network2_json_loads_through_load_model(tmp_path):
    """Issue 10: one model, any format."""
    net = network2.Network([12, 7, 3], cost=network2.QuadraticCost, seed=1)
    net.save(tmp_path / "net.json")
    loaded, metadata = load_model(tmp_path / "net.json")
    assert metadata == {} and loaded.cost is network2.QuadraticCost
    np.testing.assert_array_equal(loaded.weights[0], net.weights[0])


def test_the_book_face_saves_and_loads(tmp_path):
    from fastnet.book import network as book
    net = book.Network([12, 7, 3], seed=3)
    save_model(net, tmp_path / "m.npz")
    loaded, _ = load_model(tmp_path / "m.npz")
    assert type(loaded) is book.Network
