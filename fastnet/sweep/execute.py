"""Running a sweep on Dask: the cluster, the tasks, and the worker side.

Each run is one Dask task, ``train_one``: ``training.run`` (the code path
of ``fastnet train``) on data each worker loads once and keeps.  The
client appends each record to the results file as its task ends.
"""

import contextlib
import functools
import logging
import os
import socket
import sys
import uuid

import numpy as np

from .. import training
from .. import validation as check
from .plan import plan, run_id, settings_dict, settings_from_dict
from .results import ResultsFile


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
    # Keys unique to this sweep: a client used for one sweep after another
    # must not hand this one the last one's (cancelled) tasks.
    sweep_token = uuid.uuid4().hex[:12]
    futures = {client.submit(train_one, settings_dict(s), data_dir,
                             key=f"fastnet-run-{run_id(s)}-{sweep_token}",
                             pure=False): s
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
    if future.status == "cancelled":    # the cluster dropped it: redo later
        error, lost = None, True
        reason = "cancelled by the Dask cluster before it finished"
    else:
        error = future.exception()
        lost = isinstance(error, KilledWorker)
        reason = ("the workers running it died repeatedly (KilledWorker: "
                  f"{error})" if lost else
                  f"{type(error).__name__}: {error}")
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
