"""Benchmark: the drift detector's throughput, and what attaching it costs the predictor.

1. Detector throughput (rows/s) for 20 features (the 11 of the synthetic transactions plus 9
   numeric ones) with a 5k and a 10k-row reference, 500-row windows, for both backends
   (alibi-detect and scipy) on the same windows, with their largest p-value difference.
2. Predictor p50/p99 with the detector detached vs attached (every request forwarded as a
   CloudEvent, scored in windows) under the same load: a fixed rate of 1-row requests (hey,
   4 clients x 25 req/s) — how a latency goal is judged — in alternating rounds, medians
   reported because one 2-core box also runs the load generator and the sidecar; then at
   saturation (wrk, 8 connections), where every CPU cycle the sidecar takes is lost throughput.

    make bench-drift      # or: python benchmarks/drift_overhead.py --seconds 20 --rounds 3
    python benchmarks/drift_overhead.py --detector-only   # part 1 alone, no wrk/hey
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
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


def run_hey(url: str, body: Path, clients: int, rate_per_client: int, seconds: int) -> dict:
    """Fixed-rate load: ``clients`` workers each sending ``rate_per_client`` requests/s."""
    out = subprocess.run(
        [
            "hey",
            "-z",
            f"{seconds}s",
            "-c",
            str(clients),
            "-q",
            str(rate_per_client),
            "-m",
            "POST",
            "-T",
            "application/json",
            "-D",
            str(body),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = {int(p): 1000 * float(v) for p, v in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": percentiles[50],
        "p99": percentiles[99],
        "errors": sum(n for c, n in codes.items() if c != 200),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def detector_throughput(reference_rows: int) -> dict[str, tuple[float, list]]:
    """rows/s and the p-values per backend, the same reference and windows for both."""
    from shipyard.data.schema import infer_schema
    from shipyard.data.synthetic import generate_transactions
    from shipyard.monitoring.drift import DriftDetector

    reference = with_extra_features(generate_transactions(reference_rows, seed=1), 1)
    schema = infer_schema(reference, "is_fraud")
    assert len(schema.features) == 20
    windows = [
        with_extra_features(generate_transactions(500, seed=10 + i, shift=i / 40), 10 + i)
        for i in range(20)
    ]
    result = {}
    for backend in ("alibi", "scipy"):
        detector = DriftDetector.fit(reference, schema, max_rows=reference_rows, backend=backend)
        start = time.perf_counter()
        p_values = [list(detector.score(window).p_values.values()) for window in windows]
        result[backend] = (20 * 500 / (time.perf_counter() - start), p_values)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--detector-only", action="store_true", help="detector throughput only")
    args = parser.parse_args()
    for rows in (5000, 10_000):
        runs = detector_throughput(rows)
        (alibi, p_alibi), (scipy, p_scipy) = runs["alibi"], runs["scipy"]
        pairs = zip(p_alibi, p_scipy, strict=True)
        gap = max(abs(a - b) for x, y in pairs for a, b in zip(x, y, strict=True))
        print(
            f"detector throughput, 20 features, {rows}-row reference, 500-row windows: "
            f"alibi {alibi:,.0f} rows/s, scipy {scipy:,.0f} rows/s "
            f"(x{scipy / alibi:.1f}; max |p alibi - p scipy| {gap:.1e})"
        )
    if args.detector_only:
        return
    for tool in ("wrk", "hey"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: apt-get install {tool}")

    import pandas as pd

    from shipyard.data.schema import infer_schema
    from shipyard.local.servers import start_detector, start_predictor, v2_request
    from shipyard.monitoring.drift import DriftDetector
    from shipyard.steps.ingest import ingest
    from shipyard.steps.train import train

    work = Path(tempfile.mkdtemp(prefix="shipyard-drift-bench-"))
    os.environ["SHIPYARD_HOME"] = str(work / "home")
    ingest(work / "train.parquet", work / "test.parquet", rows=20_000)
    train_frame = pd.read_parquet(work / "train.parquet")
    schema = infer_schema(train_frame, "is_fraud")
    schema.save(work / "schema.json")
    result = train(
        work / "train.parquet",
        work / "test.parquet",
        work / "schema.json",
        work / "bundle",
        "xgboost",
        threshold=0.5,
        pipeline_run_id="bench",
    )
    DriftDetector.fit(train_frame, schema).save(work / "detector")
    body = work / "body.json"
    body.write_text(json.dumps(v2_request(pd.read_parquet(work / "test.parquet").head(1), schema)))
    lua = work / "post.lua"
    lua.write_text(LUA)

    detector = start_detector(str(work / "detector"), "drift", work / "drift.log")
    predictors = {}
    try:
        for label, logger_url in (
            ("detached", None),
            ("attached", f"{detector.base_url}/v1/models/drift:predict"),
        ):
            predictors[label] = start_predictor(
                str(result.bundle_dir),
                "fraud",
                work / f"predictor-{label}.log",
                logger_url=logger_url,
            )
        urls = {label: f"{p.base_url}/v2/models/fraud/infer" for label, p in predictors.items()}
        fixed: dict[str, list[dict]] = {"detached": [], "attached": []}
        for url in urls.values():
            run_hey(url, body, 4, 25, 3)  # warm-up
        for round_ in range(args.rounds):
            order = list(urls) if round_ % 2 == 0 else list(reversed(urls))
            for label in order:
                pids = (predictors[label].process.pid, detector.process.pid)
                before = [cpu_seconds(pid) for pid in pids]
                point = run_hey(urls[label], body, 4, 25, args.seconds)
                point["cpu_ms"], point["detector_cpu_ms"] = (
                    1000 * (cpu_seconds(pid) - b) / (point["rps"] * args.seconds)
                    for pid, b in zip(pids, before, strict=True)
                )
                fixed[label].append(point)
        saturated = {label: run_wrk(url, body, 8, args.seconds, lua) for label, url in urls.items()}
        with urllib.request.urlopen(f"{detector.base_url}/v1/drift/drift", timeout=10) as response:
            state = json.loads(response.read())
    finally:
        for predictor in predictors.values():
            predictor.stop()
        detector.stop()
    print(
        f"\n== predictor, drift detector detached vs attached: fixed rate 100 req/s of 1-row "
        f"requests (hey, 4 x 25), {args.rounds} alternating rounds of {args.seconds} s =="
    )
    medians = {}
    for label, runs in fixed.items():
        medians[label] = {
            k: statistics.median(r[k] for r in runs)
            for k in ("p50", "p99", "cpu_ms", "detector_cpu_ms")
        }
        each = ", ".join(f"{r['p99']:.1f}" for r in runs)
        m = medians[label]
        print(
            f"{label:<9} median p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms  (p99 per "
            f"round: {each})  predictor CPU {m['cpu_ms']:.2f} ms/request, detector "
            f"{m['detector_cpu_ms']:.2f}  non-200 {sum(r['errors'] for r in runs)}"
        )
    off, on = medians["detached"], medians["attached"]
    spread = max(r["p99"] for r in fixed["detached"]) / min(r["p99"] for r in fixed["detached"])
    print(
        f"p99 added by attaching: {100 * (on['p99'] / off['p99'] - 1):+.1f} %, p50 "
        f"{100 * (on['p50'] / off['p50'] - 1):+.1f} % (goal: p99 <= +5 %); the detached "
        f"predictor's own p99 varies {100 * (spread - 1):.0f} % between rounds here"
    )
    print(
        f"predictor CPU added per request by forwarding: "
        f"{100 * (on['cpu_ms'] / off['cpu_ms'] - 1):+.1f} %"
    )
    print(f"\n== at saturation (wrk, 8 connections, {args.seconds} s) ==")
    for label, p in saturated.items():
        print(
            f"{label:<9} {p['rps']:8.1f} req/s  p50 {p['p50']:6.2f} ms  p99 {p['p99']:6.2f} ms"
            f"  non-2xx {p['errors']}"
        )
    print(
        f"throughput lost by attaching: "
        f"{100 * (1 - saturated['attached']['rps'] / saturated['detached']['rps']):.1f} %; "
        f"windows the detector scored: {state['windows_scored']}, rows dropped: "
        f"{state['rows_dropped']}"
    )


if __name__ == "__main__":
    main()
