"""argparse types for fastnet's commands, built from the checks of the
Python API (``fastnet.validation``), so that ``fastnet train``, ``fastnet
bench``, ``fastnet sweep`` and Python refuse the same values in the same
words.  Each parses the text, then checks the value."""

import argparse
import os

from . import files
from . import validation as check

#: The precisions a run may compute in.
DTYPES = ("float64", "float32")


def checked(parse, check_value, name=""):
    """An argparse type: ``check_value(parse(text))``; the check's message
    loses its leading ``name``, which argparse already prints."""
    def convert(text):
        try:
            return check_value(parse(text))
        except (TypeError, ValueError) as error:
            message = str(error)
            if name and message.startswith(name + " "):
                message = message[len(name) + 1:]
            raise argparse.ArgumentTypeError(message) from None
    return convert


def parse_int(text):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def parse_float(text):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def parse_ints(text):
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got "
                         f"{text!r}") from None


def count(name, minimum):
    """A count of at least ``minimum``, such as ``--epochs``."""
    return checked(parse_int,
                   lambda value: check.check_count(name, value, minimum),
                   name)


def counts(name):
    """Comma-separated counts of at least 1, such as ``10,100``."""
    def check_all(values):
        return [check.check_count(name, value, 1) for value in values]
    return checked(parse_ints, check_all, name)


def rate(name, allow_zero=False):
    """A finite positive (or non-negative) rate, such as ``--eta``."""
    return checked(parse_float,
                   lambda value: check.check_rate(name, value, allow_zero),
                   name)


#: Layer sizes, such as ``784,30,10``.
sizes = checked(parse_ints, check.check_sizes)


def readable(text):
    """A file that can be read."""
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read {text!r}")
    return text


def writable(text):
    """A path a file can be saved at (see ``files.writable_problem``)."""
    problem = files.writable_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text
