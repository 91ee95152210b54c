"""``fastnet train --net NAME`` (the book's chapter 6 networks), their
model files, and ``fastnet evaluate`` and ``predict`` on them, end to end
on small runs (a few hundred training images, one or two epochs)."""

import json
import sys
import zipfile

import numpy as np
import pytest

from fastnet import cli, conv_models, conv_training, data, network3
from fastnet.files import FileFormatError
from fastnet.model_file import load_model, save_model
from support import run_cli

#: A quick chapter 6 run: the shallow net learns at eta 3 on 300 images
#: (the book's 0.1 barely moves it in 30 mini-batches).
SMALL = ["--net", "shallow", "--limit", "300", "--epochs", "2", "--seed",
         "5", "--eta", "3"]


@pytest.fixture
def captured_settings(monkeypatch):
    """Stops ``fastnet train --net`` before training; holds the settings
    it would have trained with."""
    seen = []

    def fake_run(settings, **kwargs):
        seen.append(settings)
        raise SystemExit(0)
    monkeypatch.setattr(conv_training, "run", fake_run)
    return seen


#### The command line
def test_train_net_prints_each_epoch_and_the_test_accuracy_at_the_best(
        capsys):
    code, out, err = run_cli(capsys, "train", *SMALL)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        "Training shallow (784-100-10: one sigmoid layer of 100, softmax) "
        "on 300 mnist images: 2 epochs, mini-batch 10, eta 3, lmbda 0, "
        "float32, seed 5; validated each epoch, tested at the best")
    assert lines[1].startswith("Epoch 0: validation accuracy ")
    assert lines[2].startswith("Epoch 1: validation accuracy ")
    assert lines[3].startswith("Test accuracy ") and \
        "at the best validation epoch" in lines[3] and \
        "(the book: 97.80%)" in lines[3]
    assert len(lines) == 4 and err == ""   # no bar: stderr is no terminal


def test_same_seed_same_run(capsys):
    def epochs(out):
        return [line.split("  (")[0] for line in out.splitlines()
                if line.startswith("Epoch")]
    first = epochs(run_cli(capsys, "train", *SMALL)[1])
    assert first == epochs(run_cli(capsys, "train", *SMALL)[1])
    other = SMALL[:-3] + ["6", "--eta", "3"]
    assert first != epochs(run_cli(capsys, "train", *other)[1])


#: The book's settings, written out here (not read from PRESETS) so that
#: a mistake in the presets fails: (epochs, eta, lmbda, expanded data).
BOOK = {"shallow": (60, 0.1, 0.0, False), "conv": (60, 0.1, 0.0, False),
        "conv2": (60, 0.1, 0.0, False), "conv2-relu": (60, 0.03, 0.1, False),
        "conv2-relu-expanded": (60, 0.03, 0.1, True),
        "dropout": (40, 0.03, 0.0, True)}


@pytest.mark.parametrize("name", sorted(BOOK))
def test_options_not_given_take_the_book_values(capsys, captured_settings,
                                                name):
    code = run_cli(capsys, "train", "--net", name, "--limit", "100")[0]
    assert code == 0
    settings = captured_settings[0]
    assert (settings.epochs, settings.eta, settings.lmbda,
            settings.preset.expanded) == BOOK[name]
    assert (settings.mini_batch_size, settings.dtype) == (10, "float32")


def test_given_options_override_the_preset(capsys, captured_settings):
    run_cli(capsys, "train", "--net", "conv2-relu", "--epochs", "3", "--eta",
        "0.5", "--lmbda", "0", "--mini-batch-size", "20", "--dtype",
        "float64", "--seed", "4", "--limit", "100")
    settings = captured_settings[0]
    assert (settings.epochs, settings.eta, settings.lmbda,
            settings.mini_batch_size, settings.dtype, settings.seed,
            settings.limit) == (3, 0.5, 0.0, 20, "float64", 4, 100)


@pytest.mark.parametrize("option", [["--sizes", "784,30,10"],
                                    ["--cost", "quadratic"],
                                    ["--init", "large"],
                                    ["--evaluate-on", "test"]])
