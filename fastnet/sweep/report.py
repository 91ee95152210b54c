"""A sweep's summary: the table of grid points, best first, and the plot.
"""

import dataclasses
import json

import numpy as np

from .plan import INTEGER_SETTINGS, REAL_SETTINGS, SWEPT

NUMBERS = INTEGER_SETTINGS + REAL_SETTINGS


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


def table(records, limit=None, swept=()):
    """The sweep as text: one row per grid point, best first, with the
    mean final accuracy ± its standard deviation over the seeds, the mean
    of each run's best epoch, the seeds run and the mean seconds per
    run.  ``limit`` rows at most (failures are listed after them).  The
    columns are the settings that differ between grid points, else (one
    point) the settings named in ``swept``, else sizes and eta."""
    names = swept_names(records) or [n for n in SWEPT if n in swept] or [
        "sizes", "eta"]
    evaluated = records[0]["settings"]["evaluate_on"] if records else "test"
    header = [name.replace("_", " ") for name in names] + [
        f"{evaluated} accuracy", "at best epoch", "seeds", "s/run"]
    rows = [_row(point, names) for point in points(records)[:limit]]
    # Numbers align right, names and sizes left.
    numeric = set(range(len(names), len(header))) | {
        i for i, name in enumerate(names) if name in NUMBERS}
    lines = _aligned([header] + rows, numeric)
    for record in records:
        if record["status"] != "ok":
            lines.append(f"{record['status']}: "
                         f"{_describe_point(record['settings'], names)}, "
                         f"seed {record['settings']['seed']}: "
                         f"{record.get('error')}")
    return "\n".join(lines)


def _row(point, names):
    """The table's cells for one grid point."""
    cells = [_cell(point.settings[name]) for name in names]
    if not point.runs:
        return cells + ["failed", "", _seeds(point), ""]
    acc = point.accuracies
    spread = f" ± {acc.std(ddof=1):.2%}" if len(acc) > 1 else ""
    best = np.mean([r["best_accuracy"] for r in point.runs])
    seconds = np.mean([r["seconds"] for r in point.runs])
    return cells + [f"{acc.mean():.2%}{spread}", f"{best:.2%}",
                    _seeds(point), f"{seconds:.1f}"]


def _aligned(rows, numeric):
    """Rows of cells as lines of text in columns, those in ``numeric``
    aligned right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths)))
            .rstrip() for row in rows]


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
    values as categories in their natural order (sizes by their
    numbers, so 784,30,10 comes before 784,100,10)."""
    raw = [r["settings"][name] for r in records]
    numeric = name in NUMBERS
    distinct = {_cell(v): v for v in raw}
    labels = sorted(distinct, key=lambda label: _order(distinct[label]))
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
    return labels


def _order(value):
    """A sort key: layer sizes by their numbers (by length first, then
    layer by layer), other values as they are."""
    return (len(value), tuple(value)) if isinstance(value, list) else value
