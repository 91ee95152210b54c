"""Hyper-parameter sweeps: many ordinary training runs, on Dask.

A sweep is a list of ``training.Settings``: every point of a grid of
swept values (or a random sample of its points), each repeated with
several seeds.  ``plan`` builds and checks that list before anything
runs, so a bad value is refused with the message ``fastnet train`` gives.
``run`` sends each run to a Dask cluster as one task: an embedded
``LocalCluster`` (one single-threaded process per core) by default, or
an existing scheduler.  A task is ``training.run``, the code path of
``fastnet train``, on data each worker loads once and keeps.

Results stream into a JSON-lines file, one line per finished run,
appended and fsync'd at once; ``resume=True`` skips the runs already in
it.  A run identifies itself by its settings, seed included.  Statuses:
``ok``; ``failed`` (the run's own error, or weights that diverged to NaN:
recorded with the reason, not retried); ``lost`` (the workers running it
died more often than the scheduler's ``allowed-failures``; retried on
resume).  ``table`` and ``plot`` summarise a results file.
"""

import contextlib
import dataclasses
import difflib
import functools
import hashlib
import itertools
import json
import logging
import math
import numbers
import os
import socket
import sys

import numpy as np

from . import training
from . import validation as check
from .files import FileFormatError

#: The settings a sweep may vary, in the order tables show them.
SWEPT = ("dataset", "sizes", "cost", "init", "dtype", "epochs",
         "mini_batch_size", "eta", "lmbda")
#: What else a spec file may set: the same for every run.
OPTIONS = ("repeats", "seed", "random", "search_seed", "limit",
           "evaluate_on")
_INTEGERS = ("epochs", "mini_batch_size")
_REALS = ("eta", "lmbda")
#: More runs than this is a typo, not a sweep (and would fill memory).
MAX_RUNS = 100_000
#: Range values are rounded to this many significant digits, far below
#: float64's 15-17 and far beyond what a learning rate needs.
SIGNIFICANT_DIGITS = 12


# ------------------------------------------------------------------ plan

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
        if ":" in part and name in _INTEGERS + _REALS:
            parsed.extend(_parse_range(name, part))
        elif name in _INTEGERS + _REALS:
            parsed.append(_parse_number(name, part))
        else:
            parsed.append(part)
        _check_length(name, len(parsed))
    return parsed


def _parse_number(name, text):
    try:
        return int(text) if name in _INTEGERS else float(text)
    except ValueError:
        kind = "an integer" if name in _INTEGERS else "a number"
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
    if name in _INTEGERS:
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


# ------------------------------------------------------------- identity

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


# ------------------------------------------------------ the worker side

@functools.lru_cache(maxsize=2)
def worker_data(dataset, evaluate_on, data_dir):
    """The data of a run, loaded once per worker process and kept (two
    data sets at most).  Also limits BLAS to one thread here: workers are
    single-threaded processes, one per core."""
    _one_blas_thread()
    return training.RunData.load(dataset, evaluate_on, data_dir)


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:     # Dask's nanny sets OPENBLAS_NUM_THREADS=1 too
        return
    threadpool_limits(limits=1)


def train_one(fields, data_dir=None):
    """One run, as a Dask task: ``training.run`` on this worker's data.
    Returns the run's record; a failure of the run's own (bad settings,
    missing data, weights that went to NaN) is a ``failed`` record, never
    an exception, so that Dask does not retry it."""
    record = {"id": None, "status": "failed", "settings": fields,
              "worker": _worker_name()}
    try:
        settings = settings_from_dict(fields)
        record["id"] = run_id(settings)
        run_data = worker_data(settings.dataset, settings.evaluate_on,
                               data_dir)
        network, report = training.run(settings, run_data=run_data)
    except Exception as error:              # the run's own failure
        return dict(record, error=f"{type(error).__name__}: {error}")
    epochs = report["epochs_run"]
    accuracies = [e["accuracy"] for e in epochs]
    best = int(np.argmax(accuracies))
    record.update(status="ok", accuracy=report["accuracy"],
                  best_accuracy=accuracies[best], best_epoch=best,
                  accuracies=accuracies, correct=report["correct"],
                  total=report["total"], seconds=report["seconds"],
                  epoch_seconds=[e["seconds"] for e in epochs])
    if not all(np.isfinite(w).all() for w in network.weights + network.biases):
        record.update(status="failed", error="diverged: the weights became "
                      "NaN or infinite (try a smaller eta)")
    return record


def _worker_name():
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


# ------------------------------------------------------------ results

