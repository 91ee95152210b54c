"""The fastnet command, end to end on small runs."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fastnet import cli, data
from fastnet.model_file import load_model
from support import run_cli

SMALL = ["--limit", "600", "--epochs", "2", "--seed", "7"]


def test_train_prints_epochs_and_final_accuracy(capsys):
    code, out, err = run_cli(capsys, "train", *SMALL)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ("Training [784, 30, 10] on 600 mnist images: 2 epochs"
                        ", mini-batch 10, eta 3.0, large init, float64, "
                        "seed 7; scored on the test set")
    assert lines[1].startswith("Epoch 0 : ") and " / 10000  (" in lines[1]
    assert lines[2].startswith("Epoch 1 : ")
    assert lines[3].startswith("Test accuracy ") and "after 2 epochs" in \
        lines[3]
    assert err == ""  # no progress bar when stderr is not a terminal


def accuracies(out):
    return [line.split("(")[0] for line in out.splitlines()
            if line.startswith("Epoch")]


def test_same_seed_same_accuracies_other_seed_differs(capsys):
    first = run_cli(capsys, "train", *SMALL)[1]
    second = run_cli(capsys, "train", *SMALL)[1]
    other = run_cli(capsys, "train", "--limit", "600", "--epochs", "2",
                "--seed", "8")[1]
    assert accuracies(first) == accuracies(second)
    assert accuracies(first) != accuracies(other)


def test_headline_settings_are_the_defaults():
    args = cli._parser().parse_args(["train"])
    assert (args.sizes, args.epochs, args.mini_batch_size, args.eta,
            args.dtype, args.dataset, args.limit, args.cost, args.lmbda,
            args.init, args.evaluate_on) == (
        [784, 30, 10], 30, 10, 3.0, "float64", "mnist", None, "quadratic",
        0.0, "large", "test")


def test_chapter3_options_reach_the_network(capsys, tmp_path):
    model, report = tmp_path / "model.npz", tmp_path / "run.json"
    code, out, err = run_cli(capsys, "train", *SMALL, "--cost", "cross-entropy",
                         "--init", "default", "--eta", "0.5", "--lmbda",
                         "5.0", "--evaluate-on", "validation", "--save",
                         str(model), "--json", str(report))
    assert code == 0, err
    assert "eta 0.5, cross-entropy cost, lmbda 5, default init" in out
    assert out.splitlines()[-2].startswith("Validation accuracy")
    results = json.loads(report.read_text())
    assert (results["cost"], results["lmbda"], results["init"],
            results["evaluated_on"]) == ("cross-entropy", 5.0, "default",
                                         "validation")
    _, metadata = load_model(model)
    assert metadata["cost"] == "cross-entropy" and metadata["lmbda"] == 5.0


def test_json_save_evaluate_predict(capsys, tmp_path):
    model, report = tmp_path / "model.npz", tmp_path / "run.json"
    code, out, err = run_cli(capsys, "train", *SMALL, "--sizes", "784,20,10",
                         "--dtype", "float32", "--save", str(model),
                         "--json", str(report), "--quiet")
    assert code == 0, err
    assert out.startswith("Test accuracy") and out.count("\n") == 1
    results = json.loads(report.read_text())
    assert results["sizes"] == [784, 20, 10] and results["seed"] == 7
    assert [r["epoch"] for r in results["epochs_run"]] == [0, 1]
    assert all(r["total"] == 10000 and 0 <= r["accuracy"] <= 1
               for r in results["epochs_run"])
    network, metadata = load_model(model)
    assert network.sizes == [784, 20, 10]
    assert network.weights[0].dtype == np.float32
    assert metadata["accuracy"] == results["accuracy"]
    assert metadata["input_scale"] == 1 / 256

    code, out, _ = run_cli(capsys, "evaluate", str(model))
    assert code == 0
    assert f"{results['correct']} / 10000" in out

    images, labels = data.load_mnist("test")
    np.save(tmp_path / "some.npy", images[:4])
    expected = network.predict(data.to_columns(images[:4]))
    code, out, _ = run_cli(capsys, "predict", str(model),
                       str(tmp_path / "some.npy"))
    assert code == 0
    assert [int(line.split(": ")[1].split()[0]) for line in
            out.splitlines()] == expected.tolist()


def test_predict_png_and_inverted_png(capsys, tmp_path):
    from PIL import Image
    model = tmp_path / "model.npz"
    assert run_cli(capsys, "train", "--limit", "3000", "--epochs", "3", "--seed",
               "1", "--save", str(model), "--quiet")[0] == 0
    images, _ = data.load_mnist("test")
    network, _ = load_model(model)
    expected = network.predict(data.to_columns(images[:2]))
    Image.fromarray(images[0]).save(tmp_path / "digit.png")
    Image.fromarray(255 - images[1]).save(tmp_path / "dark_on_light.png")
    code, out, _ = run_cli(capsys, "predict", str(model),
                       str(tmp_path / "digit.png"),
                       str(tmp_path / "dark_on_light.png"))
    assert code == 0
    got = [int(line.split(": ")[1].split()[0]) for line in out.splitlines()]
    assert got == expected.tolist()


@pytest.mark.parametrize("argv, code, message", [
    (["train", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["train", "--sizes", "783,30,10"], 2,
     "sizes must start with 784 and end with 10"),
    (["train", "--sizes", "784,30,9"], 2, "must start with 784 and end"),
    (["train", "--sizes", "784"], 2, "at least an input and an output"),
    (["train", "--sizes", "784,x,10"], 2, "comma-separated integers"),
    (["train", "--epochs", "0"], 2, "--epochs: must be at least 1, got 0"),
    (["train", "--epochs", "-3"], 2, "--epochs: must be at least 1"),
    (["train", "--eta", "fast"], 2, "--eta: expected a number"),
    (["train", "--eta", "-1"], 2, "--eta: must be a finite positive number"),
    (["train", "--lmbda", "-1"], 2, "--lmbda: must be a finite non-negative"),
    (["train", "--cost", "hinge"], 2, "invalid choice: 'hinge'"),
    (["train", "--limit", "60000"], 2, "limit can be at most 50000"),
    (["train", "--dtype", "float16"], 2, "invalid choice: 'float16'"),
    (["train", "--save", "/nonexistent/dir/m.npz"], 2,
     "the folder /nonexistent/dir does not exist"),
    (["evaluate", "/nonexistent.npz"], 2, "cannot read '/nonexistent.npz'"),
    (["predict", "/nonexistent.npz", "x.png"], 2, "cannot read"),
    (["bench", "--mini-batch-sizes", "0"], 2, "at least 1"),
    ([], 2, ""),
])
def test_command_line_errors(capsys, argv, code, message):
    got, out, err = run_cli(capsys, *argv)
    assert got == code
    assert message in err
    assert "usage: fastnet" in err + out


def test_foreign_and_truncated_model_files(capsys, tmp_path):
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG not really")
    code, _, err = run_cli(capsys, "evaluate", str(png))
    assert code == 1 and "not a fastnet model file" in err
    model = tmp_path / "model.npz"
    run_cli(capsys, "train", "--limit", "100", "--epochs", "1", "--seed", "1",
        "--save", str(model), "--quiet")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(model.read_bytes()[:3000])
    code, _, err = run_cli(capsys, "evaluate", str(truncated))
    assert code == 1 and "truncated.npz" in err and "truncated" in err


def test_predict_rejects_images_of_the_wrong_size(capsys, tmp_path):
    model = tmp_path / "model.npz"
    run_cli(capsys, "train", "--limit", "100", "--epochs", "1", "--seed", "1",
        "--save", str(model), "--quiet")
    np.save(tmp_path / "big.npy", np.zeros((32, 32), np.uint8))
    code, _, err = run_cli(capsys, "predict", str(model),
                       str(tmp_path / "big.npy"))
    # An unreadable data file exits 1 in one line, as the README says.
    assert code == 1 and "expected 28x28 images" in err
    assert err.count("\n") == 1 and "usage" not in err


def test_bench_json_and_plot(capsys, tmp_path):
    report, plot = tmp_path / "bench.json", tmp_path / "bench.png"
    code, out, err = run_cli(capsys, "bench", "--samples", "300",
                         "--mini-batch-sizes", "10,30", "--repeat", "1",
                         "--json", str(report), "--plot", str(plot))
    assert code == 0, err
    rows = json.loads(report.read_text())["results"]
    assert len(rows) == 2 * 4
    assert {r["implementation"] for r in rows} == {
        "reference", "dropin", "fit-float64", "fit-float32"}
    assert all(r["seconds"] > 0 for r in rows)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert "speed-up" in out and "x" in out


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "fastnet", "train", "--limit", "200",
         "--epochs", "1", "--seed", "3", "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Test accuracy")


@pytest.mark.slow
def test_headline_run_learns(capsys, tmp_path):
    """Nielsen's settings on all 50,000 training images for 5 epochs reach
    over 92% on the test set (the book: about 95% after 30)."""
    report = tmp_path / "run.json"
    code, _, err = run_cli(capsys, "train", "--epochs", "5", "--seed", "0",
                       "--quiet", "--json", str(report))
    assert code == 0, err
    assert json.loads(report.read_text())["accuracy"] > 0.92


def test_one_epoch_is_singular(capsys):
    code, out, _ = run_cli(capsys, "train", "--limit", "200", "--epochs", "1",
                       "--seed", "1")
    assert code == 0
    assert "1 epoch," in out.splitlines()[0] and "after 1 epoch in" in out


def test_evaluate_and_predict_read_network2_json(capsys, tmp_path):
    """Issue 10: one model, any format."""
    from fastnet import network2
    net = network2.Network([784, 10, 10], seed=0)
    net.save(tmp_path / "net.json")
    code, out, err = run_cli(capsys, "evaluate", str(tmp_path / "net.json"))
    assert code == 0, err
    assert "test images of mnist correct" in out
    np.save(tmp_path / "digit.npy", np.zeros((28, 28), np.uint8))
    code, out, err = run_cli(capsys, "predict", str(tmp_path / "net.json"),
                         str(tmp_path / "digit.npy"))
    assert code == 0, err and out.startswith(str(tmp_path / "digit.npy"))


@pytest.mark.parametrize("example, code, verdict", [
    ("matrix_backprop.py", 0, "passed: all 3 checks"),
    ("wrong_backprop.py", 1, "FAILED: 3 of 3 checks")])
def test_fastnet_check(capsys, example, code, verdict):
    target = f"{cli.__file__.rsplit('/fastnet/', 1)[0]}/examples/{example}"
    got, out, _ = run_cli(capsys, "check", f"{target}:Network", "--order",
                      "seed")
    assert got == code and verdict in out
