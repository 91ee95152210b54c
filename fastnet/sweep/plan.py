"""A sweep's plan: the grid of swept values, spec files, and the
identity of a run.

``plan`` turns a grid (values, lists, ranges or command-line text) into
the list of checked ``training.Settings`` a sweep runs, refusing bad
values with ``Settings.checked``'s own message before anything runs; a
run is known by its checked settings, seed included (``run_id``).
"""

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import numbers

import numpy as np

from .. import training
from .. import validation as check

#: The settings a sweep may vary, in the order tables show them.
SWEPT = ("dataset", "sizes", "cost", "init", "dtype", "epochs",
         "mini_batch_size", "eta", "lmbda")
#: What else a spec file may set: the same for every run.
OPTIONS = ("repeats", "seed", "random", "search_seed", "limit",
           "evaluate_on")
INTEGER_SETTINGS = ("epochs", "mini_batch_size")
REAL_SETTINGS = ("eta", "lmbda")
#: More runs than this is a typo, not a sweep (and would fill memory).
MAX_RUNS = 100_000
#: Range values are rounded to this many significant digits, far below
#: float64's 15-17 and far beyond what a learning rate needs.
SIGNIFICANT_DIGITS = 12


def plan(grid, *, repeats=1, seed=0, random=None, search_seed=0,
         limit=None, evaluate_on="validation"):
    """The runs of a sweep: a list of checked ``training.Settings``.

    ``grid`` maps swept settings (``SWEPT``) to their values: a list, one
    value, or text as the command line takes it (``"0.1,0.5,3"``, or a
    range ``"START:STOP:COUNT"``, ``"START:STOP:COUNT:log"``).  Every
    point of the grid (or ``random`` of them, drawn with ``search_seed``)
    runs ``repeats`` times, with seeds ``seed``, ``seed + 1``, ...; the
    other settings are ``training.Settings``' defaults, ``limit`` and
    ``evaluate_on``.  Bad values raise the ``ValueError`` or ``TypeError``
    that ``Settings.checked`` (and so ``fastnet train``) gives."""
    if not hasattr(grid, "items"):
        raise TypeError(f"grid must map setting names to values, got "
                        f"{type(grid).__name__}")
    for name in grid:
        _known(name, SWEPT, "sweep parameter")
    axes = {name: values(name, raw) for name, raw in grid.items()}
    repeats, seed, random, search_seed, limit, evaluate_on = \
        check_options(repeats, seed, random, search_seed, limit,
                      evaluate_on)
    shape = [len(v) for v in axes.values()]
    points = math.prod(shape) if random is None else \
        min(math.prod(shape), random)
    if points * repeats > MAX_RUNS:
        raise ValueError(f"the sweep has {points * repeats:,} runs; at most "
                         f"{MAX_RUNS:,} (sweep fewer values, or sample "
                         f"them with random)")
    fixed = dict(limit=limit, evaluate_on=evaluate_on)
    runs, seen = [], set()
    for index in _point_indices(shape, random, search_seed):
        point = {name: axes[name][i] for name, i in zip(axes, index)}
        # Checked once per point: the seeds differ only by seed, itself
        # checked with the options.
        checked = training.Settings(**point, **fixed, seed=seed).checked()
        for k in range(repeats):
            settings = dataclasses.replace(checked, seed=seed + k)
            key = run_id(settings)
            if key not in seen:
                seen.add(key)
                runs.append(settings)
    return runs


def check_options(repeats=1, seed=0, random=None, search_seed=0,
                  limit=None, evaluate_on="validation"):
    """``plan``'s options, checked, in that order; ``ValueError`` or
    ``TypeError`` naming the option otherwise."""
    fixed = training.Settings(limit=limit, evaluate_on=evaluate_on).checked()
    return (check.check_count("repeats", repeats, 1),
            check.check_count("seed", seed, 0),
            None if random is None else check.check_count("random", random,
                                                          1),
            check.check_count("search_seed", search_seed, 0),
            limit if limit is None else fixed.limit, evaluate_on)


