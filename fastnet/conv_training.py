"""One training run of a chapter 6 network, as ``fastnet train --net NAME``
describes it.

The networks are ``fastnet.conv_models.PRESETS``, the book's chapter 6
table; a run trains one with the book's settings unless told otherwise,
on Nielsen's split (the first 50,000 training images, expanded to
250,000 by one-pixel shifts where the book did; the last 10,000 to
validate; the 10,000 test images), and reports as the book does: the
validation accuracy after each epoch, and the test accuracy at the epoch
of best validation accuracy.  The network kept (and saved) is the one of
that epoch, so that ``fastnet evaluate`` gives the reported accuracy.

The fully connected networks of chapters 1 to 3 train in
``fastnet.training``; this module shares its report and saved metadata.
"""

import contextlib
import dataclasses
import time

import numpy as np

from . import __version__, conv_models, data, network3, training
from . import validation as check


@dataclasses.dataclass(frozen=True)
class ConvSettings:
    """Everything that decides a chapter 6 run.  ``epochs``, ``eta`` and
    ``lmbda`` left as None take the preset's book values; ``limit``
    trains on the first ``limit`` of the 50,000 training images (before
    expansion)."""
    net: str = "conv"
    epochs: int = None
    mini_batch_size: int = 10
    eta: float = None
    lmbda: float = None
    dtype: str = "float32"
    dataset: str = "mnist"
    limit: int = None
    seed: int = None

    @property
    def preset(self):
        return conv_models.PRESETS[self.net]

    def checked(self):
        """These settings checked, the preset's values filled in; a
        ``ValueError`` or ``TypeError`` naming the field otherwise."""
        training._choice("net", self.net, tuple(conv_models.PRESETS))
        data.dataset_info(self.dataset)
        preset = conv_models.PRESETS[self.net]
        limit = data.TRAINING_SIZE if self.limit is None else \
            check.check_count("limit", self.limit, 1)
        if limit > data.TRAINING_SIZE:
            raise ValueError(f"limit can be at most {data.TRAINING_SIZE} "
                             f"(the training split), got {limit}")
        mini_batch_size = check.check_count("mini_batch_size",
                                            self.mini_batch_size, 1)
        if mini_batch_size > limit:
            raise ValueError(f"mini_batch_size {mini_batch_size} is more "
                             f"than the {limit} training images")
        dtype = check.check_dtype(self.dtype)
        if preset.expanded:
            check.check_memory(f"the expanded training data ({5 * limit:,} "
                               f"images)", 5 * limit * 784 * dtype.itemsize)
        pick = (lambda given, book: book if given is None else given)
        return dataclasses.replace(
            self, limit=limit, mini_batch_size=mini_batch_size,
            dtype=dtype.name,
            epochs=check.check_count("epochs", pick(self.epochs,
                                                    preset.epochs), 1),
            eta=check.check_rate("eta", pick(self.eta, preset.eta)),
            lmbda=check.check_rate("lmbda", pick(self.lmbda, preset.lmbda),
                                   allow_zero=True),
            seed=None if self.seed is None else
            check.check_count("seed", self.seed, 0))

    def with_seed(self):
        """These settings with a seed: the given one, else a fresh one."""
        if self.seed is not None:
            return self
        return dataclasses.replace(
            self, seed=int(np.random.SeedSequence().entropy % 2**32))

    @property
    def training_samples(self):
        return 5 * self.limit if self.preset.expanded else self.limit

    def describe(self):
        """The first line ``fastnet train --net`` prints."""
        images = f"{self.limit:,} {self.dataset} images"
        if self.preset.expanded:
            images = (f"{self.training_samples:,} {self.dataset} images "
                      f"({self.limit:,} and their one-pixel shifts)")
        return (f"Training {self.net} ({self.preset.description}) on "
                f"{images}: {training._plural(self.epochs, 'epoch')}, "
                f"mini-batch {self.mini_batch_size}, eta {self.eta:g}, "
                f"lmbda {self.lmbda:g}, {self.dtype}, seed {self.seed}; "
                f"validated each epoch, tested at the best")


