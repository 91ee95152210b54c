"""One training run, as ``fastnet train`` and ``fastnet sweep`` describe it.

A run is its ``Settings`` (every hyper-parameter, the data set and the
seed), the data it trains and is scored on (``RunData``, loaded once and
reusable across runs) and a report: a JSON-ready dict with the settings,
one record per epoch and the final accuracy.  ``run`` is the only code
path that trains from the command line, so a sweep's run is the same as
``fastnet train`` with the same options.
"""

import dataclasses
import datetime
import time

import numpy as np

from . import __version__, core, costs, data, network2
from . import validation as check

INITIALIZERS = ("large", "default")
EVALUATION_SETS = ("test", "validation")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that decides a training run.  ``limit`` trains on the
    first ``limit`` of Nielsen's 50,000 training images (all by default);
    ``evaluate_on`` scores on the test images or on Nielsen's validation
    images (the last 10,000 of the training file)."""
    sizes: tuple = (784, 30, 10)
    epochs: int = 30
    mini_batch_size: int = 10
    eta: float = 3.0
    cost: str = "quadratic"
    lmbda: float = 0.0
    init: str = "large"
    dtype: str = "float64"
    dataset: str = "mnist"
    limit: int = None
    evaluate_on: str = "test"
    seed: int = None

    def checked(self):
        """These settings with every field checked and normalised; a
        ``ValueError`` or ``TypeError`` naming the field otherwise."""
        sizes = tuple(check.check_sizes(self.sizes))
        data.check_layers(sizes, self.dataset)
        limit = data.TRAINING_SIZE if self.limit is None else \
            check.check_count("limit", self.limit, 1)
        if limit > data.TRAINING_SIZE:
            raise ValueError(f"limit can be at most {data.TRAINING_SIZE} "
                             f"(the training split), got {limit}")
        cost = costs.by_name(self.cost).name  # one spelling per cost
        _choice("init", self.init, INITIALIZERS)
        _choice("evaluate_on", self.evaluate_on, EVALUATION_SETS)
        seed = None if self.seed is None else \
            check.check_count("seed", self.seed, 0)
        dtype = check.check_dtype(self.dtype)
        mini_batch_size = check.check_count("mini_batch_size",
                                            self.mini_batch_size, 1)
        check.check_network_memory(sizes, dtype.itemsize, mini_batch_size)
        return dataclasses.replace(
            self, sizes=sizes, cost=cost,
            epochs=check.check_count("epochs", self.epochs, 1),
            mini_batch_size=mini_batch_size,
            eta=check.check_rate("eta", self.eta),
            lmbda=check.check_rate("lmbda", self.lmbda, allow_zero=True),
            dtype=dtype.name, limit=limit, seed=seed)

    def with_seed(self):
        """These settings with a seed: the given one, else a fresh one."""
        if self.seed is not None:
            return self
        return dataclasses.replace(
            self, seed=int(np.random.SeedSequence().entropy % 2**32))

    def describe(self):
        """One line saying what will be trained, as ``fastnet train``
        prints it first."""
        chapter3 = "" if self.cost == "quadratic" and self.lmbda == 0 else \
            f", {self.cost} cost, lmbda {self.lmbda:g}"
        return (f"Training {list(self.sizes)} on {self.limit:,} "
                f"{self.dataset} images: {_plural(self.epochs, 'epoch')}, "
                f"mini-batch {self.mini_batch_size}, eta {self.eta}"
                f"{chapter3}, {self.init} init, {self.dtype}, seed "
                f"{self.seed}; scored on the {self.evaluate_on} set")


@dataclasses.dataclass(frozen=True)
class RunData:
    """The arrays a run trains and is scored on: ``X`` (n_in, n) float32
    columns and labels ``y`` (n,); ``X_eval`` and ``y_eval`` likewise.
    Load once with ``load``; every run slices what it needs."""
    dataset: str
    evaluate_on: str
    X: np.ndarray
    y: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray

    @classmethod
    def load(cls, dataset="mnist", evaluate_on="test", data_dir=None):
        """Nielsen's split of ``dataset``: the first 50,000 training images
        to train on; the test images, or the last 10,000 training images
        (``evaluate_on="validation"``), to score."""
        _choice("evaluate_on", evaluate_on, EVALUATION_SETS)
        images, labels = data.load_mnist("train", name=dataset,
                                         path=data_dir)
        if evaluate_on == "validation":
            eval_images = images[data.TRAINING_SIZE:]
            eval_labels = labels[data.TRAINING_SIZE:]
        else:
            eval_images, eval_labels = data.load_mnist(
                "test", name=dataset, path=data_dir)
        return cls(dataset, evaluate_on,
                   data.to_columns(images[:data.TRAINING_SIZE]),
                   labels[:data.TRAINING_SIZE],
                   data.to_columns(eval_images), eval_labels)

    def fits(self, settings):
        """Whether this data is what ``settings`` trains on."""
        return (self.dataset, self.evaluate_on) == (settings.dataset,
                                                    settings.evaluate_on)


def build_network(settings, rng):
    """The untrained network of ``settings``, its initial weights drawn
    from ``rng``."""
    network = network2.Network(list(settings.sizes),
                               cost=costs.by_name(settings.cost).cls,
                               seed=rng)
    if settings.init == "large":
        network.large_weight_initializer()
    return network


def run(settings, *, run_data=None, data_dir=None, on_epoch=None,
        progress=False):
    """Train as ``settings`` say and return ``(network, report)``.

    ``settings`` are checked first and given a seed if they have none.
    ``run_data`` (a ``RunData`` of the same data set and evaluation set)
    saves loading the files again.  After each epoch ``on_epoch(report,
    record)`` is called with the report so far and the epoch's record
    (``epoch``, ``seconds``, ``correct``, ``total``, ``accuracy``)."""
    settings = settings.checked().with_seed()
    if run_data is None:
        run_data = RunData.load(settings.dataset, settings.evaluate_on,
                                data_dir)
    elif not run_data.fits(settings):
        raise ValueError(f"run_data holds {run_data.dataset} scored on the "
                         f"{run_data.evaluate_on} set, but the settings ask "
                         f"for {settings.dataset} on {settings.evaluate_on}")
    report = new_report(settings)
    rng = np.random.default_rng(settings.seed)
    network = build_network(settings, rng)

    def after_epoch(record):
        record = dict(record, accuracy=record["correct"] / record["total"])
        report["epochs_run"].append(record)
        if on_epoch is not None:
            on_epoch(report, record)

    started = time.perf_counter()
    try:
        network.fit(run_data.X[:, :settings.limit],
                    run_data.y[:settings.limit], epochs=settings.epochs,
                    mini_batch_size=settings.mini_batch_size,
                    eta=settings.eta, lmbda=settings.lmbda, seed=rng,
                    dtype=settings.dtype,
                    validation_data=(run_data.X_eval, run_data.y_eval),
                    callback=after_epoch, progress=progress)
    except core.TrainingDiverged as error:
        # The caller may still keep the last finite network.
        report["diverged"] = {"epoch": error.epoch, "message": str(error)}
        error.network, error.report = network, report
        raise
    final = report["epochs_run"][-1]
    report.update(seconds=time.perf_counter() - started,
                  correct=final["correct"], total=final["total"],
                  accuracy=final["accuracy"])
    return network, report


def new_report(settings):
    """The report of a run before its first epoch."""
    return {"command": "train", "fastnet": __version__,
            **model_metadata(settings), "epochs_run": []}


def model_metadata(settings):
    """What a saved model records of how it was trained."""
    fields = dataclasses.asdict(settings)
    fields["sizes"] = list(settings.sizes)
    fields["training_samples"] = fields.pop("limit")
    fields["evaluated_on"] = fields.pop("evaluate_on")
    fields["input_scale"] = data.INPUT_SCALE
    return fields


def saved_metadata(report):
    """The metadata saved with a run's model: its settings, final
    accuracy, when it was trained and by which fastnet."""
    metadata = {key: value for key, value in report.items()
                if key not in ("command", "epochs_run", "correct", "total",
                               "seconds")}
    if "diverged" in report:  # the model of the last finite epoch
        metadata["epochs_trained"] = report["diverged"]["epoch"]
        if report["epochs_run"]:
            metadata["accuracy"] = report["epochs_run"][-1]["accuracy"]
    metadata["trained"] = datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds")
    return metadata


def summary(settings, report):
    """The last line ``fastnet train`` prints."""
    return (f"{settings.evaluate_on.capitalize()} accuracy "
            f"{report['accuracy']:.2%} ({report['correct']} / "
            f"{report['total']}) after {_plural(settings.epochs, 'epoch')} "
            f"in {report['seconds']:.1f} s")


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got "
                         f"{value!r}")
    return value


def _plural(count, noun):
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
