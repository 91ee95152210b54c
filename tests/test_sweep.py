"""fastnet.sweep: plans, spec errors, the results file, and sweeps on a
real two-worker Dask LocalCluster (bound to 127.0.0.1) including a
worker killed mid-run and a sweep interrupted and resumed."""

import argparse
import json
import os
import signal
import time

import numpy as np
import pytest

from fastnet import sweep, training
from fastnet.files import FileFormatError

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

# A few hundred images and two epochs: a run takes a fraction of a second.
SMALL = dict(limit=300, evaluate_on="validation")


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of two single-threaded worker processes on
    127.0.0.1, closed (and its processes checked gone) at the end."""
    with sweep.local_cluster(2) as cluster, \
            distributed.Client(cluster) as client:
        yield client
        pids = list(client.run(os.getpid).values())
    _assert_gone(pids)


def _assert_gone(pids, wait=10.0):
    deadline = time.monotonic() + wait
    for pid in pids:
        while _alive(pid):
            assert time.monotonic() < deadline, f"worker {pid} still runs"
            time.sleep(0.1)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:        # a zombie is gone but for its parent's wait
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def lines(path):
    with open(path) as file:
        return [json.loads(line) for line in file]


# --------------------------------------------------------------- plans

def test_plan_is_the_grid_times_the_seeds_in_order():
    runs = sweep.plan({"eta": "0.5,3", "lmbda": [0, 5]}, repeats=2, seed=7,
                      **SMALL)
    assert [(s.eta, s.lmbda, s.seed) for s in runs] == [
        (0.5, 0.0, 7), (0.5, 0.0, 8), (0.5, 5.0, 7), (0.5, 5.0, 8),
        (3.0, 0.0, 7), (3.0, 0.0, 8), (3.0, 5.0, 7), (3.0, 5.0, 8)]
    # Everything else is fastnet train's default, checked.
    assert runs[0] == training.Settings(eta=0.5, lmbda=0.0, seed=7,
                                        **SMALL).checked()


def test_values_ranges_and_spellings():
    assert sweep.values("eta", "0.1:0.3:3") == pytest.approx([0.1, 0.2, 0.3])
    assert sweep.values("eta", "0.01:10:4:log") == pytest.approx(
        [0.01, 0.1, 1, 10])
    # Integers are rounded and repeats dropped.
    assert sweep.values("epochs", "1:4:6") == [1, 2, 3, 4]
    assert sweep.values("sizes", [784, 30, 10]) == [(784, 30, 10)]
    assert sweep.values("sizes", ["784,30,10", [784, 100, 10]]) == [
        (784, 30, 10), (784, 100, 10)]
    assert sweep.values("cost", "quadratic,cross-entropy") == [
        "quadratic", "cross-entropy"]
    assert sweep.values("eta", [3, "0.5,3"]) == [3.0, 0.5]


@pytest.mark.parametrize("text", ["0.1:1:200000", "0.1:1:10000000000000",
                                  "0.1:1:10000000000000:log"])
def test_a_range_beyond_the_run_limit_is_refused_before_it_is_made(text):
    # Before the fix the first ran for minutes and the others ended in a
    # NumPy memory error: the count was checked after the values existed.
    with pytest.raises(ValueError, match=f"a sweep runs at most "
                       f"{sweep.MAX_RUNS:,}"):
        sweep.plan({"eta": text})


def test_too_many_listed_values_are_refused_before_they_are_checked():
    many = [1.0] * (sweep.MAX_RUNS + 1)
    with pytest.raises(ValueError, match="eta has 100,001 values or more"):
        sweep.values("eta", many)
    with pytest.raises(ValueError, match="eta has 110,000 values or more"):
        sweep.values("eta", ["0.1:1:60000", "0.1:1:50000"])


def test_range_values_are_rounded_as_written():
    # np.geomspace gives 0.49999999999999994 for the middle value.
    assert sweep.values("eta", "0.05:5:5:log") == [
        0.05, 0.158113883008, 0.5, 1.58113883008, 5.0]
    assert sweep.values("eta", "0.05:5:5:log,0.5") == sweep.values(
        "eta", "0.05:5:5:log")
    assert len(sweep.plan({"eta": "0.05:5:5:log,0.5"})) == 5


def test_spellings_of_one_setting_are_one_run():
    assert sweep.values("cost", "cross-entropy,CrossEntropyCost") == [
        "cross-entropy"]
    assert len(sweep.plan({"cost": "cross-entropy,CrossEntropyCost",
                           "dtype": ["float32", "f4"]})) == 1


def test_random_search_draws_distinct_points_reproducibly():
    grid = {"eta": "0.1:3:10", "lmbda": "0:5:10", "mini_batch_size": "5,10"}
    runs = sweep.plan(grid, random=7, search_seed=1, **SMALL)
    assert len({sweep.run_id(s) for s in runs}) == 7
    assert runs == sweep.plan(grid, random=7, search_seed=1, **SMALL)
    assert runs != sweep.plan(grid, random=7, search_seed=2, **SMALL)
    # Asking for more points than the grid has runs the whole grid.
    assert len(sweep.plan({"eta": "1,2"}, random=5, **SMALL)) == 2


def test_a_run_is_identified_by_its_settings_and_seed():
    a = training.Settings(eta=3, seed=1).checked()
    assert sweep.run_id(a) == sweep.run_id(
        training.Settings(eta=3.0, seed=1).checked())
    assert sweep.run_id(a) != sweep.run_id(
        training.Settings(eta=3, seed=2).checked())
    assert sweep.point_key(a) == sweep.point_key(
        training.Settings(eta=3, seed=2).checked())


# --------------------------------------------------------- spec errors

def trainer_message(**fields):
    """What fastnet train (Settings.checked) says of these settings."""
    with pytest.raises((TypeError, ValueError)) as error:
        training.Settings(**fields).checked()
    return str(error.value)


@pytest.mark.parametrize("grid, fields", [
    ({"eta": "0.5,-1"}, dict(eta=-1.0)),
    ({"lmbda": [0, float("nan")]}, dict(lmbda=float("nan"))),
    ({"epochs": "2,0"}, dict(epochs=0)),
    ({"epochs": [1.5]}, dict(epochs=1.5)),
    ({"sizes": ["784,30,9"]}, dict(sizes=(784, 30, 9))),
    ({"sizes": ["784,0,10"]}, dict(sizes=(784, 0, 10))),
    ({"cost": "quadratic,hinge"}, dict(cost="hinge")),
    ({"init": "small"}, dict(init="small")),
    ({"dtype": "float16"}, dict(dtype="float16")),
    ({"dataset": "cifar"}, dict(dataset="cifar")),
])
def test_values_the_trainer_refuses_get_its_message(grid, fields):
    with pytest.raises((TypeError, ValueError)) as error:
        sweep.plan(grid)
    assert str(error.value) == trainer_message(**fields)


@pytest.mark.parametrize("call, message", [
    (lambda: sweep.plan({"etaa": 1}), "unknown sweep parameter 'etaa' "
     "(did you mean eta?)"),
    (lambda: sweep.plan({"seed": 1}), "unknown sweep parameter 'seed'"),
    (lambda: sweep.plan({"eta": []}), "eta has an empty list of values"),
    (lambda: sweep.plan({"eta": ""}), "eta has an empty list of values"),
    (lambda: sweep.plan({"eta": "fast"}), "eta must be a number, got 'fast'"),
    (lambda: sweep.plan({"eta": "1:2"}), "a range is START:STOP:COUNT"),
    (lambda: sweep.plan({"eta": "0:2:3:log"}), "a log range needs positive"),
    (lambda: sweep.plan({"sizes": "784,x,10"}), "comma-separated integers"),
    (lambda: sweep.plan({"eta": 1}, repeats=0), "repeats must be at least 1"),
    (lambda: sweep.plan({"eta": 1}, limit=60001), "limit can be at most"),
    (lambda: sweep.plan({"eta": 1}, evaluate_on="train"), "evaluate_on must"),
    (lambda: sweep.plan({"eta": "0.1:1:1000", "lmbda": "0:1:1000"}),
     "the sweep has 1,000,000 runs; at most 100,000"),
    (lambda: sweep.plan("eta=1"), "grid must map setting names"),
])
def test_bad_specs_are_refused_naming_the_problem(call, message):
    with pytest.raises((TypeError, ValueError), match=None) as error:
        call()
    assert message in str(error.value)


def test_spec_files_toml_and_json(tmp_path):
    toml = tmp_path / "sweep.toml"
    toml.write_text('eta = [0.5, 3.0]\nlmbda = "0:5:2"\nrepeats = 2\n'
                    'mini-batch-size = 10\nevaluate_on = "validation"\n')
    grid, options = sweep.read_spec(toml)
    # The swept values come checked, as plan's values gives them.
    assert grid == {"eta": [0.5, 3.0], "lmbda": [0.0, 5.0],
                    "mini_batch_size": [10]}
    assert options == {"repeats": 2, "evaluate_on": "validation"}
    assert len(sweep.plan(grid, **options)) == 8
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"sizes": [[784, 30, 10], [784, 100, 10]]}))
    assert planned(spec)[1].sizes == (784, 100, 10)
    for text, error, message in (
            ("etta = 1", ValueError, f"{toml}: unknown sweep parameter "
             f"'etta' (did you mean eta?)"),
            ("eta = [", ValueError, f"cannot read the sweep spec {toml}"),
            ("[eta]\nx = 1", TypeError, f"{toml}: eta must be a real "
             f"number"),
            ("eta = [0.5, -1]", ValueError, f"{toml}: eta must be a finite "
             f"positive number, got -1.0"),
            ("cost = 'hinge'", ValueError, f"{toml}: unknown cost 'hinge'"),
            ("repeats = 0", ValueError, f"{toml}: repeats must be at least "
             f"1, got 0"),
            ("limit = 60001", ValueError, f"{toml}: limit can be at most")):
        toml.write_text(text)
        with pytest.raises(error) as raised:
            planned(toml)
        assert str(raised.value).startswith(message)
    with pytest.raises(ValueError, match="cannot read the sweep spec"):
        sweep.read_spec(tmp_path / "missing.toml")


def planned(spec):
    grid, options = sweep.read_spec(spec)
    return sweep.plan(grid, **options)


# --------------------------------------------------------- results file

def record(eta, seed, accuracy=0.5, status="ok"):
    settings = training.Settings(eta=eta, seed=seed, **SMALL).checked()
    fields = sweep.settings_dict(settings)
    return {"id": sweep.run_id(settings), "status": status,
            "settings": fields, "accuracy": accuracy,
            "best_accuracy": accuracy, "accuracies": [accuracy],
            "seconds": 1.0}


def test_results_file_refuses_to_overwrite_and_resumes(tmp_path):
    path = tmp_path / "r.jsonl"
    with sweep.ResultsFile(path) as results:
        results.append(record(1, 0))
        # A second sweep on the same file is refused while this one runs.
        with pytest.raises(ValueError, match="another sweep"):
            sweep.ResultsFile(path, resume=True)
    with pytest.raises(sweep.ResultsExist, match="already holds results"):
        sweep.ResultsFile(path)
    assert len(lines(path)) == 1    # nothing changed
    # A file this sweep made and never wrote is not left behind.
    sweep.ResultsFile(tmp_path / "new.jsonl").close()
    assert not (tmp_path / "new.jsonl").exists()
    with sweep.ResultsFile(path, resume=True) as results:
        assert results.done(training.Settings(eta=1, seed=0,
                                              **SMALL).checked())
        assert not results.done(training.Settings(eta=1, seed=1,
                                                  **SMALL).checked())


def test_a_torn_last_line_is_reported_and_cut_off(tmp_path):
    path = tmp_path / "r.jsonl"
    whole = json.dumps(record(1, 0)) + "\n"
    path.write_text(whole + json.dumps(record(1, 1))[:40])
    with sweep.ResultsFile(path, resume=True) as results:
        assert results.torn_bytes == 40
        assert len(results.records) == 1
        results.append(record(1, 1))
    assert [r["settings"]["seed"] for r in lines(path)] == [0, 1]
    assert len(sweep.read_results(path)) == 2


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record(1, 0)) + "\n" +
                    json.dumps(record(1, 1)))
    assert [r["settings"]["seed"] for r in sweep.read_results(path)] == [
        0, 1]
    with sweep.ResultsFile(path, resume=True) as results:
        assert results.torn_bytes == 0 and len(results.records) == 2
        results.append(record(1, 2))
    # The kept record's line was ended before the next one was written.
    assert [r["settings"]["seed"] for r in lines(path)] == [0, 1, 2]


def test_short_writes_are_continued_until_the_line_is_whole(tmp_path,
                                                            monkeypatch):
    real_write, calls = os.write, []

    def short_write(fd, data):      # as a signal or a full pipe may
        calls.append(len(data))
        return real_write(fd, bytes(data[:7]))
    path = tmp_path / "r.jsonl"
    with sweep.ResultsFile(path) as results:
        monkeypatch.setattr(os, "write", short_write)
        results.append(record(1, 0))
        results.append(record(1, 1))
        monkeypatch.undo()
    assert len(calls) > 2
    assert [r["settings"]["seed"] for r in lines(path)] == [0, 1]


def test_toml_without_tomllib_or_tomli_says_what_to_install(
        tmp_path, monkeypatch):
    import sys
    spec = tmp_path / "sweep.toml"
    spec.write_text("eta = 1\n")
    # As on Python 3.10 without tomli: neither module can be imported.
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ValueError) as error:
        sweep.read_spec(spec)
    assert str(error.value) == (
        f"cannot read the sweep spec {spec}: TOML needs Python 3.11 or the "
        f"tomli package (pip install 'fastnet[sweep]', or pip install "
        f"tomli); or write the spec as JSON")
    json_spec = tmp_path / "sweep.json"
    json_spec.write_text('{"eta": 1}')
    assert sweep.read_spec(json_spec) == ({"eta": [1.0]}, {})


def test_a_corrupt_complete_line_is_an_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record(1, 0)) + "\n{not json}\n")
    with pytest.raises(FileFormatError, match="line 2 is not a fastnet"):
        sweep.ResultsFile(path, resume=True)
    path.write_text(json.dumps(dict(record(1, 0), status="meh")) + "\n")
    with pytest.raises(FileFormatError, match="unknown status"):
        sweep.read_results(path)


def test_lost_runs_run_again_and_the_latest_record_counts(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record(1, 0, status="lost")) + "\n")
    settings = training.Settings(eta=1, seed=0, **SMALL).checked()
    with sweep.ResultsFile(path, resume=True) as results:
        assert not results.done(settings)
        results.append(record(1, 0, 0.9))
        assert results.done(settings)
    assert [r["accuracy"] for r in sweep.read_results(path)] == [0.9]


# ---------------------------------------------------------- the table

def test_table_sorts_by_mean_accuracy_with_the_spread_over_seeds():
    records = [record(0.5, 0, 0.80), record(0.5, 1, 0.90),
               record(3.0, 0, 0.95), record(3.0, 1, 0.93),
               dict(record(9.0, 0), status="failed", error="ValueError: x")]
    text = sweep.table(records).splitlines()
    assert text[0].split()[:3] == ["eta", "validation", "accuracy"]
    # Mean and sample standard deviation: 94.00% ± 1.41%, 85.00% ± 7.07%.
    assert text[1].split()[:4] == ["3", "94.00%", "±", "1.41%"]
    assert text[2].split()[:4] == ["0.5", "85.00%", "±", "7.07%"]
    assert text[3].split()[:2] == ["9", "failed"]
    assert text[4] == "failed: eta 9, seed 0: ValueError: x"


def test_a_table_of_one_point_shows_the_setting_swept():
    records = [record(0.5, 0, 0.80), record(0.5, 1, 0.90)]
    assert sweep.table(records, swept=["eta"]).split()[0] == "eta"
    assert sweep.table(records, swept=["lmbda"]).split()[0] == "lmbda"
    # Told nothing, it shows the network and the learning rate.
    assert sweep.table(records).split()[:2] == ["sizes", "eta"]


def test_the_plot_orders_layer_sizes_by_their_numbers():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    records = []
    for sizes in ([784, 100, 10], [784, 30, 10], [784, 10]):
        settings = training.Settings(sizes=tuple(sizes), seed=0,
                                     **SMALL).checked()
        records.append({"settings": sweep.settings_dict(settings),
                        "accuracy": 0.5})
    figure, ax = plt.subplots()
    try:
        labels = sweep.report._plot_parameter(ax, records, "sizes")
    finally:
        plt.close(figure)
    # As text, 784,100,10 would come before 784,30,10.
    assert labels == ["784,10", "784,30,10", "784,100,10"]


@pytest.mark.parametrize("todo, where", [
    (0, "nothing left to run"),
    (1, "on a local Dask cluster of 1 single-threaded worker;"),
    (3, "on a local Dask cluster of 2 single-threaded workers;")])
def test_the_headline_counts_in_words(todo, where):
    runs = sweep.plan({"eta": "1,2,3"}, **SMALL)
    args = argparse.Namespace(workers=2, scheduler=None, results="r.jsonl")
    store = argparse.Namespace(torn_bytes=0)
    line = sweep.command_line._headline(runs, todo, store, args)
    assert line.startswith("fastnet sweep: 3 runs (3 settings x 1 seed), "
                           "scored on the validation set, " + where)


def test_plot_writes_a_picture(tmp_path):
    pytest.importorskip("matplotlib")
    records = [dict(record(eta, seed, 0.5 + eta / 10),
                    accuracies=[0.3, 0.5 + eta / 10])
               for eta in (0.5, 3.0) for seed in (0, 1)]
    sweep.plot(records, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------ one run, in here

def test_a_sweep_run_is_fastnet_trains_run(monkeypatch):
    """train_one is training.run on the worker's cached data: the same
    accuracies, epoch by epoch, as training.run loading its own."""
    settings = training.Settings(epochs=2, seed=3, **SMALL).checked()
    result = sweep.train_one(sweep.settings_dict(settings))
    _, report = training.run(settings)
    assert result["status"] == "ok"
    assert result["accuracies"] == [e["accuracy"]
                                    for e in report["epochs_run"]]
    assert result["accuracy"] == report["accuracy"]
    assert result["best_accuracy"] == max(result["accuracies"])


def test_a_run_that_fails_or_diverges_is_recorded_not_raised(monkeypatch):
    fields = sweep.settings_dict(training.Settings(epochs=1, seed=0,
                                                   **SMALL).checked())
    missing = sweep.train_one(fields, data_dir="/nonexistent/fastnet")
    assert missing["status"] == "failed"
    assert missing["error"].startswith("DatasetNotFoundError")
    real_run = training.run

    def diverging(settings, **kwargs):
        network, report = real_run(settings, **kwargs)
        network.weights[0][0, 0] = np.nan
        return network, report
    monkeypatch.setattr(training, "run", diverging)
    diverged = sweep.train_one(fields)
    assert diverged["status"] == "failed"
    assert diverged["error"].startswith("diverged")


# ----------------------------------------------------------- on Dask

def test_the_cluster_listens_on_127_0_0_1_only(client):
    psutil = pytest.importorskip("psutil")
    me = psutil.Process()
    listening = [c.laddr for p in [me, *me.children(recursive=True)]
                 for c in p.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 5      # scheduler, 2 nannies, 2 workers
    assert {address.ip for address in listening} == {"127.0.0.1"}


@pytest.mark.slow
def test_a_sweep_on_two_workers_loads_the_data_once_per_worker(
        client, tmp_path):
    path = tmp_path / "r.jsonl"
    client.run(sweep.worker_data.cache_clear)
    seen = []
    records = sweep.run({"eta": "0.5,3", "epochs": 2}, path, repeats=2,
                        client=client, on_result=seen.append, **SMALL)
    assert len(records) == len(seen) == 4
    assert sorted(r["id"] for r in lines(path)) == sorted(
        r["id"] for r in records)
    assert all(r["status"] == "ok" and len(r["accuracies"]) == 2
               for r in records)
    # Each worker loaded the data once and reused it for its other runs.
    info = client.run(lambda: sweep.worker_data.cache_info()._asdict())
    assert all(i["misses"] <= 1 for i in info.values())
    assert sum(i["hits"] + i["misses"] for i in info.values()) == 4
    assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in records)
    # Same settings, same numbers: a worker's run is training.run's.
    _, report = training.run(training.Settings(
        eta=3.0, epochs=2, seed=1, **SMALL))
    mine = [r for r in records if r["settings"]["eta"] == 3.0 and
            r["settings"]["seed"] == 1]
    assert mine[0]["accuracies"] == [e["accuracy"]
                                     for e in report["epochs_run"]]


def test_one_client_runs_the_same_sweep_twice(client, tmp_path):
    """A client that ran a sweep runs the same sweep again into another
    file: the first sweep's cancelled tasks are not the second's (they
    once shared task keys, and the second got 'cancelled' records)."""
    for name in ("first.jsonl", "second.jsonl"):
        records = sweep.run({"eta": "0.5,3", "epochs": 1}, tmp_path / name,
                            repeats=2, client=client, **SMALL)
        assert [r["status"] for r in records] == ["ok"] * 4, records


@pytest.mark.slow
def test_a_worker_killed_mid_run_has_its_run_redone_elsewhere(
        client, tmp_path):
    """SIGKILL the worker that is running a task: the scheduler gives the
    task to another worker (the nanny restarts the dead one), and every
    run is in the results file exactly once."""
    path = tmp_path / "r.jsonl"
    # Runs of about a second, so that the kill lands mid-run.
    grid = {"sizes": ["784,100,10"], "eta": "0.5,1,2,3", "epochs": 3}
    killed = {}
    pids = client.run(os.getpid)    # asked first: the kill is then instant

    def kill_a_busy_worker(record):
        if killed:
            return
        busy = {}
        _wait_until(lambda: busy.update(
            (w, keys) for w, keys in client.processing().items() if keys)
            or busy)
        worker = sorted(busy)[0]
        os.kill(pids[worker], signal.SIGKILL)
        killed.update(worker=worker, keys=set(busy[worker]))

    records = sweep.run(grid, path, client=client, limit=12000,
                        evaluate_on="validation",
                        on_result=kill_a_busy_worker)
    written = lines(path)
    assert sorted(r["id"] for r in written) == sorted(
        sweep.run_id(s) for s in sweep.plan(grid, limit=12000))
    assert all(r["status"] == "ok" for r in written)
    assert len(records) == 4
    # The killed worker's task finished on another worker.
    redone = [r for r in written
              if any(key.startswith(f"fastnet-run-{r['id']}-")
                     for key in killed["keys"])]
    assert redone and all(r["worker"] != killed["worker"] for r in redone)
    client.wait_for_workers(2, timeout=30)


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_where_it_stopped(client, tmp_path):
    path = tmp_path / "r.jsonl"
    grid = {"eta": "0.5,1,2,3", "lmbda": "0,1"}
    finished = []

    def interrupt_after_three(record):
        finished.append(record)
        if len(finished) == 3:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        sweep.run(dict(grid, epochs=1), path, client=client,
                  on_result=interrupt_after_three, **SMALL)
    assert len(lines(path)) == 3
    # The interrupted sweep's other tasks were cancelled on the cluster.
    _wait_until(lambda: not any(client.processing().values()))
    # A kill in the middle of a write leaves a torn line: ignored.
    with open(path, "a") as file:
        file.write('{"id": "0123", "status": "o')
    resumed = []
    records = sweep.run(dict(grid, epochs=1), path, client=client,
                        resume=True, on_result=resumed.append, **SMALL)
    assert len(resumed) == 5 and len(records) == 8
    ids = [r["id"] for r in lines(path)]
    assert len(ids) == len(set(ids)) == 8


def _wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_bounded_retries_a_run_that_keeps_killing_workers_is_lost(tmp_path):
    """The scheduler retries a run whose worker died at most
    allowed-failures times, then it is recorded as lost (and runs again on
    resume)."""
    path = tmp_path / "r.jsonl"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            sweep.local_cluster(1) as cluster, \
            distributed.Client(cluster) as client:
        client.run(_die_in_training)
        grid = {"epochs": 1}
        records = sweep.run(grid, path, client=client, **SMALL)
        assert [r["status"] for r in records] == ["lost"]
        assert "KilledWorker" in records[0]["error"]
        # The restarted worker is a fresh process: the run now succeeds.
        client.wait_for_workers(1, timeout=30)
        records = sweep.run(grid, path, client=client, resume=True, **SMALL)
        assert [r["status"] for r in records] == ["ok"]
        pids = list(client.run(os.getpid).values())
    assert [r["status"] for r in lines(path)] == ["lost", "ok"]
    _assert_gone(pids)


def _die_in_training():
    from fastnet import training as worker_training

    def die(*args, **kwargs):
        os._exit(1)
    worker_training.run = die


# ------------------------------------------------------ command line

def parser():
    root = argparse.ArgumentParser(prog="fastnet")
    commands = root.add_subparsers(dest="command")
    p = commands.add_parser("sweep")
    sweep.add_arguments(p)
    return root, p


def main(argv):
    root, p = parser()
    args = root.parse_args(["sweep", *argv])
    return sweep.command(args, p)


@pytest.mark.parametrize("argv, message", [
    (["--eta", "0.5,-1"], "argument --eta: must be a finite positive number, "
     "got -1.0"),
    (["--sizes", "785,30,10"], "mnist has 784 inputs and 10 classes"),
    (["--epochs", ""], "epochs has an empty list of values"),
    (["--repeats", "0"], "argument --repeats: must be at least 1, got 0"),
    (["--spec", "/nonexistent.toml"], "cannot read the sweep spec"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "--workers sizes a local cluster"),
    (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    (["--top", "0"], "argument --top: must be at least 1, got 0"),
    (["--random", "0"], "argument --random: must be at least 1, got 0"),
    (["--eta", "0.1:1:10000000000000"], "argument --eta: a range of "
     "10,000,000,000,000 values; a sweep runs at most 100,000"),
    (["--eta", "0.1:x:3"], "argument --eta: expected a number, got 'x'"),
    (["--eta", "0.1:1:x"], "argument --eta: expected an integer, got 'x'"),
    (["--plot", "/nonexistent/p.png"], "argument --plot: cannot save"),
])
def test_command_refuses_bad_specs_before_any_run(argv, message, tmp_path,
                                                  capsys):
    results = tmp_path / "r.jsonl"
    with pytest.raises(SystemExit) as exit:
        main([*argv, "--results", str(results)])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err
    assert not results.exists()


@pytest.mark.parametrize("option, value", [
    ("--eta", "fast"), ("--eta", "-1"), ("--eta", "nan"), ("--lmbda", "-1"),
    ("--epochs", "0"), ("--epochs", "1.5"), ("--mini-batch-size", "x"),
    ("--cost", "hinge"), ("--cost", "CrossEntropyCost"), ("--init", "small"),
    ("--dtype", "float16"), ("--dataset", "cifar"), ("--sizes", "784,x,10"),
    ("--sizes", "785,30,10"), ("--sizes", "784,0,10"), ("--limit", "0"),
    ("--limit", "60001"), ("--seed", "-1"), ("--seed", "x"),
])
def test_sweep_refuses_what_train_refuses_in_its_words(option, value,
                                                       tmp_path, capsys):
    from fastnet import cli

    def error_line(command, *extra):
        with pytest.raises(SystemExit) as exit:
            cli.main([command, option, value, *extra])
        assert exit.value.code == 2
        return capsys.readouterr().err.splitlines()[-1].split(" error: ")[1]

    results = tmp_path / "r.jsonl"
    said = error_line("train")
    assert error_line("sweep", "--results", str(results)) == said
    # In a list, the bad value gets the same words.
    if option in ("--eta", "--cost", "--dtype", "--epochs"):
        good = {"--eta": "1", "--cost": "quadratic", "--dtype": "float32",
                "--epochs": "2"}[option]
        with pytest.raises(SystemExit):
            cli.main(["sweep", option, f"{good},{value}", "--results",
                      str(results)])
        assert capsys.readouterr().err.splitlines()[-1].split(
            " error: ")[1] == said
    assert not results.exists()


def test_an_unreachable_scheduler_exits_leaving_no_file(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(SystemExit) as exit:
        main(["--eta", "1", "--results", str(results), "--scheduler",
              "tcp://127.0.0.1:1"])
    assert exit.value.code == 1
    assert "127.0.0.1:1" in capsys.readouterr().err
    assert not results.exists()


def test_command_refuses_to_overwrite_results(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps(record(1, 0)) + "\n")
    with pytest.raises(SystemExit):
        main(["--eta", "1", "--results", str(results)])
    assert "pass --resume" in capsys.readouterr().err
    assert len(lines(results)) == 1


@pytest.mark.slow
def test_command_on_an_existing_scheduler(client, tmp_path, capsys):
    results, picture = tmp_path / "r.jsonl", tmp_path / "sweep.png"
    address = client.scheduler.address
    status = main(["--eta", "0.5,3", "--epochs", "2", "--limit", "300",
                   "--repeats", "2", "--results", str(results),
                   "--scheduler", address, "--plot", str(picture)])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0].startswith("fastnet sweep: 4 runs (2 settings x 2 seeds), "
                             "scored on the validation set, on " + address)
    assert out[1].split() == ["eta", "validation", "accuracy", "at",
                              "best", "epoch", "seeds", "s/run"]
    assert len(lines(results)) == 4 and picture.exists()
    # Resumed, nothing is left to run; a torn line is reported and cut.
    with open(results, "a") as file:
        file.write('{"id": "12')
    assert main(["--eta", "0.5,3", "--epochs", "2", "--limit", "300",
                 "--repeats", "2", "--results", str(results), "--resume",
                 "--scheduler", address]) == 0
    out = capsys.readouterr().out
    assert "Resuming: 4 runs already done" in out
    assert "Ignored a torn last line (10 bytes)" in out
    assert len(lines(results)) == 4


def test_command_stops_at_a_corrupt_results_file(tmp_path):
    results = tmp_path / "r.jsonl"
    results.write_text("{}\n")
    with pytest.raises(FileFormatError, match="line 1 is not a fastnet"):
        main(["--eta", "1", "--results", str(results), "--resume"])


def test_the_command_line_overrides_the_spec_file(tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text('eta = [0.5, 3.0]\nlmbda = [0, 5]\nrepeats = 2\n'
                    'limit = 300\n')
    root, _ = parser()
    args = root.parse_args(["sweep", "--spec", str(spec), "--eta", "1",
                            "--repeats", "3"])
    runs, _ = sweep.command_line._planned(args)
    assert [(s.eta, s.lmbda, s.seed) for s in runs] == [
        (1.0, 0.0, 0), (1.0, 0.0, 1), (1.0, 0.0, 2),
        (1.0, 5.0, 0), (1.0, 5.0, 1), (1.0, 5.0, 2)]
    assert {s.limit for s in runs} == {300}
    assert {s.evaluate_on for s in runs} == {"validation"}