def test_fully_connected_options_are_refused_even_at_their_defaults(
        capsys, captured_settings, option):
    code, out, err = run_cli(capsys, "train", "--net", "conv", *option)
    assert code == 2 and not captured_settings
    assert f"{option[0]} does not apply to --net conv" in err


def test_several_refused_options_are_named_together(capsys,
                                                    captured_settings):
    err = run_cli(capsys, "train", "--net", "dropout", "--cost", "quadratic",
              "--init", "default")[2]
    assert "--cost, --init do not apply to --net dropout" in err


def test_bad_values_are_refused_before_training(capsys, captured_settings):
    err = run_cli(capsys, "train", "--net", "conv", "--limit", "5",
              "--mini-batch-size", "10")[2]
    assert "mini_batch_size 10 is more than the 5 training images" in err
    assert run_cli(capsys, "train", "--net", "nope")[0] == 2
    assert not captured_settings


def test_the_fully_connected_route_is_unchanged(capsys):
    plain = run_cli(capsys, "train", "--limit", "300", "--epochs", "1",
                "--seed", "7")
    named = run_cli(capsys, "train", "--net", "fc", "--limit", "300",
                "--epochs", "1", "--seed", "7")
    assert plain[0] == named[0] == 0
    strip = [line.split("  (")[0].split(" in ")[0]
             for line in plain[1].splitlines()]
    assert strip == [line.split("  (")[0].split(" in ")[0]
                     for line in named[1].splitlines()]
    assert strip[0].startswith("Training [784, 30, 10] on 300 mnist")


def test_json_report(capsys, tmp_path):
    path = tmp_path / "run.json"
    code, out, err = run_cli(capsys, "train", *SMALL, "--json", str(path))
    assert code == 0, err
    report = json.loads(path.read_text())
    assert (report["command"], report["net"], report["epochs"],
            report["eta"], report["lmbda"], report["training_samples"],
            report["expanded"], report["seed"]) == (
        "train", "shallow", 2, 3.0, 0.0, 300, False, 5)
    records = report["epochs_run"]
    assert [r["epoch"] for r in records] == [0, 1]
    best = max(records, key=lambda r: (r["validation_accuracy"],
                                       r["epoch"]))   # ties: the later
    assert report["best_epoch"] == best["epoch"]
    assert report["accuracy"] == best["test_accuracy"]
    assert report["validation_accuracy"] == best["validation_accuracy"]
    for record in records:
        assert (record["test_accuracy"] is None) == (not record["best"])
    assert f"Test accuracy {report['accuracy']:.2%}" in out


#### The kept network is the best validation epoch's
def test_run_keeps_the_network_of_the_best_validation_epoch(monkeypatch):
    # Validation 50%, 90% (best: test 80%), 70%: the network returned
    # must be the one after epoch 1, not the last.
    scripted = iter([0.5, 0.4, 0.9, 0.8, 0.7])
    monkeypatch.setattr(network3.Network, "accuracy",
                        lambda self, data: next(scripted))
    built = []
    build = conv_training.build_network
    monkeypatch.setattr(conv_training, "build_network", lambda settings:
                        built.append(build(settings)) or built[0])
    snapshots = []
    network, report = conv_training.run(
        conv_training.ConvSettings(net="shallow", epochs=3, limit=100,
                                   seed=1, eta=1.0),
        on_epoch=lambda report, record: snapshots.append(
            [p.copy() for p in built[0].params]))
    assert (report["best_epoch"], report["accuracy"],
            report["validation_accuracy"]) == (1, 0.8, 0.9)
    for kept, p in zip(snapshots[1], network.params):
        np.testing.assert_array_equal(kept, p)
    assert any(not np.array_equal(last, p)   # the last epoch did change it
               for last, p in zip(snapshots[2], network.params))


