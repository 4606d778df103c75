"""Benchmark: Shipyard's predictor vs MLServer (what KServe runs for ``modelFormat: sklearn``
with ``protocolVersion: v2``), same model, same machine, same run, same load generator.

For 1-row and 256-row v2 JSON requests at concurrency 1, 8 and 32, ``wrk`` (Debian) reports
req/s and p50/p99 latency against each server; the bare ``predict_proba`` time for the same
rows is the floor. MLServer runs from its own virtualenv (mlserver 1.7.1 needs uvloop<0.22),
created under ``.bench/`` on first use. MLServer's sklearn runtime loads joblib: the model is
written by ``shipyard.model.export`` exactly as ``shipyard rollout --model-format sklearn``
deploys it (Shipyard's own artifact stays skops + UBJ).

    make bench-serving      # or: python benchmarks/predictor_vs_mlserver.py --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from shipyard.model.export import mlserver_python, write_mlserver_sklearn
from shipyard.processes import wait_for_http

PROJECT = Path(__file__).resolve().parents[1]
BENCH_DIR = PROJECT / ".bench"
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.body = f:read("*a")
f:close()
"""


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    if not wait_for_http(url, timeout, process, interval=0.5):
        raise TimeoutError(url)


def request_body(frame, schema) -> dict:
    """One v2 body both servers accept: a column per feature, pandas content type for
    MLServer (Shipyard ignores it), strings for categoricals."""
    inputs = []
    for name in schema.features:
        categorical = name in schema.categorical
        inputs.append(
            {
                "name": name,
                "shape": [len(frame)],
                "datatype": "BYTES" if categorical else "FP64",
                "data": frame[name].astype(str if categorical else float).tolist(),
                **({"parameters": {"content_type": "str"}} if categorical else {}),
            }
        )
    return {
        "parameters": {"content_type": "pd"},
        "inputs": inputs,
        "outputs": [{"name": "predict_proba"}],
    }


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run_wrk(url: str, body_file: Path, connections: int, seconds: int, lua: Path) -> dict:
    threads = min(connections, 2)
    start = os.times()
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(lua),
            url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BODY_FILE": str(body_file)},
        check=True,
    ).stdout
    end = os.times()
    cpu = (end.children_user - start.children_user) + (end.children_system - start.children_system)

    def latency(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(\w+)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": int(errors.group(1)) if errors else 0,
        "wrk_cpu_pct": 100 * cpu / seconds,
    }


ABSENT = {"rps": float("nan"), "p50": float("nan"), "p99": float("nan"), "errors": 0,
          "wrk_cpu_pct": 0.0}  # fmt: skip


def start_mlserver(folder: Path, work: Path) -> subprocess.Popen:
    """MLServer on ``folder``, from its own virtualenv (created under .bench/ on first use)."""
    python = mlserver_python(BENCH_DIR / "mlserver-venv")
    return subprocess.Popen(
        [str(python.parent / "mlserver"), "start", str(folder)],
        stdout=open(work / "mlserver.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}"},
    )


