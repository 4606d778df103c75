"""``make bench-serving`` in seconds: a tiny model, one second of wrk per point, the table and
the scaling lines printed, so a refactor cannot silently break the benchmark. Its numbers are
not asserted: they belong to the benchmark (MLServer's own virtualenv is left to the real
run)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed (apt-get install wrk)")
def test_the_serving_benchmark_prints_its_table():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "predictor_vs_mlserver.py"),
         "--seconds", "1", "--rows", "2000", "--workers", "2", "--no-mlserver"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    points = [line.split() for line in out.stdout.splitlines() if re.match(r"^ +(1|256) +\d", line)]
    assert [(p[0], p[1]) for p in points] == [
        (r, c) for r in ("1", "256") for c in ("1", "8", "32")
    ]
    assert "2 worker processes" in out.stdout
    assert len([line for line in out.stdout.splitlines() if "of c1 (goal >= 1.7)" in line]) == 2