def test_the_seed_gives_network3s_starting_point_and_leaves_np_random():
    settings = conv_training.ConvSettings(net="conv", limit=100,
                                          seed=11).checked()
    state = np.random.get_state()
    network = conv_training.build_network(settings)
    assert np.array_equal(np.random.get_state()[1], state[1])
    np.random.seed(11)   # what the book's conv.py would do
    book = network3.Network(conv_models.PRESETS["conv"].layers(10), 10)
    for ours, theirs in zip(network.params, book.params):
        np.testing.assert_array_equal(ours, theirs)


#### Model files: save, load, evaluate, predict
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small conv2-relu model saved by ``fastnet train``, its report
    and the first test images."""
    folder = tmp_path_factory.mktemp("conv")
    model, report = folder / "conv.npz", folder / "conv.json"
    code = cli.main(["train", "--net", "conv2-relu", "--limit", "600",
                     "--epochs", "1", "--seed", "3",
                     "--quiet", "--save", str(model), "--json", str(report)])
    assert code == 0
    images = data.load_mnist("test")[0][:5]
    np.save(folder / "digits.npy", images)
    return model, json.loads(report.read_text()), folder / "digits.npy"


def test_save_load_evaluate_predict_round_trip(capsys, saved):
    model, report, digits = saved
    network, metadata = load_model(model)
    assert isinstance(network, network3.Network)
    book = conv_models.PRESETS["conv2-relu"].layers(10)
    assert conv_models.describe_layers(network.layers) == \
        conv_models.describe_layers(book)
    assert (metadata["net"], metadata["accuracy"], network.dtype) == (
        "conv2-relu", report["accuracy"], np.float32)
    code, out, err = run_cli(capsys, "evaluate", str(model))
    correct = round(report["accuracy"] * 10000)
    assert code == 0 and f": {correct} / 10000 test images" in out, err
    code, out, err = run_cli(capsys, "predict", str(model), str(digits),
                         "--invert", "no")
    assert code == 0, err
    rows = data.to_columns(np.load(digits)).T
    expected = network.predict(rows)
    assert [int(line.split(": ")[1].split()[0])
            for line in out.splitlines()] == expected.tolist()


def test_a_loaded_model_predicts_as_the_saved_one(tmp_path):
    np.random.seed(2)
    layers = conv_models.PRESETS["dropout"].layers(10)   # dropout, ReLU, 5
    network = network3.Network(layers, 10, dtype="float64")
    save_model(network, tmp_path / "m.npz", {"note": "x"})
    state = np.random.get_state()
    loaded, metadata = load_model(tmp_path / "m.npz")
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert metadata == {"note": "x"} and loaded.dtype == np.float64
    x = data.to_columns(data.load_mnist("test")[0][:30]).T
    np.testing.assert_array_equal(loaded.feedforward(x),
                                  network.feedforward(x))


def rewrite(source, target, change):
    """Copy the model archive ``source`` to ``target`` with its members
    (a dict of arrays) changed by ``change``."""
    with np.load(source, allow_pickle=False) as archive:
        members = {key: archive[key] for key in archive.files}
    change(members)
    np.savez(target, **members)
    return target


def edit_layers(edit):
    """A ``change`` for ``rewrite`` that edits the layers' JSON."""
    def change(members):
        layers = json.loads(str(members["layers"]))
        edit(layers)
        members["layers"] = np.array(json.dumps(layers))
    return change


def set_field(j, field, value):
    return edit_layers(lambda layers: layers["layers"][j].__setitem__(
        field, value))