class ResultsExist(ValueError):
    """A new sweep would write to a file that holds another's results."""


class ResultsFile:
    """A sweep's JSON-lines results file, open for appending.

    Each ``append`` writes one whole line with one ``write`` and fsyncs
    it, so a crash or Ctrl-C leaves every earlier line intact; a kill in
    the middle of a write can leave a torn last line, which ``open``
    reports (``torn_bytes``) and cuts off before appending.  A lock keeps
    a second sweep from writing the same file."""

    def __init__(self, path, resume=False):
        self.path = os.fspath(path)
        self.records = {}           # run id -> latest record
        self.torn_bytes = 0
        # A file made here and never written is removed on close, so that
        # a sweep refused or failing before its first run leaves nothing.
        self._created = not os.path.exists(self.path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND,
                           0o666)
        try:
            _lock(self._fd, self.path)
            self._read(resume)
        except BaseException:
            os.close(self._fd)
            raise

    def _read(self, resume):
        os.lseek(self._fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(self._fd), "rb") as file:
            text = file.read()
        if text and not resume:
            raise ResultsExist(f"{self.path} already holds results: resume "
                               f"that sweep, or name another file")
        self.records, complete = _parse_records(self.path, text)
        if complete < len(text):        # a write cut short by a kill
            self.torn_bytes = len(text) - complete
            os.ftruncate(self._fd, complete)

    def done(self, settings):
        """Whether ``settings`` already ran (ok or failed; a lost run runs
        again)."""
        record = self.records.get(run_id(settings))
        return record is not None and record["status"] != "lost"

    def append(self, record):
        line = (json.dumps(record) + "\n").encode()
        os.write(self._fd, line)
        os.fsync(self._fd)
        self.records[record["id"]] = record
        self._created = False

    def close(self):
        if self._fd is not None:
            if self._created and os.fstat(self._fd).st_size == 0:
                os.unlink(self.path)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()


def _lock(fd, path):
    try:
        import fcntl
    except ImportError:                 # Windows: no advisory locks
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise ValueError(f"{path} is being written by another sweep") \
            from None


def read_results(path):
    """The records of a results file, the latest of each run, in file
    order; a torn last line is ignored."""
    with open(path, "rb") as file:
        return list(_parse_records(path, file.read())[0].values())


