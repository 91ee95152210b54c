"""The same 8-run sweep (eta 0.5, 1, 2, 3 times two seeds; [784, 30, 10],
2 epochs on ``--bench-samples`` images, scored on the validation set)
three ways: a plain loop of ``training.run`` in this process, and
``fastnet.sweep.run`` on a Dask LocalCluster of 1 and of 2 workers.

The clusters are started, and their workers have loaded the data and the
compiled kernels, before timing (a warm-up sweep): the timings are the
sweep itself.  Closing table: seconds, the speed-up of 2 workers over 1,
and Dask's overhead per run (1 worker against the plain loop).  Start-up
(cluster and first data load) is reported once, untimed by the
benchmark.

    .venv/bin/python -m pytest benchmarks/test_sweep.py
    .venv/bin/python -m pytest benchmarks/test_sweep.py \\
        --bench-samples 2000 --bench-rounds 1          # a quick check
"""

import dataclasses
import time

import pytest

from fastnet import sweep, training

distributed = pytest.importorskip("distributed")

EPOCHS = 2
_times = {}     # label -> median seconds
_startup = {}   # workers -> seconds to start and warm a cluster


@pytest.fixture(scope="module")
def runs(samples):
    return sweep.plan({"eta": "0.5,1,2,3", "epochs": EPOCHS}, repeats=2,
                      limit=samples, evaluate_on="validation")


@pytest.fixture(scope="module", params=[1, 2], ids=lambda n: f"{n}worker")
def client(request, runs, tmp_path_factory):
    started = time.perf_counter()
    with sweep.local_cluster(request.param) as cluster, \
            distributed.Client(cluster) as client:
        # Warm up: every worker loads the data and the kernels once.
        warm = [dataclasses.replace(runs[0], seed=1000 + i, epochs=1)
                for i in range(request.param)]
        client.wait_for_workers(request.param)
        sweep.run(warm, tmp_path_factory.mktemp("warm") / "r.jsonl",
                  client=client)
        _startup[request.param] = time.perf_counter() - started
        yield client


def test_plain_loop(benchmark, runs, rounds):
    """The runs one after the other here, on one BLAS thread as in a
    worker, so that the difference is Dask's alone."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    run_data = training.RunData.load("mnist", "validation")
    training.run(runs[0], run_data=run_data)        # kernels loaded

    def loop():
        for settings in runs:
            training.run(settings, run_data=run_data)
    with threadpoolctl.threadpool_limits(limits=1):
        benchmark.pedantic(loop, rounds=rounds, iterations=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        _times["plain loop"] = benchmark.stats.stats.median


def test_dask_sweep(benchmark, runs, rounds, client, tmp_path_factory):
    workers = len(client.scheduler_info()["workers"])

    def fresh_file():
        return (tmp_path_factory.mktemp("sweep") / "r.jsonl",), {}

    def sweep_once(path):
        records = sweep.run(runs, path, client=client)
        bad = [r for r in records if r["status"] != "ok"]
        assert not bad, bad
    benchmark.pedantic(sweep_once, setup=fresh_file, rounds=rounds,
                       iterations=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        _times[f"Dask, {workers} worker{'s' * (workers > 1)}"] = \
            benchmark.stats.stats.median


@pytest.fixture(scope="module", autouse=True)
def closing_table(request, runs):
    yield
    if len(_times) < 3:
        return
    plugins = request.config.pluginmanager
    with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
        _write_table(plugins.get_plugin("terminalreporter"), len(runs),
                     runs[0].limit)


def _write_table(reporter, n_runs, images):
    loop, one, two = (_times["plain loop"], _times["Dask, 1 worker"],
                      _times["Dask, 2 workers"])
    reporter.write_line("")
    reporter.write_line(f"The same {n_runs}-run sweep ({images:,} images, "
                        f"{EPOCHS} epochs per run), median seconds:")
    for label, seconds in _times.items():
        reporter.write_line(f"  {label:16s} {seconds:7.2f} s")
    reporter.write_line(f"  speed-up of 2 workers over 1: {one / two:.2f}x")
    reporter.write_line(f"  Dask overhead (1 worker against the loop): "
                        f"{one - loop:+.2f} s, "
                        f"{(one - loop) / n_runs * 1000:+.0f} ms per run")
    reporter.write_line("  start-up, untimed above (cluster, data and "
                        "kernels): " + ", ".join(
                            f"{n} worker{'s' * (n > 1)} {s:.1f} s"
                            for n, s in sorted(_startup.items())))
