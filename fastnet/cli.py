"""The ``fastnet`` command: train, evaluate, predict, bench, check, sweep.

``fastnet train`` with no options is Nielsen's headline run: a [784, 30, 10]
network, 30 epochs of mini-batches of 10 at eta 3.0 on the first 50,000
MNIST training images, scored on the 10,000 test images after each epoch.
``--cost cross-entropy --init default --eta 0.5 --lmbda 5.0`` is chapter
3's improved network.

This module only reads the command line and reports: training runs in
``fastnet.training``, images are decoded by ``fastnet.images``, the
benchmark lives in ``fastnet.bench``.  Option values are checked by the
same functions that check the Python API (``fastnet.arguments`` builds
argparse types from ``fastnet.validation``).
"""

import argparse
import json
import os
import sys

import numpy as np

from . import __version__, arguments, bench, conv_models, conv_training, \
    core, costs, data, files, network3, training
from . import images as images_io
from . import validation as check
from .files import FileFormatError, atomic_write
from .model_file import load_model, save_model


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args, args.parser)
    except (FileFormatError, data.DatasetNotFoundError) as error:
        parser.exit(1, f"fastnet: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, "\nfastnet: interrupted\n")
    except BrokenPipeError:
        # The reader went away (fastnet ... | head): stop quietly, and keep
        # Python from complaining about stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


# ------------------------------------------------------------- commands

def train(args, parser):
    if args.save and args.json and \
            os.path.abspath(args.save) == os.path.abspath(args.json):
        parser.error("--save and --json name the same file")
    if args.net != "fc":
        return train_conv(args, parser)
    settings = training.Settings(
        sizes=tuple(args.sizes), epochs=args.epochs,
        mini_batch_size=args.mini_batch_size, eta=args.eta, cost=args.cost,
        lmbda=args.lmbda, init=args.init, dtype=args.dtype,
        dataset=args.dataset, limit=args.limit,
        evaluate_on=args.evaluate_on, seed=args.seed)
    settings, say, keep_json = _started(settings, args, parser)

    def after_epoch(report, record):
        say(f"Epoch {record['epoch']} : {record['correct']} / "
            f"{record['total']}  ({record['seconds']:.2f} s)")
        keep_json(report)

    try:
        network, report = training.run(
            settings, data_dir=args.data_dir, on_epoch=after_epoch,
            progress=not args.quiet and sys.stderr.isatty())
    except core.TrainingDiverged as error:
        print(f"fastnet: error: {error}", file=sys.stderr)
        network, report, status = error.network, error.report, 1
    else:
        print(training.summary(settings, report))
        status = 0
    return _write_results(args, say, network, report, status)


#: ``fastnet train`` options that only the fully connected networks take.
FC_ONLY = ("sizes", "cost", "init", "evaluate_on")
#: Options a chapter 6 network takes, given or from its preset.
CONV_SETTINGS = ("epochs", "eta", "lmbda", "mini_batch_size", "dtype")


def train_conv(args, parser):
    """``fastnet train --net NAME``: a chapter 6 network."""
    refused = [f"--{name.replace('_', '-')}" for name in FC_ONLY
               if name in args.given]
    if refused:
        parser.error(f"{', '.join(refused)} "
                     f"{'does' if len(refused) == 1 else 'do'} not apply to "
                     f"--net {args.net} (a chapter 6 network: its layers "
                     f"are the book's, its cost the log-likelihood)")
    given = {name: getattr(args, name) for name in CONV_SETTINGS
             if name in args.given}
    settings = conv_training.ConvSettings(
        net=args.net, dataset=args.dataset, limit=args.limit,
        seed=args.seed, **given)
    settings, say, keep_json = _started(settings, args, parser)

    def after_epoch(report, record):
        tested = (f", test accuracy {record['test_accuracy']:.2%} (best "
                  f"validation so far)" if record["best"] else "")
        say(f"Epoch {record['epoch']}: validation accuracy "
            f"{record['validation_accuracy']:.2%}{tested}  "
            f"({record['seconds']:.2f} s)")
        keep_json(report)

    network, report = conv_training.run(
        settings, data_dir=args.data_dir, on_epoch=after_epoch,
        progress=not args.quiet and sys.stderr.isatty())
    print(conv_training.summary(settings, report))
    return _write_results(args, say, network, report, 0)


def _started(settings, args, parser):
    """A run's checked settings (a usage error otherwise), given a seed
    and announced; ``say`` (silent with ``--quiet``) and ``keep_json``,
    which rewrites ``--json`` after each epoch."""
    try:
        settings = settings.checked().with_seed()
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    say = (lambda *a, **k: None) if args.quiet else print
    say(settings.describe())
    return settings, say, _json_keeper(args.json)


def _write_results(args, say, network, report, status):
    """Write ``--json`` and ``--save``; returns the exit status."""
    if args.json:
        status = max(status, _keep(args.json, "the JSON report", lambda path:
                                   _write_json(path, report)))
    if args.save:
        metadata = training.saved_metadata(report)
        saved = _keep(args.save, "the model", lambda path:
                      save_model(network, path, metadata))
        if not saved:
            say(f"Saved the model to {args.save}")
        status = max(status, saved)
    return status


def _keep(path, what, write):
    """``write(path)``; if the destination went away during training,
    write to a fallback path and say where.  Returns the exit status."""
    try:
        write(path)
        return 0
    except OSError as error:
        fallback = files.fallback_path(path)
        if fallback is None:
            raise
        write(fallback)
        print(f"fastnet: error: could not write {what} to {path} "
              f"({error.strerror or error}); wrote it to {fallback} "
              f"instead", file=sys.stderr)
        return 1


def _json_keeper(path):
    """``keep(report)``: rewrite the per-epoch JSON report at ``path`` (if
    any).  A failure (the folder went away) is said once and does not
    stop training: the report goes to a fallback path at the end."""
    failed = False

    def keep(report):
        nonlocal failed
        if path is None:
            return
        try:
            _write_json(path, report)
        except OSError as error:
            if not failed:
                failed = True
                print(f"fastnet: warning: cannot write {path} "
                      f"({error.strerror or error}); training goes on",
                      file=sys.stderr)
    return keep


def evaluate(args, parser):
    network, metadata = load_model(args.model)
    dataset = args.dataset or metadata.get("dataset", "mnist")
    _check_layers(parser, _sizes(network), dataset)
    images, labels = data.load_mnist("test", name=dataset, path=args.data_dir)
    scale = metadata.get("input_scale", data.INPUT_SCALE)
    correct = int(np.count_nonzero(
        network.predict(_inputs(network, images, scale)) == labels))
    print(f"{args.model}: {correct} / {len(labels)} test images of {dataset} "
          f"correct ({correct / len(labels):.2%})")
    return 0


def predict(args, parser):
    network, metadata = load_model(args.model)
    shape = data.DATASETS["mnist"].image_shape
    if _sizes(network)[0] != np.prod(shape):
        parser.error(f"{args.model} takes {_sizes(network)[0]} inputs, not "
                     f"{'x'.join(map(str, shape))} images")
    scale = metadata.get("input_scale", data.INPUT_SCALE)
    for path in args.images:
        try:
            images = images_io.read_images(path, shape)
        except FileFormatError as error:  # names the file itself
            parser.exit(1, f"fastnet: error: {error}\n")
        except (OSError, ValueError) as error:
            parser.exit(1, f"fastnet: error: cannot read {path}: {error}\n")
        if args.invert == "yes" or (args.invert == "auto" and
                                    images_io.light_background(images)):
            images = 255 - images
        for i, column in enumerate(_outputs(network, images, scale)):
            name = path if len(images) == 1 else f"{path}[{i}]"
            print(f"{name}: {int(np.argmax(column))}  "
                  f"(output {column.max():.3f})")
    return 0


def _sizes(network):
    """The layer sizes of a loaded network, input first."""
    if isinstance(network, network3.Network):
        return [network.layers[0].n_in] + [layer.n_out
                                           for layer in network.layers]
    return network.sizes


def _inputs(network, images, scale):
    """The images as ``network`` takes them: one column each, or one row
    each for a chapter 6 network."""
    columns = data.to_columns(images, scale=scale)
    return columns.T if isinstance(network, network3.Network) else columns


def _outputs(network, images, scale):
    """The output layer's activations, one row per image."""
    outputs = network.feedforward(_inputs(network, images, scale))
    return outputs if isinstance(network, network3.Network) else outputs.T


def run_bench(args, parser):
    for sizes in args.sizes:
        _check_layers(parser, sizes, "mnist")
        for m in args.mini_batch_sizes:
            try:
                check.check_network_memory(sizes, 8, m)
            except ValueError as error:
                parser.error(str(error))
    if args.samples > data.TRAINING_SIZE:
        parser.error(f"--samples can be at most {data.TRAINING_SIZE} (the "
                     f"training split), got {args.samples}")
    results = bench.run_table(
        [tuple(s) for s in args.sizes], args.mini_batch_sizes, args.samples,
        eta=args.eta, repeat=args.repeat, reference=args.reference,
        data_dir=args.data_dir, busy=args.busy)
    if args.json:
        _write_json(args.json, {"command": "bench", "samples": args.samples,
                                "eta": args.eta, "repeat": args.repeat,
                                "fastnet": __version__, "results": results})
    if args.plot:
        bench.plot(results, args.plot, args.samples)
        print(f"\nPlot written to {args.plot}")
    return 0


def _check_layers(parser, sizes, dataset):
    try:
        data.check_layers(sizes, dataset)
    except ValueError as error:
        parser.error(str(error))


def _write_json(path, report):
    with atomic_write(path, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


# ---------------------------------------------------------------- parsing

def _parser():
    parser = argparse.ArgumentParser(
        prog="fastnet", description="Nielsen's MNIST network, fast and "
        "proven equal to the per-sample original.")
    parser.add_argument("--version", action="version",
                        version=f"fastnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_train, _add_evaluate, _add_predict, _add_bench,
                _add_check, _add_sweep):
        add(commands)
    return parser


def _add_train(commands):
    p = commands.add_parser("train", help="train on MNIST (default: "
                            "Nielsen's headline run) and report test "
                            "accuracy per epoch")
    defaults = training.Settings()
    p.add_argument("--net", choices=("fc",) + tuple(conv_models.PRESETS),
                   default="fc",
                   help="fc: a fully connected network of --sizes "
                   "(chapters 1-3, the default); or one of the book's "
                   "chapter 6 networks, trained with the book's settings "
                   "unless --epochs, --eta, --lmbda, --mini-batch-size or "
                   "--dtype say otherwise: " + "; ".join(
                       f"{name}: {preset.description}"
                       for name, preset in conv_models.PRESETS.items()))
    p.add_argument("--sizes", type=arguments.sizes, action=_Given,
                   default=list(defaults.sizes),
                   help="layer sizes, input first (default 784,30,10)")
    p.add_argument("--epochs", type=arguments.count("epochs", 1),
                   default=defaults.epochs, action=_Given)
    p.add_argument("--mini-batch-size",
                   type=arguments.count("mini_batch_size", 1),
                   default=defaults.mini_batch_size, action=_Given)
    p.add_argument("--eta", type=arguments.rate("eta"), default=defaults.eta,
                   action=_Given, help="learning rate")
    p.add_argument("--cost", choices=list(costs.COSTS), default=defaults.cost,
                   action=_Given,
                   help="quadratic (chapter 1) or cross-entropy (chapter 3)")
    p.add_argument("--lmbda", type=arguments.rate("lmbda", allow_zero=True),
                   default=defaults.lmbda, action=_Given,
                   help="L2 regularisation parameter (default 0)")
    p.add_argument("--init", choices=training.INITIALIZERS,
                   default=defaults.init, action=_Given,
                   help="weights from N(0, 1) (large, chapter 1) or "
                   "N(0, 1/n_in) (default, chapter 3)")
    p.add_argument("--evaluate-on", choices=training.EVALUATION_SETS,
                   default=defaults.evaluate_on, action=_Given,
                   help="score on the 10,000 test images or on Nielsen's "
                   "10,000 validation images (the last of the training set)")
    p.add_argument("--seed", type=arguments.count("seed", 0), default=None,
                   help="random seed (default: a fresh one, printed)")
    p.add_argument("--dtype", choices=arguments.DTYPES, action=_Given,
                   default=defaults.dtype, help="default float64; float32 "
                   "for a chapter 6 --net, as the book's GPU setting")
    p.add_argument("--dataset", choices=sorted(data.DATASETS),
                   default=defaults.dataset)
    p.add_argument("--limit", type=arguments.count("limit", 1), metavar="N",
                   help="train on the first N training images only")
    p.add_argument("--data-dir", metavar="PATH",
                   help="folder holding the four IDX files")
    p.add_argument("--save", metavar="PATH", type=arguments.writable,
                   help="save the trained model (.npz)")
    p.add_argument("--json", metavar="PATH", type=arguments.writable,
                   help="write per-epoch results as JSON")
    p.add_argument("--quiet", action="store_true",
                   help="print the final result only")
    p.set_defaults(run=train, parser=p, given=frozenset())


class _Given(argparse.Action):
    """Stores an option's value and notes in ``given`` that it was
    given: a chapter 6 network takes its settings from its preset unless
    they are given, and refuses the fully connected networks' options."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = getattr(namespace, "given", frozenset()) | {
            self.dest}


def _add_evaluate(commands):
    p = commands.add_parser("evaluate", help="test accuracy of a saved "
                            "model")
    p.add_argument("model", metavar="PATH", type=arguments.readable)
    p.add_argument("--dataset", choices=sorted(data.DATASETS),
                   help="default: the one the model was trained on")
    p.add_argument("--data-dir", metavar="PATH")
    p.set_defaults(run=evaluate, parser=p)


def _add_predict(commands):
    p = commands.add_parser("predict", help="classify 28x28 images (PNG, "
                            ".npy or IDX)")
    p.add_argument("model", metavar="PATH", type=arguments.readable)
    p.add_argument("images", metavar="IMAGE", nargs="+",
                   type=arguments.readable)
    p.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                   help="invert dark-on-light images (default: when the "
                   "border is light)")
    p.set_defaults(run=predict, parser=p)


def _add_bench(commands):
    p = commands.add_parser("bench", help="time one epoch: the per-sample "
                            "reference against the fast paths")
    p.add_argument("--sizes", type=arguments.sizes, nargs="+",
                   default=[[784, 30, 10]], metavar="SIZES",
                   help="one or more networks, e.g. 784,30,10 784,100,10")
    p.add_argument("--mini-batch-sizes",
                   type=arguments.counts("mini-batch size"),
                   default=[10], metavar="M,M,...",
                   help="e.g. 1,10,100 (default 10)")
    p.add_argument("--samples", type=arguments.count("samples", 1),
                   default=data.TRAINING_SIZE)
    p.add_argument("--eta", type=arguments.rate("eta"), default=3.0)
    p.add_argument("--repeat", type=arguments.count("repeat", 1), default=3,
                   help="time each implementation this many times and "
                   "report the median (default 3)")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the slow per-sample loop")
    p.add_argument("--busy", type=arguments.count("busy", 0), default=0,
                   metavar="N", help="keep N other processes spinning on "
                   "the cores while timing (a busy machine; default 0)")
    p.add_argument("--data-dir", metavar="PATH")
    p.add_argument("--json", metavar="PATH", type=arguments.writable)
    p.add_argument("--plot", metavar="PATH", type=arguments.writable,
                   help="plot seconds per epoch against mini-batch size "
                   "(needs matplotlib)")
    p.set_defaults(run=run_bench, parser=p)


def _add_check(commands):
    from .testing import command
    p = commands.add_parser("check", help="check your own network class "
                            "against the per-sample reference (gradient, "
                            "one step, two epochs)")
    command.add_arguments(p)
    p.set_defaults(run=lambda args, parser: command.run_command(args),
                   parser=p)


def _add_sweep(commands):
    from . import sweep
    p = commands.add_parser("sweep", help="many training runs (a grid or "
                            "random search) on a local or remote Dask "
                            "cluster")
    sweep.add_arguments(p)
    p.set_defaults(run=sweep.command, parser=p)


if __name__ == "__main__":
    sys.exit(main())
