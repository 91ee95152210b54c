"""``fastnet sweep``: its options and the command.

Each swept option is read by the argument types of ``fastnet train``
(``fastnet.cli``), applied to every value of its list or range, so that
the two commands refuse the same mistake with the same words.
"""

import argparse
import sys

from .. import arguments, costs, data, training
from ..files import FileFormatError
from .execute import available_cores, require_dask, run
from .plan import OPTIONS, SWEPT, parse_numbers, plan, point_key, read_spec
from .plan import split_list
from .report import plot, table
from .results import ResultsExist, ResultsFile

#: fastnet train's choices for --dtype.
DTYPES = arguments.DTYPES


def add_arguments(parser):
    """Add ``fastnet sweep``'s options to an argparse (sub)parser."""
    _add_swept(parser)
    _add_runs(parser)
    _add_output(parser)


def _add_swept(parser):
    sweep = parser.add_argument_group(
        "swept settings", "comma-separated values (0.1,0.5,3) or ranges "
        "START:STOP:COUNT[:log]; every combination runs")
    sweep.add_argument("--sizes", nargs="+", metavar="SIZES",
                       type=arguments.sizes,
                       help="networks, e.g. 784,30,10 784,100,10")
    for option, kind, help_text in _swept_options():
        sweep.add_argument(option, type=kind, metavar="V,V,...",
                           help=help_text)


def _add_runs(parser):
    runs = parser.add_argument_group("runs")
    runs.add_argument("--spec", metavar="FILE", help="a TOML or JSON file "
                      "of swept settings and options (the command line "
                      "overrides it)")
    runs.add_argument("--repeats", type=arguments.count("repeats", 1),
                      metavar="N", help="seeds per grid point (default 1)")
    runs.add_argument("--seed", type=arguments.count("seed", 0), metavar="S",
                      help="first seed (default 0): seeds S, S+1, ...")
    runs.add_argument("--random", type=arguments.count("random", 1),
                      metavar="N",
                      help="run N random grid points, not all")
    runs.add_argument("--search-seed", type=arguments.count("search_seed", 0),
                      metavar="S",
                      help="seed of the random choice (default 0)")
    runs.add_argument("--limit", type=arguments.count("limit", 1), metavar="N",
                      help="train on the first N training images")
    runs.add_argument("--evaluate-on", choices=training.EVALUATION_SETS,
                      help="default: validation (Nielsen's last 10,000 "
                      "training images)")
    runs.add_argument("--data-dir", metavar="PATH")


def _add_output(parser):
    where = parser.add_argument_group("execution and output")
    where.add_argument("--results", metavar="FILE", default="sweep.jsonl",
                       type=arguments.writable,
                       help="JSON lines, one per run (default sweep.jsonl)")
    where.add_argument("--resume", action="store_true",
                       help="continue the sweep in --results, skipping "
                       "the runs it holds")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="an existing Dask scheduler, e.g. "
                       "tcp://10.0.0.5:8786 (default: a local cluster)")
    where.add_argument("--workers", type=arguments.count("workers", 1),
                       metavar="N",
                       help="local worker processes (default: one per "
                       "core)")
    where.add_argument("--plot", metavar="FILE", type=arguments.writable,
                       help="plot accuracy against each setting, and the "
                       "best learning curves (needs matplotlib)")
    where.add_argument("--top", type=arguments.count("top", 1), metavar="N",
                       help="show the best N grid points only")
    where.add_argument("--quiet", action="store_true",
                       help="no progress bar")


def _swept_options():
    """``(option, argparse type, help)`` of each swept option but
    ``--sizes``."""
    return (
        ("--eta", _numbers("eta", arguments.rate("eta")), "learning rates"),
        ("--lmbda", _numbers("lmbda", arguments.rate("lmbda", allow_zero=True)),
         "L2 regularisation"),
        ("--mini-batch-size", _numbers(
            "mini_batch_size", arguments.count("mini_batch_size", 1)),
         "mini-batch sizes"),
        ("--epochs", _numbers("epochs", arguments.count("epochs", 1)),
         "epochs per run"),
        ("--cost", _choices("--cost", list(costs.COSTS)),
         ", ".join(costs.COSTS)),
        ("--init", _choices("--init", training.INITIALIZERS),
         ", ".join(training.INITIALIZERS)),
        ("--dtype", _choices("--dtype", DTYPES), ", ".join(DTYPES)),
        ("--dataset", _choices("--dataset", sorted(data.DATASETS)),
         ", ".join(sorted(data.DATASETS))))


