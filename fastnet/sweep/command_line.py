"""``fastnet sweep``: its options and the command."""

import os
import sys

from .. import training
from ..files import FileFormatError
from .execute import available_cores, require_dask, run
from .plan import OPTIONS, SWEPT, plan, point_key, read_spec
from .report import plot, table
from .results import ResultsExist, ResultsFile

def add_arguments(parser):
    """Add ``fastnet sweep``'s options to an argparse (sub)parser."""
    sweep = parser.add_argument_group(
        "swept settings", "comma-separated values (0.1,0.5,3) or ranges "
        "START:STOP:COUNT[:log]; every combination runs")
    sweep.add_argument("--sizes", nargs="+", metavar="SIZES",
                       help="networks, e.g. 784,30,10 784,100,10")
    for name, help_text in (
            ("--eta", "learning rates"), ("--lmbda", "L2 regularisation"),
            ("--mini-batch-size", "mini-batch sizes"),
            ("--epochs", "epochs per run"),
            ("--cost", "quadratic, cross-entropy"),
            ("--init", "large, default"), ("--dtype", "float64, float32"),
            ("--dataset", "mnist, fashion")):
        sweep.add_argument(name, metavar="V,V,...", help=help_text)
    runs = parser.add_argument_group("runs")
    runs.add_argument("--spec", metavar="FILE", help="a TOML or JSON file "
                      "of swept settings and options (the command line "
                      "overrides it)")
    runs.add_argument("--repeats", type=int, metavar="N",
                      help="seeds per grid point (default 1)")
    runs.add_argument("--seed", type=int, metavar="S",
                      help="first seed (default 0): seeds S, S+1, ...")
    runs.add_argument("--random", type=int, metavar="N",
                      help="run N random grid points, not all")
    runs.add_argument("--search-seed", type=int, metavar="S",
                      help="seed of the random choice (default 0)")
    runs.add_argument("--limit", type=int, metavar="N",
                      help="train on the first N training images")
    runs.add_argument("--evaluate-on", choices=training.EVALUATION_SETS,
                      help="default: validation (Nielsen's last 10,000 "
                      "training images)")
    runs.add_argument("--data-dir", metavar="PATH")
    where = parser.add_argument_group("execution and output")
    where.add_argument("--results", metavar="FILE", default="sweep.jsonl",
                       help="JSON lines, one per run (default sweep.jsonl)")
    where.add_argument("--resume", action="store_true",
                       help="continue the sweep in --results, skipping "
                       "the runs it holds")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="an existing Dask scheduler, e.g. "
                       "tcp://10.0.0.5:8786 (default: a local cluster)")
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: one per "
                       "core)")
    where.add_argument("--plot", metavar="FILE",
                       help="plot accuracy against each setting, and the "
                       "best learning curves (needs matplotlib)")
    where.add_argument("--top", type=int, metavar="N",
                       help="show the best N grid points only")
    where.add_argument("--quiet", action="store_true",
                       help="no progress bar")


def command(args, parser):
    """Run ``fastnet sweep``; bad settings are refused with
    ``parser.error`` (status 2) before anything runs."""
    try:
        runs, options = _planned(args)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    if args.scheduler and args.workers:
        parser.error("--workers sizes a local cluster; not with --scheduler")
    for name in ("workers", "top"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got "
                         f"{getattr(args, name)}")
    try:
        require_dask()
    except ImportError as error:
        parser.error(str(error))
    if args.plot:
        _check_plot(parser, args.plot)
    try:
        store = ResultsFile(args.results, args.resume)
    except OSError as error:
        parser.error(f"cannot open --results {args.results}: {error}")
    except ResultsExist:
        parser.error(f"{args.results} already holds results: pass --resume "
                     f"to continue that sweep, or name another file")
    except FileFormatError:
        raise                   # status 1, as for other unreadable files
    except ValueError as error:
        parser.error(str(error))
    with store:
        todo = sum(not store.done(s) for s in runs)
        print(_headline(runs, todo, store, args))
    try:
        records = run(runs, args.results, resume=True,
                      scheduler=args.scheduler, workers=args.workers,
                      data_dir=args.data_dir,
                      progress=not args.quiet and sys.stderr.isatty())
    except OSError as error:    # the scheduler is unreachable, mostly
        parser.exit(1, f"fastnet: error: {error}\n")
    print(table(records, args.top))
    if args.plot:
        plot(records, args.plot)
        print(f"Plot written to {args.plot}")
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _planned(args):
    grid, options = read_spec(args.spec) if args.spec else ({}, {})
    for name in SWEPT:
        text = getattr(args, name)
        if text is not None:
            grid[name] = text
    for name in OPTIONS:
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return plan(grid, **options), options


def _headline(runs, todo, store, args):
    grid = len({point_key(s) for s in runs})
    where = args.scheduler or (
        f"a local Dask cluster of "
        f"{min(args.workers or available_cores(), max(todo, 1))} "
        f"single-threaded workers")
    line = (f"fastnet sweep: {len(runs)} runs ({grid} settings x "
            f"{len(runs) // grid} seeds), scored on the "
            f"{runs[0].evaluate_on} set, on {where}; results in "
            f"{args.results}")
    if len(runs) > todo:
        line += f"\nResuming: {len(runs) - todo} runs already done"
    if store.torn_bytes:
        line += (f"\nIgnored a torn last line ({store.torn_bytes} bytes) "
                 f"left by an interrupted write")
    return line


def _check_plot(parser, path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        parser.error("--plot needs matplotlib (pip install matplotlib)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        parser.error(f"cannot write --plot {path}: {folder} is not a "
                     f"writable folder")