BAD_FILES = [
    (lambda m: m.__setitem__("w_2", np.zeros((640, 99), np.float32)),
     "w_2 has shape (640, 99), expected (640, 100)"),
    (lambda m: m.__setitem__("b_0", np.zeros(20)),
     "weights and biases must all be float32 or all float64"),
    (lambda m: m.__setitem__("b_0", np.full(20, np.nan, np.float32)),
     "b_0 holds NaN or infinite values"),
    (lambda m: m.pop("w_3"), "arrays missing: ['w_3']"),
    (lambda m: m.__setitem__("layers", np.array("[1")),
     "layers is not JSON"),
    (set_field(2, "activation", "softplus"),
     "layers: layer 2 (FullyConnectedLayer): activation must be one of "
     "sigmoid, tanh, ReLU, linear; got 'softplus'"),
    (set_field(0, "kind", "PoolLayer"),
     "layers: layer 0: kind must be one of ConvPoolLayer"),
    (set_field(2, "n_in", 641),
     "layers: layer 2 (FullyConnectedLayer) takes 641 inputs but layer 1 "
     "gives 640"),
    (set_field(1, "poolsize", [3, 3]),
     "layers: ConvPoolLayer: poolsize (3, 3) does not divide the 8x8"),
    (set_field(0, "filter_shape", [20, 1, 5]),
     "layers: layer 0 (ConvPoolLayer): filter_shape must have 4 entries"),
    (set_field(3, "p_dropout", 1.5),
     "layers: layer 3 (SoftmaxLayer): p_dropout must be a number in "
     "[0, 1)"),
    (set_field(3, "activation", "ReLU"),
     "layers: layer 3 (SoftmaxLayer): fields must be"),
    (edit_layers(lambda layers: layers.__setitem__("mini_batch_size", 7)),
     "layers: layer 0 (ConvPoolLayer): image_shape (10, 1, 28, 28) is for "
     "mini-batches of 10, but mini_batch_size is 7"),
    (lambda m: m.__setitem__("w_4", np.zeros(3, np.float32)),
     "arrays missing: [], unexpected: ['w_4']"),
    (edit_layers(lambda layers: layers["layers"].pop()),
     "layers: the last layer, and only it, must be a SoftmaxLayer"),
]


@pytest.mark.parametrize("change, message", BAD_FILES)
def test_bad_network3_files_are_refused_naming_the_field(saved, tmp_path,
                                                         change, message):
    bad = rewrite(saved[0], tmp_path / "bad.npz", change)
    with pytest.raises(FileFormatError) as error:
        load_model(bad)
    assert message in str(error.value)
    assert str(bad) in str(error.value)


def test_a_last_layer_that_is_not_softmax_is_refused(saved, tmp_path):
    def change(members):
        layers = json.loads(str(members["layers"]))
        layers["layers"][3] = dict(layers["layers"][2], n_in=100, n_out=10)
        members["layers"] = np.array(json.dumps(layers))
    bad = rewrite(saved[0], tmp_path / "bad.npz", change)
    with pytest.raises(FileFormatError, match="the last layer, and only "
                                              "it, must be a SoftmaxLayer"):
        load_model(bad)


def test_a_network3_too_large_for_memory_is_refused_unread(saved, tmp_path,
                                                           monkeypatch):
    from fastnet import validation
    parameters = 20 * 26 + 40 * 501 + 100 * 641 + 10 * 101   # conv2-relu
    monkeypatch.setattr(validation, "available_memory", lambda: 10 ** 6)
    read = np.lib.npyio.NpzFile.__getitem__

    def small_members_only(archive, key):
        assert key[:2] not in ("w_", "b_"), "read before the memory check"
        return read(archive, key)
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__",
                        small_members_only)
    with pytest.raises(FileFormatError, match=f"a network3 model of "
                                              f"{parameters:,} parameters "
                                              f"needs"):
        load_model(saved[0])


def test_the_bad_file_helper_changes_nothing_by_itself(saved, tmp_path):
    # The planted mistakes above fail for their change, not the copy.
    same = rewrite(saved[0], tmp_path / "same.npz", lambda members: None)
    assert isinstance(load_model(same)[0], network3.Network)
    with zipfile.ZipFile(same) as archive:
        assert "layers.npy" in archive.namelist()


def test_a_progress_bar_on_a_terminal_none_when_quiet(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run_cli(capsys, "train", *SMALL)
    assert code == 0 and "epoch 1/2" in err and "epoch 2/2" in err
    code, out, err = run_cli(capsys, "train", *SMALL, "--quiet")
    assert code == 0 and err == "" and len(out.splitlines()) == 1
