"""``make bench-coldstart`` in seconds: a tiny registered model started once, the table
printed with our row and the floor's, so a refactor cannot silently break the benchmark. Its
numbers are not asserted: they belong to the benchmark (MLServer's own virtualenv is left to
the real run)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cold_start_benchmark_prints_its_table():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cold_start.py"),
         "--runs", "1", "--rows", "800", "--no-mlserver"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    rows = {
        line.split()[0]: line for line in out.stdout.splitlines() if re.match(r"^\w+ +\d", line)
    }
    assert set(rows) == {"shipyard", "floor"}
    assert all(len(re.findall(r"\d+\.\d\d", row)) == 4 for row in rows.values())