def _point_indices(shape, random, search_seed):
    """Indices into the axes: every point in order, or ``random`` distinct
    points drawn without listing the grid."""
    total = math.prod(shape)
    if random is None or random >= total:
        return itertools.product(*[range(n) for n in shape])
    rng = np.random.default_rng(search_seed)
    flat = np.sort(rng.choice(total, size=random, replace=False))
    return zip(*[i.tolist() for i in np.unravel_index(flat, shape)])


def values(name, raw):
    """The checked values of the swept setting ``name`` from a list, one
    value or command-line text, normalised as ``Settings.checked`` gives
    them and without repeats; ``ValueError`` or ``TypeError`` naming
    the setting otherwise."""
    _known(name, SWEPT, "sweep parameter")
    items = _items(name, raw)
    if not items:
        raise ValueError(f"{name} has an empty list of values")
    # A dict keeps the first of equal values in order, in linear time.
    checked = {}
    for item in items:
        checked.setdefault(_check_one(name, item), None)
    return list(checked)


def _items(name, raw):
    """The unchecked values in ``raw``: a list, one value or text; no
    more than ``MAX_RUNS`` of them, refused before they are made."""
    if isinstance(raw, str):
        return _parse_text(name, raw)
    if name == "sizes" and isinstance(raw, (list, tuple)) and raw and \
            all(isinstance(x, numbers.Integral) for x in raw):
        return [raw]                    # one network, [784, 30, 10]
    if not isinstance(raw, (list, tuple)):
        return [raw]
    _check_length(name, len(raw))
    items = []
    for item in raw:
        items.extend(_parse_text(name, item) if isinstance(item, str)
                     else [item])
        _check_length(name, len(items))
    return items


def _check_length(name, length):
    if length > MAX_RUNS:
        raise ValueError(f"{name} has {length:,} values or more; a sweep "
                         f"runs at most {MAX_RUNS:,}")


def _check_one(name, value):
    """``value`` as ``Settings.checked`` normalises it, or its error."""
    if name == "sizes" and isinstance(value, list):
        value = tuple(value)
    return getattr(dataclasses.replace(training.Settings(),
                                       **{name: value}).checked(), name)


def _parse_text(name, text):
    """Command-line text: a comma list, or a range for numbers."""
    if name == "sizes":
        return [_parse_sizes(text)]
    if name in INTEGER_SETTINGS + REAL_SETTINGS:
        return parse_numbers(name, text, lambda part: _parse_number(name,
                                                                    part))
    return split_list(name, text)


def split_list(name, text):
    """The comma-separated parts of ``text``; ``ValueError`` if none."""
    parts = [part.strip() for part in text.split(",")]
    if parts == [""]:
        raise ValueError(f"{name} has an empty list of values")
    _check_length(name, len(parts))
    return parts


def parse_numbers(name, text, number, integer=None):
    """The numbers of a comma list of numbers and ranges, each read by
    ``number(text)`` (and a range's COUNT by ``integer(text)``): the
    command line passes its own readers, so that its words are
    ``fastnet train``'s."""
    parsed = []
    for part in split_list(name, text):
        if ":" in part:
            parsed.extend(parse_range(name, part, number, integer))
        else:
            parsed.append(number(part))
        _check_length(name, len(parsed))
    return parsed


def _parse_number(name, text):
    try:
        return int(text) if name in INTEGER_SETTINGS else float(text)
    except ValueError:
        kind = "an integer" if name in INTEGER_SETTINGS else "a number"
        raise ValueError(f"{name} must be {kind}, got {text!r}") from None


def _parse_count(name, text):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: a range's COUNT must be an integer, got "
                         f"{text!r}") from None