def _parse_records(path, text):
    """``({run id: latest record}, length of the complete lines)`` of a
    results file's bytes."""
    complete = text.rfind(b"\n") + 1
    records = {}
    for number, line in enumerate(text[:complete].splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record["id"] = run_id(settings_from_dict(record["settings"]))
            if record["status"] not in ("ok", "failed", "lost"):
                raise ValueError(f"unknown status {record['status']!r}")
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise FileFormatError(path, f"line {number} is not a fastnet "
                                  f"sweep record ({error})") from None
        records.pop(record["id"], None)     # the latest counts, in order
        records[record["id"]] = record
    return records, complete


# ---------------------------------------------------------------- run

def run(grid, results, *, resume=False, scheduler=None, client=None,
        workers=None, data_dir=None, progress=False, on_result=None,
        **options):
    """Run a sweep on Dask and return the records of its runs.

    ``grid`` is what ``plan`` takes (``options`` are its keywords), or a
    list of ``training.Settings``.  Each finished run is appended to the
    JSON-lines file ``results`` at once; an existing file is refused
    unless ``resume``, which skips the runs it holds.  The runs go to
    ``client`` (a ``distributed.Client``), else to the scheduler at
    ``scheduler``, else to a new ``LocalCluster`` of ``workers``
    single-threaded processes (default: one per core, at most one per
    run) on 127.0.0.1, closed at the end.  ``progress=True`` shows a
    progress bar; ``on_result(record)`` is called as each run ends."""
    runs = grid if isinstance(grid, list) else plan(grid, **options)
    if not runs or not all(isinstance(s, training.Settings) for s in runs):
        raise ValueError("a sweep needs at least one run (training."
                         "Settings)")
    runs = [s.checked() for s in runs]
    if any(s.seed is None for s in runs):
        raise ValueError("every run of a sweep needs a seed: a run is known "
                         "by its settings, seed included")
    if workers is not None:
        check.check_count("workers", workers, 1)
    require_dask()
    with ResultsFile(results, resume) as store:
        todo = [s for s in runs if not store.done(s)]
        if todo:
            with _connect(client, scheduler, workers, len(todo)) as dask:
                _execute(dask, todo, store, data_dir, progress, on_result,
                         len(runs))
        return [store.records[run_id(s)] for s in runs
                if run_id(s) in store.records]


def require_dask():
    """An ``ImportError`` saying how to install Dask, if it is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as error:
        raise ImportError(f"sweeps run on Dask: pip install 'fastnet[sweep]' "
                          f"({error})") from None


@contextlib.contextmanager
def _connect(client, scheduler, workers, runs):
    """A Dask client: the given one (left open), or one to ``scheduler``,
    or to a new LocalCluster (both closed on the way out)."""
    from distributed import Client
    if client is not None:
        yield client
        return
    if scheduler is not None:
        with Client(scheduler) as new_client:
            yield new_client
        return
    workers = min(workers or available_cores(), runs)
    with local_cluster(workers) as cluster, Client(cluster) as new_client:
        # Ctrl-C reaches the whole process group: here it stops the sweep
        # and closes the cluster; in the workers it would only print
        # tracebacks.
        new_client.register_plugin(_ignore_interrupts(),
                                   name="fastnet-ignore-sigint")
        yield new_client


def _ignore_interrupts():
    """A Dask worker plugin: the worker process ignores SIGINT.  (Defined
    here so that importing this module does not import Dask.)"""
    from distributed import WorkerPlugin

    class IgnoreInterrupts(WorkerPlugin):
        def setup(self, worker):
            import signal
            import threading
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)
    return IgnoreInterrupts()


def local_cluster(workers, **options):
    """A Dask ``LocalCluster`` of ``workers`` single-threaded processes
    (so BLAS and the compiled kernels do not fight over cores), listening
    on 127.0.0.1 only, with no dashboard; ``options`` go to
    ``LocalCluster``."""
    from distributed import LocalCluster
    return LocalCluster(**{
        "n_workers": workers, "threads_per_worker": 1, "processes": True,
        "host": "127.0.0.1", "dashboard_address": None,
        # The scheduler's small HTTP server (health, metrics) otherwise
        # asks for port 8787 and warns when another cluster holds it.
        "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
        # Workers busy in compiled code ignore a close (after Ctrl-C) and
        # are killed after a few seconds: warnings a user needs not see.
        "silence_logs": logging.ERROR, **options})


def available_cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _execute(client, todo, store, data_dir, progress, on_result, total):
    from distributed import as_completed
    futures = {client.submit(train_one, settings_dict(s), data_dir,
                             key=f"fastnet-run-{run_id(s)}", pure=False): s
               for s in todo}
    bar = _progress_bar(progress, total, total - len(todo), store)
    try:
        for future in as_completed(futures):
            record = _outcome(future, futures[future])
            store.append(record)
            if bar is not None:
                bar.update()
                bar.set_postfix_str(_best_so_far(store), refresh=False)
            if on_result is not None:
                on_result(record)
    finally:
        if bar is not None:
            bar.close()
        client.cancel(list(futures))


def _outcome(future, settings):
    """The record of a finished task; the exception of a task is its
    workers' deaths (KilledWorker) or a failure outside the run."""
    from distributed import KilledWorker
    if future.status == "finished":     # the client's word on identity
        return dict(future.result(), id=run_id(settings),
                    settings=settings_dict(settings))
    error = future.exception()
    lost = isinstance(error, KilledWorker)
    reason = ("the workers running it died repeatedly (KilledWorker: "
              f"{error})" if lost else f"{type(error).__name__}: {error}")
    return {"id": run_id(settings), "status": "lost" if lost else "failed",
            "settings": settings_dict(settings), "error": reason,
            "worker": None}


def _progress_bar(progress, total, done, store):
    if not progress:
        return None
    from tqdm import tqdm
    bar = tqdm(total=total, initial=done, unit="run", desc="sweep",
               dynamic_ncols=True, file=sys.stderr)
    bar.set_postfix_str(_best_so_far(store), refresh=False)
    return bar


def _best_so_far(store):
    scores = [r["accuracy"] for r in store.records.values()
              if r["status"] == "ok"]
    return f"best {max(scores):.2%}" if scores else ""


# ------------------------------------------------------------ summary

@dataclasses.dataclass
class Point:
    """The runs of one grid point (its seeds): ``settings`` less the seed,
    ``runs`` the ok records, ``failed`` the others."""
    settings: dict
    runs: list
    failed: list

    @property
    def accuracies(self):
        return np.array([r["accuracy"] for r in self.runs])

    @property
    def mean(self):
        return float(self.accuracies.mean()) if self.runs else -1.0


def points(records):
    """The records grouped by grid point, best mean accuracy first."""
    groups = {}
    for record in records:
        fields = dict(record["settings"], seed=None)
        key = json.dumps(fields, sort_keys=True)
        point = groups.setdefault(key, Point(fields, [], []))
        (point.runs if record["status"] == "ok" else point.failed).append(
            record)
    return sorted(groups.values(), key=lambda p: -p.mean)


def swept_names(records):
    """The settings that differ between the records' grid points."""
    seen = {name: set() for name in SWEPT}
    for record in records:
        for name in SWEPT:
            seen[name].add(json.dumps(record["settings"][name]))
    return [name for name in SWEPT if len(seen[name]) > 1]


def table(records, limit=None):
    """The sweep as text: one row per grid point, best first, with the
    mean final accuracy ± its standard deviation over the seeds, the mean
    of each run's best epoch, the seeds run and the mean seconds per
    run.  ``limit`` rows at most (failures are listed after them)."""
    names = swept_names(records) or ["sizes", "eta"]
    scored = points(records)
    evaluated = records[0]["settings"]["evaluate_on"] if records else "test"
    header = [name.replace("_", " ") for name in names] + [
        f"{evaluated} accuracy", "best epoch", "seeds", "s/run"]
    rows = []
    for point in scored[:limit]:
        cells = [_cell(point.settings[name]) for name in names]
        if point.runs:
            acc = point.accuracies
            spread = f" ± {acc.std(ddof=1):.2%}" if len(acc) > 1 else ""
            best = np.mean([r["best_accuracy"] for r in point.runs])
            seconds = np.mean([r["seconds"] for r in point.runs])
            cells += [f"{acc.mean():.2%}{spread}", f"{best:.2%}",
                      _seeds(point), f"{seconds:.1f}"]
        else:
            cells += ["failed", "", _seeds(point), ""]
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows + [header])
              for i in range(len(header))]
    numeric = set(range(len(names), len(header))) | {
        i for i, name in enumerate(names) if name in _INTEGERS + _REALS}
    lines = ["  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths)))
             .rstrip() for row in [header] + rows]
    for record in records:
        if record["status"] != "ok":
            lines.append(f"{record['status']}: "
                         f"{_describe_point(record['settings'], names)}, "
                         f"seed {record['settings']['seed']}: "
                         f"{record.get('error')}")
    return "\n".join(lines)