def timed_ms(call, repeat: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument(
        "--workers", type=int, help="Shipyard's worker processes (default: its setting)"
    )
    parser.add_argument(
        "--no-mlserver", action="store_true", help="skip the peer (the smoke test: no venv)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    import numpy as np
    import pandas as pd

    from shipyard.data.features import canonical_columns
    from shipyard.data.schema import infer_schema
    from shipyard.local.servers import start_predictor
    from shipyard.model.bundle import load_bundle
    from shipyard.processes import free_port, stop_process_group
    from shipyard.serving.fast_path import compile_model
    from shipyard.settings import get_settings
    from shipyard.steps.ingest import ingest
    from shipyard.steps.train import train

    work = Path(tempfile.mkdtemp(prefix="shipyard-serve-bench-"))
    os.environ["SHIPYARD_HOME"] = str(work / "home")
    ingest(work / "train.parquet", work / "test.parquet", rows=args.rows)
    schema = infer_schema(pd.read_parquet(work / "train.parquet"), "is_fraud")
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
    model = load_bundle(result.bundle_dir)
    test = pd.read_parquet(work / "test.parquet")

    mls_dir = work / "mlserver"
    write_mlserver_sklearn(model, mls_dir / "fraud", "fraud", "1")
    mls_port = free_port()
    (mls_dir / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": mls_port,
                "grpc_port": free_port(),
                "metrics_port": free_port(),
                "debug": False,
            }
        )
    )

    lua = work / "post.lua"
    lua.write_text(LUA)
    compiled = compile_model(model.pipeline, schema)
    bodies = {}
    for rows in (1, 256):
        frame = test.sample(rows, random_state=rows)
        path = work / f"body-{rows}.json"
        path.write_text(json.dumps(request_body(frame, schema)))
        columns = canonical_columns(frame, schema)
        floors = (
            timed_ms(lambda f=frame: model.predict_proba(f)),
            timed_ms(lambda c=columns: compiled.scores(c)),
        )
        bodies[rows] = (path, frame, floors)

    from shipyard.serving.workers import count

    workers = args.workers or count(get_settings().serving_workers)
    shipyard = start_predictor(
        str(result.bundle_dir),
        "fraud",
        work / "predictor.log",
        env={"SHIPYARD_SERVING_WORKERS": str(workers)},
    )
    mlserver = None if args.no_mlserver else start_mlserver(mls_dir, work)
    results = []
    urls = {"shipyard": f"{shipyard.base_url}/v2/models/fraud/infer"}
    try:
        if mlserver is not None:
            wait_ready(f"http://127.0.0.1:{mls_port}/v2/models/fraud/ready", mlserver)
            urls["mlserver"] = f"http://127.0.0.1:{mls_port}/v2/models/fraud/infer"
        for rows, (path, frame, _) in bodies.items():  # same answers before timing anything
            expected = model.predict_proba(frame)[:, 1]
            for name, url in urls.items():
                answer = post(url, json.loads(path.read_text()))
                data = np.asarray(answer["outputs"][0]["data"], dtype=float).reshape(rows, -1)
                np.testing.assert_allclose(data[:, -1], expected, rtol=1e-5, err_msg=name)
        for rows, (path, _, floors) in bodies.items():
            for connections in (1, 8, 32):
                point = {"rows": rows, "c": connections, "floors": floors}
                for name, url in urls.items():
                    point[name] = run_wrk(url, path, connections, args.seconds, lua)
                results.append(point)
    finally:
        shipyard.stop()
        if mlserver is not None:
            stop_process_group(mlserver)

    print(
        f"\n== predictor ({workers} worker processes) vs MLServer: same XGBoost pipeline, wrk "
        f"{args.seconds}s per point, load avg {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores =="
    )
    print(
        f"{'rows':>4} {'conc':>4} {'floor ms':>13} | {'shipyard req/s':>14} {'p50':>7} "
        f"{'p99':>7} | {'mlserver req/s':>14} {'p50':>7} {'p99':>7} | {'ratio':>5} "
        f"{'wrk cpu%':>8}"
    )
    for p in results:
        s, m = p["shipyard"], p.get("mlserver", ABSENT)
        floor = f"{p['floors'][0]:.2f}/{p['floors'][1]:.2f}"
        print(
            f"{p['rows']:>4} {p['c']:>4} {floor:>13} | {s['rps']:>14.1f} "
            f"{s['p50']:>7.2f} {s['p99']:>7.2f} | {m['rps']:>14.1f} {m['p50']:>7.2f} "
            f"{m['p99']:>7.2f} | {s['rps'] / m['rps']:>5.2f} "
            f"{max(s['wrk_cpu_pct'], m['wrk_cpu_pct']):>8.1f}"
        )
        if s["errors"] or m["errors"]:
            print(f"     non-2xx: shipyard {s['errors']}, mlserver {m['errors']}")
    for rows in bodies:
        by_c = {p["c"]: p["shipyard"] for p in results if p["rows"] == rows}
        one = by_c[1]["rps"]
        print(
            f"shipyard {rows:>3} rows: req/s at c8 {by_c[8]['rps'] / one:.2f}x, at c32 "
            f"{by_c[32]['rps'] / one:.2f}x of c1 (goal >= 1.7); p99/p50 "
            + ", ".join(f"c{c} {v['p99'] / v['p50']:.1f}" for c, v in by_c.items())
            + " (goal <= 3)"
        )
    print(
        "latency in ms; floor = bare predict_proba of the sklearn pipeline (what MLServer "
        "runs) / of Shipyard's compiled path, same rows; ratio = shipyard req/s / mlserver "
        "req/s (goal >= 1.5, p99 no worse); wrk cpu% = the load generator's own CPU"
    )


if __name__ == "__main__":
    main()