def parse_range(name, text, number, integer=None):
    """``START:STOP:COUNT`` (evenly spaced, both ends included) or
    ``START:STOP:COUNT:log`` (a geometric series), the ends read by
    ``number`` and COUNT by ``integer``; integers rounded, reals rounded
    to ``SIGNIFICANT_DIGITS``."""
    fields = text.split(":")
    scale = fields.pop() if len(fields) == 4 else "lin"
    if len(fields) != 3 or scale not in ("lin", "log"):
        raise ValueError(f"{name}: a range is START:STOP:COUNT or "
                         f"START:STOP:COUNT:log, got {text!r}")
    start, stop = number(fields[0]), number(fields[1])
    count = (integer or (lambda t: _parse_count(name, t)))(fields[2])
    if count < 1:
        raise ValueError(f"{name}: a range needs a COUNT of at least 1, "
                         f"got {text!r}")
    # Refused before linspace would try to fill memory with it.
    if count > MAX_RUNS:
        raise ValueError(f"{name}: a range of {count:,} values; a sweep "
                         f"runs at most {MAX_RUNS:,}")
    if scale == "log" and (start <= 0 or stop <= 0):
        raise ValueError(f"{name}: a log range needs positive ends, got "
                         f"{text!r}")
    series = (np.geomspace if scale == "log" else np.linspace)(
        start, stop, count)
    if name in INTEGER_SETTINGS:
        return [int(v) for v in dict.fromkeys(np.rint(series).astype(int))]
    # 0.05:5:5:log gives 0.49999999999999994: rounded to 12 significant
    # digits, it is the 0.5 a person means, prints so and meets a 0.5
    # given elsewhere as one value.
    return [float(f"{v:.{SIGNIFICANT_DIGITS}g}") for v in series]


def _parse_sizes(text):
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"sizes must be comma-separated integers such as "
                         f"784,30,10, got {text!r}") from None


def _known(name, known, what):
    if name not in known:
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown {what} {name!r}{hint}; known: "
                         f"{', '.join(known)}")


def read_spec(path):
    """A spec file (TOML, or JSON for ``.json``): its swept settings,
    checked (as ``values`` gives them), and its ``OPTIONS``, as
    ``(grid, options)``.  Unreadable files, unknown keys and bad values
    raise ``ValueError`` or ``TypeError`` naming the file."""
    spec = _load_spec(path)
    grid, options = {}, {}
    try:
        for name, value in spec.items():
            name = name.replace("-", "_")
            _known(name, SWEPT + OPTIONS, "sweep parameter")
            if name in SWEPT:
                grid[name] = values(name, value)
            else:
                options[name] = value
        check_options(**options)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{path}: {error}") from None
    return grid, options


def _load_spec(path):
    """The table a spec file holds."""
    loads = json.loads if str(path).endswith(".json") else None
    if loads is None:           # before reading, to say what is missing
        loads = _toml_loads(path)
    try:
        with open(path, "rb") as file:
            spec = loads(file.read())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"cannot read the sweep spec {path}: {error}") \
            from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a sweep spec is a table of settings")
    return spec


def _toml_loads(path):
    """A TOML reader of bytes: tomllib (Python 3.11+) or tomli."""
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError(
                f"cannot read the sweep spec {path}: TOML needs Python 3.11 "
                f"or the tomli package (pip install 'fastnet[sweep]', or "
                f"pip install tomli); or write the spec as JSON") from None
    return lambda raw: tomllib.loads(raw.decode("utf-8"))


def settings_dict(settings):
    """``settings`` as a JSON-ready dict."""
    fields = dataclasses.asdict(settings)
    fields["sizes"] = list(settings.sizes)
    return fields


def settings_from_dict(fields):
    """The checked ``training.Settings`` a ``settings_dict`` describes."""
    fields = dict(fields)
    fields["sizes"] = tuple(fields.get("sizes", ()))
    return training.Settings(**fields).checked()


def run_id(settings):
    """A run's identity: a hash of its checked settings, seed included."""
    text = json.dumps(settings_dict(settings), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def point_key(settings):
    """What the seeds of one grid point share: settings less the seed."""
    return run_id(dataclasses.replace(settings, seed=None))