def _cell(value):
    if isinstance(value, list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _seeds(point):
    done = len(point.runs)
    total = done + len(point.failed)
    return str(done) if done == total else f"{done}/{total}"


def _describe_point(settings, names):
    return " ".join(f"{name} {_cell(settings[name])}" for name in names)


def plot(records, path, best=5):
    """A picture of the sweep in ``path`` (needs matplotlib): accuracy
    against each swept setting (each run a dot, the mean of its seeds a
    line), and the learning curves of the ``best`` grid points."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        raise ValueError("no run finished: nothing to plot")
    names = swept_names(records)
    figure, axes = plt.subplots(1, len(names) + 1,
                                figsize=(4 * (len(names) + 1), 3.6),
                                squeeze=False)
    for ax, name in zip(axes[0], names):
        _plot_parameter(ax, ok, name)
    ax = axes[0][-1]
    for point in [p for p in points(ok)][:best]:
        curve = np.mean([r["accuracies"] for r in point.runs], axis=0)
        ax.plot(range(len(curve)), 100 * curve, marker=".",
                label=_describe_point(point.settings, names) or "all runs")
    ax.set(xlabel="epoch", ylabel="accuracy (%)",
           title=f"learning curves, best {min(best, len(points(ok)))}")
    ax.legend(fontsize="x-small")
    for row in axes:
        for a in row:
            a.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_parameter(ax, records, name):
    """Accuracy against one setting: numbers on a (log) axis, other
    values as categories."""
    raw = [r["settings"][name] for r in records]
    numeric = name in _INTEGERS + _REALS
    labels = sorted({_cell(v) for v in raw},
                    key=lambda t: float(t) if numeric else t)
    x = [float(v) if numeric else labels.index(_cell(v)) for v in raw]
    y = [100 * r["accuracy"] for r in records]
    ax.scatter(x, y, s=12, alpha=0.6)
    means = {}
    for xi, yi in zip(x, y):
        means.setdefault(xi, []).append(yi)
    xs = sorted(means)
    ax.plot(xs, [np.mean(means[v]) for v in xs], color="C1")
    if numeric and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
    ax.set(xlabel=name.replace("_", " "), ylabel="accuracy (%)")


# ------------------------------------------------------- command line

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
