"""The ``fastnet`` command: train, evaluate, predict, bench.

``fastnet train`` with no options is Nielsen's headline run: a [784, 30, 10]
network, 30 epochs of mini-batches of 10 at eta 3.0 on the first 50,000
MNIST training images, scored on the 10,000 test images after each epoch.
``--cost cross-entropy --init default --eta 0.5 --lmbda 5.0`` is chapter
3's improved network.
"""

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, bench, data, network2
from . import images as images_io
from .files import atomic_write
from .model_file import ModelFileError, load_model, save_model

TRAINING_SIZE = data.TRAINING_SIZE
COSTS = {"quadratic": network2.QuadraticCost,
         "cross-entropy": network2.CrossEntropyCost}
INPUT_SCALE = data.INPUT_SCALE


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args, args.parser)
    except (data.DataFileError, data.DatasetNotFoundError,
            ModelFileError) as error:
        parser.exit(1, f"fastnet: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, "\nfastnet: interrupted\n")
    except BrokenPipeError:
        # The reader went away (fastnet ... | head): stop quietly, and keep
        # Python from complaining about stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


# ------------------------------------------------------------------ train

def train(args, parser):
    _check_layers(parser, args.sizes, args.dataset)
    limit = TRAINING_SIZE if args.limit is None else args.limit
    if limit > TRAINING_SIZE:
        parser.error(f"--limit can be at most {TRAINING_SIZE} (the training "
                     f"split), got {limit}")
    train_images, train_labels = data.load_mnist(
        "train", name=args.dataset, path=args.data_dir)
    test_images, test_labels = data.load_mnist(
        "test", name=args.dataset, path=args.data_dir)
    X = data.to_columns(train_images[:limit], scale=INPUT_SCALE)
    y = train_labels[:limit]
    if args.evaluate_on == "validation":  # Nielsen's: the last 10,000
        test_images = train_images[TRAINING_SIZE:]
        test_labels = train_labels[TRAINING_SIZE:]
    X_test = data.to_columns(test_images, scale=INPUT_SCALE)
    seed = args.seed if args.seed is not None else \
        int(np.random.SeedSequence().entropy % 2**32)
    rng = np.random.default_rng(seed)
    network = network2.Network(args.sizes, cost=COSTS[args.cost], seed=rng)
    if args.init == "large":
        network.large_weight_initializer()
    say = (lambda *a, **k: None) if args.quiet else print
    chapter3 = "" if args.cost == "quadratic" and args.lmbda == 0 else \
        f", {args.cost} cost, lmbda {args.lmbda:g}"
    say(f"Training {args.sizes} on {limit:,} {args.dataset} images: "
        f"{args.epochs} epochs, mini-batch {args.mini_batch_size}, "
        f"eta {args.eta}{chapter3}, {args.init} init, {args.dtype}, "
        f"seed {seed}; scored on the {args.evaluate_on} set")
    settings = {"sizes": args.sizes, "epochs": args.epochs,
                "mini_batch_size": args.mini_batch_size, "eta": args.eta,
                "cost": args.cost, "lmbda": args.lmbda, "init": args.init,
                "seed": seed, "dtype": args.dtype, "dataset": args.dataset,
                "training_samples": limit, "evaluated_on": args.evaluate_on,
                "input_scale": INPUT_SCALE}
    report = {"command": "train", "fastnet": __version__, **settings,
              "epochs_run": []}

    def after_epoch(record):
        record = dict(record, accuracy=record["correct"] / record["total"])
        report["epochs_run"].append(record)
        say(f"Epoch {record['epoch']} : {record['correct']} / "
            f"{record['total']}  ({record['seconds']:.2f} s)")
        if args.json:
            _write_json(args.json, report)

    started = time.perf_counter()
    network.fit(X, y, epochs=args.epochs, mini_batch_size=args.mini_batch_size,
                eta=args.eta, lmbda=args.lmbda, seed=rng, dtype=args.dtype,
                validation_data=(X_test, test_labels), callback=after_epoch,
                progress=not args.quiet and sys.stderr.isatty())
    elapsed = time.perf_counter() - started
    final = report["epochs_run"][-1]
    report.update(seconds=elapsed, correct=final["correct"],
                  total=final["total"], accuracy=final["accuracy"])
    print(f"{args.evaluate_on.capitalize()} accuracy {final['accuracy']:.2%} "
          f"({final['correct']} / {final['total']}) after {args.epochs} "
          f"epochs in {elapsed:.1f} s")
    if args.json:
        _write_json(args.json, report)
    if args.save:
        save_model(network, args.save, dict(
            settings, accuracy=final["accuracy"],
            trained=datetime.datetime.now(datetime.timezone.utc)
            .isoformat(timespec="seconds"), fastnet=__version__))
        say(f"Saved the model to {args.save}")
    return 0


# --------------------------------------------------------------- evaluate

def evaluate(args, parser):
    network, metadata = load_model(args.model)
    dataset = args.dataset or metadata.get("dataset", "mnist")
    _check_layers(parser, network.sizes, dataset)
    images, labels = data.load_mnist("test", name=dataset, path=args.data_dir)
    scale = metadata.get("input_scale", INPUT_SCALE)
    correct = int(np.count_nonzero(
        network.predict(data.to_columns(images, scale=scale)) == labels))
    print(f"{args.model}: {correct} / {len(labels)} test images of {dataset} "
          f"correct ({correct / len(labels):.2%})")
    return 0


# ---------------------------------------------------------------- predict

def predict(args, parser):
    network, metadata = load_model(args.model)
    if network.sizes[0] != 784:
        parser.error(f"{args.model} takes {network.sizes[0]} inputs, not "
                     f"28x28 images")
    scale = metadata.get("input_scale", INPUT_SCALE)
    for path in args.images:
        try:
            images = images_io.read_images(path)
        except (OSError, ValueError) as error:
            parser.error(f"cannot read {path}: {error}")
        if args.invert == "yes" or (args.invert == "auto" and
                                    images_io.light_background(images)):
            images = 255 - images
        outputs = network.feedforward(data.to_columns(images, scale=scale))
        for i, column in enumerate(outputs.T):
            name = path if len(images) == 1 else f"{path}[{i}]"
            print(f"{name}: {int(np.argmax(column))}  "
                  f"(output {column.max():.3f})")
    return 0


# ------------------------------------------------------------------ bench

def run_bench(args, parser):
    for sizes in args.sizes:
        _check_layers(parser, sizes, "mnist")
    implementations = [i for i in bench.IMPLEMENTATIONS
                       if args.reference or i != "reference"]
    print(f"fastnet bench: one epoch on {args.samples:,} MNIST training "
          f"images, eta {args.eta}; median of {args.repeat} rounds, each "
          f"round timing every implementation in turn")
    print(bench.blas_description())
    training_set = bench.TrainingSet(args.samples, args.data_dir)
    print(f"kernels compiled or loaded from cache in "
          f"{bench.warm_up(training_set):.2f} s (not timed below)")
    print(f"\n{'network':14s} {'batch':>5s}  {'implementation':34s} "
          f"{'s/epoch':>8s} {'speed-up':>9s}")
    rows = []
    for sizes in args.sizes:
        for m in args.mini_batch_sizes:
            workload = bench.Workload(tuple(sizes), m, args.samples, args.eta)
            seconds = bench.time_epochs(implementations, workload,
                                        training_set, repeat=args.repeat)
            baseline = seconds.get("reference")
            for implementation in implementations:
                ratio = baseline / seconds[implementation] if baseline \
                    else None
                print(f"{'-'.join(map(str, sizes)):14s} {m:5d}  "
                      f"{bench.DESCRIPTIONS[implementation]:34s} "
                      f"{seconds[implementation]:8.3f} "
                      f"{f'{ratio:8.1f}x' if ratio else '':>9s}", flush=True)
                rows.append({"sizes": sizes, "mini_batch_size": m,
                             "implementation": implementation,
                             "seconds": seconds[implementation],
                             "speedup": ratio})
    if args.json:
        _write_json(args.json, {"command": "bench", "samples": args.samples,
                                "eta": args.eta, "repeat": args.repeat,
                                "fastnet": __version__, "results": rows})
    if args.plot:
        _plot(rows, args.plot, args.samples)
        print(f"\nPlot written to {args.plot}")
    return 0


def _plot(rows, path, samples):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("fastnet: error: --plot needs matplotlib: pip "
                         "install 'fastnet[plot]'") from None
    networks = sorted({tuple(r["sizes"]) for r in rows})
    figure, axes = plt.subplots(1, len(networks), squeeze=False,
                                figsize=(5.5 * len(networks), 4.2))
    for ax, sizes in zip(axes[0], networks):
        for implementation in bench.IMPLEMENTATIONS:
            points = sorted((r["mini_batch_size"], r["seconds"]) for r in rows
                            if tuple(r["sizes"]) == sizes
                            and r["implementation"] == implementation)
            if points:
                ax.plot(*zip(*points), marker="o",
                        label=bench.DESCRIPTIONS[implementation])
        ax.set(xscale="log", yscale="log", xlabel="mini-batch size",
               ylabel="seconds per epoch",
               title=f"{list(sizes)}, {samples:,} samples")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ---------------------------------------------------------------- parsing

def _parser():
    parser = argparse.ArgumentParser(
        prog="fastnet", description="Nielsen's MNIST network, fast and "
        "proven equal to the per-sample original.")
    parser.add_argument("--version", action="version",
                        version=f"fastnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser("train", help="train on MNIST (default: "
                            "Nielsen's headline run) and report test "
                            "accuracy per epoch")
    p.add_argument("--sizes", type=_sizes, default=[784, 30, 10],
                   help="layer sizes, input first (default 784,30,10)")
    p.add_argument("--epochs", type=_positive, default=30)
    p.add_argument("--mini-batch-size", type=_positive, default=10)
    p.add_argument("--eta", type=_rate, default=3.0, help="learning rate")
    p.add_argument("--cost", choices=sorted(COSTS), default="quadratic",
                   help="quadratic (chapter 1) or cross-entropy (chapter 3)")
    p.add_argument("--lmbda", type=_non_negative_rate, default=0.0,
                   help="L2 regularisation parameter (default 0)")
    p.add_argument("--init", choices=["large", "default"], default="large",
                   help="weights from N(0, 1) (large, chapter 1) or "
                   "N(0, 1/n_in) (default, chapter 3)")
    p.add_argument("--evaluate-on", choices=["test", "validation"],
                   default="test", help="score on the 10,000 test images or "
                   "on Nielsen's 10,000 validation images (the last of the "
                   "training set)")
    p.add_argument("--seed", type=_non_negative, default=None,
                   help="random seed (default: a fresh one, printed)")
    p.add_argument("--dtype", choices=["float64", "float32"],
                   default="float64")
    p.add_argument("--dataset", choices=sorted(data.DATASETS),
                   default="mnist")
    p.add_argument("--limit", type=_positive, metavar="N",
                   help="train on the first N training images only")
    p.add_argument("--data-dir", metavar="PATH",
                   help="folder holding the four IDX files")
    p.add_argument("--save", metavar="PATH", type=_writable,
                   help="save the trained model (.npz)")
    p.add_argument("--json", metavar="PATH", type=_writable,
                   help="write per-epoch results as JSON")
    p.add_argument("--quiet", action="store_true",
                   help="print the final result only")
    p.set_defaults(run=train, parser=p)

    p = commands.add_parser("evaluate", help="test accuracy of a saved "
                            "model")
    p.add_argument("model", metavar="PATH", type=_readable)
    p.add_argument("--dataset", choices=sorted(data.DATASETS),
                   help="default: the one the model was trained on")
    p.add_argument("--data-dir", metavar="PATH")
    p.set_defaults(run=evaluate, parser=p)

    p = commands.add_parser("predict", help="classify 28x28 images (PNG, "
                            ".npy or IDX)")
    p.add_argument("model", metavar="PATH", type=_readable)
    p.add_argument("images", metavar="IMAGE", nargs="+", type=_readable)
    p.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                   help="invert dark-on-light images (default: when the "
                   "border is light)")
    p.set_defaults(run=predict, parser=p)

    p = commands.add_parser("bench", help="time one epoch: the per-sample "
                            "reference against the fast paths")
    p.add_argument("--sizes", type=_sizes, nargs="+",
                   default=[[784, 30, 10]], metavar="SIZES",
                   help="one or more networks, e.g. 784,30,10 784,100,10")
    p.add_argument("--mini-batch-sizes", type=_size_list, default=[10],
                   metavar="M,M,...", help="e.g. 1,10,100 (default 10)")
    p.add_argument("--samples", type=_positive, default=TRAINING_SIZE)
    p.add_argument("--eta", type=_rate, default=3.0)
    p.add_argument("--repeat", type=_positive, default=3,
                   help="time each implementation this many times and "
                   "report the median (default 3)")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the slow per-sample loop")
    p.add_argument("--data-dir", metavar="PATH")
    p.add_argument("--json", metavar="PATH", type=_writable)
    p.add_argument("--plot", metavar="PATH", type=_writable,
                   help="plot seconds per epoch against mini-batch size "
                   "(needs matplotlib)")
    p.set_defaults(run=run_bench, parser=p)
    return parser


def _check_layers(parser, sizes, dataset):
    if sizes[0] != 784 or sizes[-1] != 10:
        parser.error(f"{dataset} has 784 inputs and 10 classes, so sizes "
                     f"must start with 784 and end with 10; got "
                     f"{','.join(map(str, sizes))}")


def _size_list(text):
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"every size must be at least 1, got {text!r}")
    return values


def _sizes(text):
    values = _size_list(text)
    if len(values) < 2:
        raise argparse.ArgumentTypeError(
            f"need at least an input and an output layer, got {text!r}")
    return values


def _positive(text):
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text):
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer, got {text!r}") from None


def _rate(text):
    return _real(text, positive=True)


def _non_negative_rate(text):
    return _real(text, positive=False)


def _real(text, positive):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise argparse.ArgumentTypeError(
            f"must be a {kind} number, got {text}")
    return value


def _readable(text):
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read {text!r}")
    return text


def _writable(text):
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(
            f"cannot write {text!r}: {folder} is not a writable folder")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder")
    return text


def _write_json(path, report):
    with atomic_write(path, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


if __name__ == "__main__":
    sys.exit(main())
