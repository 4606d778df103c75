"""Benchmark: the drift detector's throughput, and what attaching it costs the predictor.

1. Detector throughput (rows/s) for 20 features (the 11 of the synthetic transactions plus 9
   numeric ones) with a 5k and a 10k-row reference, 500-row windows.
2. Predictor p50/p99 under the same wrk load (1-row requests, concurrency 8) with the detector
   detached, then attached (every request forwarded as CloudEvents, scored in windows).

    make bench-drift      # or: python benchmarks/drift_overhead.py --seconds 15
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from predictor_vs_mlserver import LUA, run_wrk


def with_extra_features(frame, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    for i in range(9):
        frame[f"x{i}"] = rng.normal(i, 1 + i / 3, len(frame))
    return frame


def detector_throughput(reference_rows: int) -> float:
    from shipyard.data.synthetic import generate_transactions
    from shipyard.drift import DriftDetector
    from shipyard.schema import infer_schema

    reference = with_extra_features(generate_transactions(reference_rows, seed=1), 1)
    schema = infer_schema(reference, "is_fraud")
    assert len(schema.features) == 20
    detector = DriftDetector.fit(reference, schema, max_rows=reference_rows)
    windows = [with_extra_features(generate_transactions(500, seed=10 + i), 10 + i)
               for i in range(20)]
    start = time.perf_counter()
    for window in windows:
        detector.score(window)
    return 20 * 500 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    for rows in (5000, 10_000):
        print(f"detector throughput, 20 features, {rows}-row reference: "
              f"{detector_throughput(rows):,.0f} rows/s")

    import pandas as pd

    from shipyard.drift import DriftDetector
    from shipyard.ingest import ingest
    from shipyard.schema import infer_schema
    from shipyard.serving.local import start_detector, start_predictor, v2_request
    from shipyard.training import train

    work = Path(tempfile.mkdtemp(prefix="shipyard-drift-bench-"))
    os.environ["SHIPYARD_HOME"] = str(work / "home")
    ingest(work / "train.parquet", work / "test.parquet", rows=20_000)
    train_frame = pd.read_parquet(work / "train.parquet")
    schema = infer_schema(train_frame, "is_fraud")
    schema.save(work / "schema.json")
    result = train(work / "train.parquet", work / "test.parquet", work / "schema.json",
                   work / "bundle", "xgboost", threshold=0.5, pipeline_run_id="bench")
    DriftDetector.fit(train_frame, schema).save(work / "detector")
    body = work / "body.json"
    body.write_text(json.dumps(v2_request(pd.read_parquet(work / "test.parquet").head(1),
                                          schema)))
    lua = work / "post.lua"
    lua.write_text(LUA)

    detector = start_detector(str(work / "detector"), "drift", work / "drift.log")
    points = {}
    try:
        for label, logger_url in (("detached", None),
                                  ("attached", f"{detector.base_url}/v1/models/drift:predict")):
            predictor = start_predictor(str(result.bundle_dir), "fraud",
                                        work / f"predictor-{label}.log", logger_url=logger_url)
            try:
                url = f"{predictor.base_url}/v2/models/fraud/infer"
                run_wrk(url, body, 8, 3, lua)  # warm-up
                points[label] = run_wrk(url, body, 8, args.seconds, lua)
            finally:
                predictor.stop()
        with urllib.request.urlopen(f"{detector.base_url}/v1/drift/drift",
                                    timeout=10) as response:
            state = json.loads(response.read())
    finally:
        detector.stop()
    off, on = points["detached"], points["attached"]
    print(f"\n== predictor with the drift detector detached vs attached (1-row requests, "
          f"concurrency 8, {args.seconds} s) ==")
    for label, p in points.items():
        print(f"{label:<9} {p['rps']:8.1f} req/s  p50 {p['p50']:6.2f} ms  p99 {p['p99']:6.2f} ms"
              f"  non-2xx {p['errors']}")
    print(f"p99 added by attaching: {100 * (on['p99'] / off['p99'] - 1):+.1f} % (goal <= 5 %); "
          f"windows the detector scored meanwhile: {state['windows_scored']}, rows dropped: "
          f"{state['rows_dropped']}")


if __name__ == "__main__":
    main()
