"""``make bench-scale`` and ``make bench-batch`` at a few thousand rows, so a refactor cannot
silently break them. Their numbers are not asserted: they belong to the benchmarks."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"\d+\.\d+"


def _run(script: str, *args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return out.stdout.splitlines()


def test_the_scale_benchmark_prints_time_and_memory_per_step():
    lines = _run("scale.py", "2000", "3000")
    for rows in ("2,000", "3,000"):
        steps = [line.split("|")[2].strip() for line in lines if line.startswith(f"| {rows} |")]
        assert steps == ["ingest", "validate", "train", "tune", "register", "summary", "**wall**"]
    row = rf"^\| 2,000 \| tune \| {NUMBER} \| {NUMBER} \| \d+ \|$"
    assert any(re.match(row, line) for line in lines)
    assert any(line.startswith("wall time grew") for line in lines)


def test_the_batch_benchmark_prints_ours_and_the_bare_model():
    lines = _run("batch_scoring.py", "--rows", "3000", "--train-rows", "2000", "--repeats", "1")
    assert any(re.match(rf"bare compiled model .*: +{NUMBER} s$", line) for line in lines)
    for what in ("scoring loop", "score step's own work", "shipyard score end to end"):
        assert any(
            re.match(rf"{what} .*: +{NUMBER} s +{NUMBER}x the model", line) for line in lines
        ), what
