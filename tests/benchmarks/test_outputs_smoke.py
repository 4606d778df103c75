"""``make bench-outputs`` in seconds: a tiny model, a few requests, the table printed with
every column, so a refactor cannot silently break the benchmark. Its numbers are not
asserted: they belong to the benchmark."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_outputs_benchmark_prints_its_table():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "contributions.py"),
         "--requests", "3", "--rows", "800", "--families", "xgboost"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    rows = [line for line in out.stdout.splitlines() if line.startswith("| xgboost |")]
    assert [line.split("|")[2].strip() for line in rows] == ["1", "256"]
    number = r"\d+\.\d\d / \d+\.\d\d"
    assert all(re.search(rf"{number} \| {number} \| .*x \| {number} \| .*x \|$", r) for r in rows)
