"""A wheel of the repository, installed in a fresh virtual environment,
trains on the MNIST it carries, offline, from a folder outside the
repository (issue 10: MNIST ships in every install).

The fresh environment gets fastnet from the wheel and nothing else: the
dependencies (NumPy, Numba, SciPy, tqdm) are borrowed from the running
interpreter's site-packages through a ``.pth`` file, so nothing is
downloaded.  A ``.pth`` line only appends a folder to ``sys.path`` (the
``.pth`` files inside it are not run), so an editable install of the
checkout there cannot leak in; the test also checks where fastnet was
imported from.  Building the wheel needs setuptools >= 77: with it in
the running environment the build is offline (``--no-build-isolation``),
else pip fetches it into an isolated build environment.
"""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _source_tree(target):
    """Copy the working tree (tracked and untracked files git does not
    ignore) to ``target``, so the build leaves nothing in the checkout."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], cwd=REPO, capture_output=True,
            check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__"))
        return target
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _setuptools_is_new_enough():
    try:
        major = importlib.metadata.version("setuptools").split(".")[0]
        return int(major) >= 77
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False


def _build_wheel(source, out):
    isolation = [] if not _setuptools_is_new_enough() else \
        ["--no-build-isolation"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
         *isolation, "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = out.glob("fastnet-*.whl")
    return wheel


def _fresh_venv(folder, wheel):
    """A venv with only the wheel installed; the running interpreter's
    site-packages appended to its path for the dependencies."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip",
                    str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python),
                    "install", "--no-deps", "--no-index", "--quiet",
                    str(wheel)], check=True, timeout=300)
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; "
         "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
        text=True, check=True).stdout.strip())
    borrowed = dict.fromkeys(sysconfig.get_paths()[key]
                             for key in ("purelib", "platlib"))
    (site / "zz_borrowed_dependencies.pth").write_text(
        "\n".join(borrowed) + "\n")
    return python, site


def _offline_environment(root):
    """No data anywhere but the package, and any download fails at once:
    empty FASTNET_DATA, HOME and cache; proxies pointing at a closed
    port; nothing from the caller's PYTHONPATH."""
    env = {key: value for key, value in os.environ.items()
           if not key.lower().endswith("_proxy") and key != "PYTHONPATH"}
    for name in ("data", "home", "cache"):
        (root / name).mkdir()
    env.update(FASTNET_DATA=str(root / "data"), HOME=str(root / "home"),
               XDG_CACHE_HOME=str(root / "cache"), PYTHONNOUSERSITE="1")
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[key] = "http://127.0.0.1:9"
    return env


@pytest.mark.slow
def test_wheel_trains_offline_on_its_own_mnist(tmp_path):
    wheel = _build_wheel(_source_tree(tmp_path / "source"),
                         tmp_path / "wheel")
    venv = tmp_path / "venv"
    python, site = _fresh_venv(venv, wheel)
    for name in MNIST_FILES:
        assert (site / "fastnet" / "datasets" / "mnist" / name).is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _offline_environment(tmp_path)

    where = subprocess.run(
        [str(python), "-c", "import fastnet, fastnet.data as d; "
         "print(fastnet.__file__); print(d.find('mnist', download=False))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    module, folder = where.stdout.split()
    assert Path(module).is_relative_to(site)
    assert Path(folder) == site / "fastnet" / "datasets" / "mnist"

    trained = subprocess.run(
        [str(venv / "bin" / "fastnet"), "train", "--limit", "500",
         "--epochs", "1", "--quiet", "--seed", "1", "--json",
         "result.json"], cwd=elsewhere, env=env, capture_output=True,
        text=True, timeout=240)
    assert trained.returncode == 0, trained.stderr[-3000:]
    result = json.loads((elsewhere / "result.json").read_text())
    # Scored on the 10,000 real test digits.  500 images and one epoch
    # reach about 29% with seed 1 here: twice chance (10%) shows it
    # learned from real digits, with room for another BLAS's rounding.
    assert result["total"] == 10000
    assert result["accuracy"] > 0.2, result
    # Nothing was downloaded or cached.
    for name in ("data", "home", "cache"):
        assert list((tmp_path / name).iterdir()) == [], name
