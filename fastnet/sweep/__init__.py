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

# The package by job: plan.py (the grid, spec files, a run's identity),
# execute.py (Dask and the worker task), results.py (the results file),
# report.py (table and plot), command_line.py (fastnet sweep).

from .command_line import add_arguments, command
from .execute import (available_cores, local_cluster, require_dask, run,
                      train_one, worker_data)
from .plan import (MAX_RUNS, OPTIONS, SIGNIFICANT_DIGITS, SWEPT, plan,
                   point_key, read_spec, run_id, settings_dict,
                   settings_from_dict, values)
from .report import Point, plot, points, swept_names, table
from .results import ResultsExist, ResultsFile, read_results

__all__ = [
    "MAX_RUNS", "OPTIONS", "SIGNIFICANT_DIGITS", "SWEPT", "Point",
    "ResultsExist", "ResultsFile", "add_arguments", "available_cores",
    "command", "local_cluster", "plan", "plot", "point_key", "points",
    "read_results", "read_spec", "require_dask", "run", "run_id",
    "settings_dict", "settings_from_dict", "swept_names", "table",
    "train_one", "values", "worker_data"]
