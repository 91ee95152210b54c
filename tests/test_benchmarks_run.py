"""The benchmark suites stay runnable: each benchmark once, on a few
samples, with timing off."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_benchmark_suites_run():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p",
         "no:cacheprovider", "--benchmark-disable", "--bench-samples", "120"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert " passed" in result.stdout
