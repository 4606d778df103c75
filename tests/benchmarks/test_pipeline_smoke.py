"""``make bench-pipeline`` at 2,000 rows (a minute, not the benchmark's ten): both halves run
and the table has every step, so a refactor cannot silently break it (it once did: the plain
half called a function that had moved). Its numbers are not asserted: they belong to the
benchmark."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"\d+\.\d\d"


def test_the_pipeline_benchmark_prints_both_halves():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pipeline_overhead.py"),
         "--rows", "2000", "--n-candidates", "2", "--model-types", "linear"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    lines = out.stdout.splitlines()
    steps = [line.split()[0] for line in lines if re.match(rf"^\w+ +{NUMBER} ", line)]
    assert steps == ["ingest", "validate", "train", "tune", "register", "summary"]
    assert any(re.match(rf"ratio pipeline / plain +: +{NUMBER} x", line) for line in lines)