@contextlib.contextmanager
def seeded_numpy(seed):
    """``np.random.seed(seed)`` inside, ``np.random``'s state as it was
    after: network3 draws initial weights from ``np.random``, so the same
    seed gives the book's code's starting point."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def build_network(settings):
    """The untrained network of checked, seeded ``settings``."""
    with seeded_numpy(settings.seed):
        layers = settings.preset.layers(settings.mini_batch_size)
    return network3.Network(layers, settings.mini_batch_size,
                            dtype=settings.dtype, seed=settings.seed)


def load_data(settings, data_dir=None):
    """``(training, validation, test)`` pairs ``(X (n, 784), y (n,))`` of
    ``settings.dtype``: Nielsen's split, the training part limited and
    expanded as the settings say."""
    images, labels = data.load_mnist("train", name=settings.dataset,
                                     path=data_dir)
    test_images, test_labels = data.load_mnist("test", name=settings.dataset,
                                               path=data_dir)

    def pair(images, labels):
        rows = data.to_columns(images, dtype=settings.dtype).T
        return rows, np.asarray(labels, dtype=np.int64)

    limit, split = settings.limit, data.TRAINING_SIZE
    training_data = pair(images[:limit], labels[:limit])
    if settings.preset.expanded:
        training_data = network3.expand_mnist(training_data,
                                              seed=settings.seed)
    return (training_data, pair(images[split:], labels[split:]),
            pair(test_images, test_labels))


def run(settings, *, data_dir=None, on_epoch=None, progress=False):
    """Train as ``settings`` (a ``ConvSettings``) say and return
    ``(network, report)``: the network of the best validation epoch, and
    the report (``training.new_report``'s fields, one record per epoch,
    then ``best_epoch``, ``validation_accuracy``, ``accuracy`` = the test
    accuracy of that epoch, ``seconds``).  After each epoch
    ``on_epoch(report, record)`` is called with the report so far and the
    epoch's record: ``epoch``, ``seconds``, ``validation_accuracy``,
    ``best`` and ``test_accuracy`` (None unless ``best``)."""
    settings = settings.checked().with_seed()
    training_data, validation_data, test_data = load_data(settings,
                                                          data_dir)
    network = build_network(settings)
    report = new_report(settings)
    best = {}

    def after_epoch(record):
        if record["best"]:
            best.update(epoch=record["epoch"], record=record,
                        params=[p.copy() for p in network.params])
        report["epochs_run"].append(record)
        if on_epoch is not None:
            on_epoch(report, record)

    started = time.perf_counter()
    network.SGD(training_data, settings.epochs, settings.mini_batch_size,
                settings.eta, validation_data, test_data,
                lmbda=settings.lmbda, on_epoch=after_epoch, verbose=False,
                progress=progress)
    for kept, p in zip(best["params"], network.params):
        p[...] = kept
    report.update(seconds=time.perf_counter() - started,
                  best_epoch=best["epoch"],
                  validation_accuracy=best["record"]["validation_accuracy"],
                  accuracy=best["record"]["test_accuracy"])
    return network, report


def new_report(settings):
    """The report of a run before its first epoch."""
    return {"command": "train", "fastnet": __version__,
            **model_metadata(settings), "epochs_run": []}


def model_metadata(settings):
    """What a saved chapter 6 model records of how it was trained."""
    fields = dataclasses.asdict(settings)
    fields.pop("limit")
    fields.update(training_samples=settings.training_samples,
                  expanded=settings.preset.expanded,
                  evaluated_on="test at the best validation epoch",
                  book_accuracy=settings.preset.book_accuracy,
                  input_scale=data.INPUT_SCALE)
    return fields


def summary(settings, report):
    """The last line ``fastnet train --net`` prints."""
    return (f"Test accuracy {report['accuracy']:.2%} at the best validation "
            f"epoch, {report['best_epoch']} (validation "
            f"{report['validation_accuracy']:.2%}); "
            f"{training._plural(settings.epochs, 'epoch')} in "
            f"{report['seconds']:.1f} s (the book: "
            f"{settings.preset.book_accuracy:.2%})")
