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
    repeats = check.check_count("repeats", repeats, 1)
    seed = check.check_count("seed", seed, 0)
    shape = [len(v) for v in axes.values()]
    points = math.prod(shape)
    if random is not None:
        random = check.check_count("random", random, 1)
        points = min(points, random)
    if points * repeats > MAX_RUNS:
        raise ValueError(f"the sweep has {points * repeats:,} runs; at most "
                         f"{MAX_RUNS:,} (sweep fewer values, or sample "
                         f"them with random)")
    fixed = dict(limit=limit, evaluate_on=evaluate_on)
    runs, seen = [], set()
    for index in _point_indices(shape, random, search_seed):
        point = {name: axes[name][i] for name, i in zip(axes, index)}
        for k in range(repeats):
            settings = training.Settings(**point, **fixed,
                                         seed=seed + k).checked()
            key = run_id(settings)
            if key not in seen:
                seen.add(key)
                runs.append(settings)
    return runs


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
    parts = [part.strip() for part in text.split(",")]
    if parts == [""]:
        raise ValueError(f"{name} has an empty list of values")
    parsed = []
    for part in parts:
        if ":" in part and name in INTEGER_SETTINGS + REAL_SETTINGS:
            parsed.extend(_parse_range(name, part))
        elif name in INTEGER_SETTINGS + REAL_SETTINGS:
            parsed.append(_parse_number(name, part))
        else:
            parsed.append(part)
        _check_length(name, len(parsed))
    return parsed


def _parse_number(name, text):
    try:
        return int(text) if name in INTEGER_SETTINGS else float(text)
    except ValueError:
        kind = "an integer" if name in INTEGER_SETTINGS else "a number"
        raise ValueError(f"{name} must be {kind}, got {text!r}") from None


def _parse_range(name, text):
    """``START:STOP:COUNT`` (evenly spaced, both ends included) or
    ``START:STOP:COUNT:log`` (a geometric series); integers rounded."""
    fields = text.split(":")
    scale = fields.pop() if len(fields) == 4 else "lin"
    if len(fields) != 3 or scale not in ("lin", "log"):
        raise ValueError(f"{name}: a range is START:STOP:COUNT or "
                         f"START:STOP:COUNT:log, got {text!r}")
    start, stop = (_parse_number(name, f) for f in fields[:2])
    count = _parse_number("epochs", fields[2])    # an integer
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
    """A spec file (TOML, or JSON for ``.json``): the swept settings and
    the ``OPTIONS``, as a dict ``(grid, options)``.  Unknown keys and
    unreadable files raise ``ValueError`` naming the file."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
        if str(path).endswith(".json"):
            spec = json.loads(raw)
        else:
            spec = _toml().loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"cannot read the sweep spec {path}: {error}") \
            from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a sweep spec is a table of settings")
    grid, options = {}, {}
    for name, value in spec.items():
        name = name.replace("-", "_")
        try:
            _known(name, SWEPT + OPTIONS, "sweep parameter")
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        (grid if name in SWEPT else options)[name] = value
    return grid, options


def _toml():
    try:
        import tomllib                  # Python 3.11 and later
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError("TOML spec files need Python 3.11 or the tomli "
                             "package; use a .json spec") from None
    return tomllib


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