def _numbers(name, one):
    """An argparse type: a comma list of numbers and ranges, each value
    read and checked by ``one``, fastnet train's type for the option."""
    integer = name in ("epochs", "mini_batch_size")
    parse = arguments.parse_int if integer else arguments.parse_float

    def convert(text):
        try:
            numbers = parse_numbers(name, text, parse, arguments.parse_int)
        except ValueError as error:
            raise argparse.ArgumentTypeError(_unnamed(name, error)) from None
        # A range's values are checked as if typed; repr keeps every digit.
        return [one(repr(value)) for value in numbers]
    return convert


def _choices(option, choices):
    """An argparse type: a comma list of ``choices``, a value not among
    them refused in argparse's own words for ``choices=``."""
    def convert(text):
        try:
            parts = split_list(option[2:].replace("-", "_"), text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        for part in parts:
            if part not in choices:
                raise argparse.ArgumentTypeError(
                    _invalid_choice(option, choices, part))
        return parts
    return convert


def _invalid_choice(option, choices, value):
    """What argparse says of ``value`` for ``choices=choices`` (its words
    change between Python versions: ask it)."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument(option, choices=choices)
    try:
        parser.parse_args([f"{option}={value}"])
    except argparse.ArgumentError as error:
        return error.message
    return f"invalid choice: {value!r}"


def _unnamed(name, error):
    """``error``'s message less a leading ``name``, which argparse prints
    already."""
    message = str(error)
    prefix = f"{name}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def command(args, parser):
    """Run ``fastnet sweep``; bad settings are refused with
    ``parser.error`` (status 2) before anything runs."""
    try:
        runs, swept = _planned(args)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    if args.scheduler and args.workers:
        parser.error("--workers sizes a local cluster; not with --scheduler")
    try:
        require_dask()
    except ImportError as error:
        parser.error(str(error))
    if args.plot:
        _check_plot(parser, args.plot)
    with _open_results(args, parser) as store:
        todo = sum(not store.done(s) for s in runs)
        print(_headline(runs, todo, store, args))
    try:
        records = run(runs, args.results, resume=True,
                      scheduler=args.scheduler, workers=args.workers,
                      data_dir=args.data_dir,
                      progress=not args.quiet and sys.stderr.isatty())
    except OSError as error:    # the scheduler is unreachable, mostly
        parser.exit(1, f"fastnet: error: {error}\n")
    print(table(records, args.top, swept))
    if args.plot:
        plot(records, args.plot)
        print(f"Plot written to {args.plot}")
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _open_results(args, parser):
    """The results file, opened to read what it holds; a file that cannot
    be used is refused with ``parser.error``."""
    try:
        return ResultsFile(args.results, args.resume)
    except OSError as error:
        parser.error(f"cannot open --results {args.results}: {error}")
    except ResultsExist:
        parser.error(f"{args.results} already holds results: pass --resume "
                     f"to continue that sweep, or name another file")
    except FileFormatError:
        raise                   # status 1, as for other unreadable files
    except ValueError as error:         # another sweep holds its lock
        parser.error(str(error))


def _planned(args):
    """The runs of the spec file overridden by the command line, and the
    names of the settings they sweep."""
    grid, options = read_spec(args.spec) if args.spec else ({}, {})
    for name in SWEPT:
        if getattr(args, name) is not None:
            grid[name] = getattr(args, name)
    for name in OPTIONS:
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return plan(grid, **options), list(grid)


def _headline(runs, todo, store, args):
    """What the sweep will do, said before it starts."""
    grid = len({point_key(s) for s in runs})
    if todo == 0:
        where = "nothing left to run"
    else:
        workers = min(args.workers or available_cores(), todo)
        where = "on " + (args.scheduler or f"a local Dask cluster of "
                         f"{_plural(workers, 'single-threaded worker')}")
    line = (f"fastnet sweep: {_plural(len(runs), 'run')} "
            f"({_plural(grid, 'setting')} x "
            f"{_plural(len(runs) // grid, 'seed')}), scored on the "
            f"{runs[0].evaluate_on} set, {where}; results in {args.results}")
    if len(runs) > todo:
        line += f"\nResuming: {len(runs) - todo} runs already done"
    if store.torn_bytes:
        line += (f"\nIgnored a torn last line ({store.torn_bytes} bytes) "
                 f"left by an interrupted write")
    return line


def _plural(count, noun):
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _check_plot(parser, path):
    """Refuse --plot without matplotlib before any run (the path was
    checked as fastnet train checks --save)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        parser.error("--plot needs matplotlib (pip install matplotlib)")
