"""``fastnet check MODULE:CLASS``: the three checks on a user's network.

``check_command`` does the work and returns the exit status (0 all
passed, 1 a check found a difference, 2 the target or the options are
unusable); ``add_arguments`` gives an argparse (sub)parser this
command's options and ``run_command`` runs it on the parsed arguments,
so the command line needs two lines:

    check = commands.add_parser("check", help="...")
    fastnet.testing.add_arguments(check)       # later: run_command(args)
"""

import argparse
import contextlib
import importlib
import importlib.util
import os
import re
import sys
import textwrap

import numpy as np

from fastnet import costs

from .cases import check_seed
from .compare import CheckFailure
from .gradient import check_gradient
from .interfaces import ORDERS, check_order, order_contradiction
from .reference_side import resolve_cost
from .step import check_step
from .training import check_training

CHECKS = ("gradient", "step", "training")


class TargetError(Exception):
    """The target cannot be imported or is not a network class."""


def add_arguments(parser):
    """Add ``fastnet check``'s arguments to an argparse parser."""
    parser.add_argument(
        "target", metavar="MODULE:CLASS",
        help="the network class (or factory taking sizes) to check, as "
             "module:Class or path/to/file.py:Class")
    parser.add_argument(
        "--order", choices=ORDERS, default="book",
        help="the interface: 'book' (network.py of the book, SGD(data, "
             "epochs, mini_batch_size, eta)), 'seed' (mini_batch_size "
             "before epochs, as fastnet.Network) or 'network2' (chapter 3); "
             "default: book")
    parser.add_argument(
        "--cost", choices=list(costs.COSTS), default=None,
        help="the cost the reference runs (network2); default: the "
             "network's own cost class, whatever its name")
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), default="float64",
        help="precision the network computes in; sets the tolerances")
    parser.add_argument("--seed", type=_seed, default=0,
                        help="seed of the kit's networks and data")
    return parser


def _seed(text):
    """An argparse type for ``--seed``, in ``fastnet train``'s words."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer, got {text!r}") from None
    try:
        return check_seed(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            str(error).replace("seed must be", "must be", 1)) from None


def run_command(args, stream=None):
    """Run ``check_command`` on arguments parsed with ``add_arguments``."""
    return check_command(args.target, order=args.order,
                         cost=args.cost or "auto", dtype=args.dtype,
                         seed=args.seed,
                         stream=sys.stdout if stream is None else stream)


def check_command(target, *, order="book", cost="auto", dtype="float64",
                  seed=0, stream=None):
    """Import ``target`` (``module:Class`` or ``path/file.py:Class``), run
    the gradient, one-step and two-epoch checks on it and print a short
    report: one line per check, passed or the first divergence.  ``cost``
    is the cost the reference runs (a built-in cost's name, or "auto":
    the network's own, see ``check_step``).  Returns 0 when all pass, 1
    when one finds a difference, 2 when the target cannot be imported or
    does not fit ``order`` or ``cost`` (a one-line message)."""
    stream = sys.stdout if stream is None else stream
    try:
        check_order(order)
        if not (isinstance(cost, str) and cost == "auto"):
            resolve_cost(cost, order=order)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        with _importable_from(target) as network:
            problem = order_contradiction(network, order) \
                if isinstance(network, type) else None
            if problem:
                raise TargetError(problem)
            given = "" if isinstance(cost, str) and cost == "auto" else \
                f", cost {cost}"
            print(f"fastnet check {target} (order {order}{given}, {dtype}, "
                  f"seed {seed})", file=stream)
            failed = sum(not _one_check(name, network, order, cost, dtype,
                                        seed, stream) for name in CHECKS)
    except (TargetError, ValueError, TypeError) as error:
        message = re.sub(r"order='(\w+)'", r"--order \1", str(error))
        print(f"fastnet check: {message}", file=stream)
        return 2
    if failed:
        print(f"FAILED: {failed} of {len(CHECKS)} checks found a "
              f"difference", file=stream)
        return 1
    print(f"passed: all {len(CHECKS)} checks agree with fastnet.reference",
          file=stream)
    return 0


def _one_check(name, network, order, cost, dtype, seed, stream):
    """Run one check and print its line; whether it passed."""
    if order != "network2" and isinstance(cost, str) and cost == "auto":
        cost = None  # chapter 1's reference, whatever the network holds
    try:
        if name == "gradient":
            report = check_gradient(network, cost=cost, dtype=dtype,
                                    seed=seed)
        else:
            check = check_step if name == "step" else check_training
            report = check(network, order=order, cost=cost, dtype=dtype,
                           seed=seed)
    except CheckFailure as failure:
        _line(name, "FAIL", re.sub(r"^check_\w+[,:] ", "", str(failure)),
              stream)
        return False
    _line(name, "ok", str(report), stream)
    return True


def _line(name, verdict, text, stream):
    print(textwrap.fill(text, width=100,
                        initial_indent=f"  {name:<9} {verdict:<4}  ",
                        subsequent_indent=" " * 18), file=stream)


@contextlib.contextmanager
def _importable_from(target):
    """The object named by ``target``, its file's folder on ``sys.path``
    meanwhile (so that it can import its neighbours)."""
    if not isinstance(target, str) or ":" not in target:
        raise TargetError(f"target must look like module:Class or "
                          f"path/to/file.py:Class, got {target!r}")
    where, name = target.rsplit(":", 1)
    folder = None
    if where.endswith(".py") or os.sep in where or "/" in where:
        if not os.path.isfile(where):
            raise TargetError(f"cannot import {target}: no file {where}")
        folder = os.path.dirname(os.path.abspath(where))
        sys.path.insert(0, folder)
    try:
        module = _import(where, target)
        if not name or not hasattr(module, name):
            raise TargetError(f"cannot import {target}: "
                              f"{getattr(module, '__name__', where)} has no "
                              f"{name!r}")
        network = getattr(module, name)
        if not callable(network):
            raise TargetError(f"{target} is a {type(network).__name__}, not "
                              f"a network class or factory")
        yield network
    finally:
        if folder is not None and folder in sys.path:
            sys.path.remove(folder)


def _import(where, target):
    try:
        if where.endswith(".py"):
            stem = os.path.splitext(os.path.basename(where))[0]
            spec = importlib.util.spec_from_file_location(stem, where)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(where)
    except (Exception, SystemExit) as error:
        raise TargetError(f"cannot import {target}: "
                          f"{type(error).__name__}: {error}") from None
