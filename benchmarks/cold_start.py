"""Benchmark: cold start, process start to ``/v2/health/ready`` = 200, for the same model.

- ``shipyard serve --source models:/NAME@champion`` of a registered version already in the
  local cache (what a restarted predictor or a scaled-from-zero pod with a warm volume does);
- MLServer (what KServe runs for ``modelFormat: sklearn``, ``protocolVersion: v2``) on the
  same model, exported as ``shipyard rollout --model-format sklearn`` deploys it;
- the floor: a Python process that only imports numpy and xgboost and exits.

Each is started ``--runs`` times in turn and the median printed, with the machine's load
average (the numbers move with it: compare the three columns of one run, not across runs).

    make bench-coldstart     # or: python benchmarks/cold_start.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shipyard.processes import console_script, free_port, stop_process_group, wait_for_http

PROJECT = Path(__file__).resolve().parents[1]
BENCH_DIR = PROJECT / ".bench"
NAME = "coldstart"


def seconds_to_ready(command: list[str], url: str, log: Path, env: dict[str, str]) -> float:
    """Start ``command``, poll ``url`` every 10 ms until 200; seconds from the start."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        if not wait_for_http(url, 180, process, interval=0.01):
            raise TimeoutError(f"{url} not ready in 180 s; see {log}")
        return time.perf_counter() - start
    finally:
        stop_process_group(process)


def seconds_to_exit(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def registered_champion(work: Path, rows: int) -> Path:
    """Train and register a small XGBoost model as the champion of ``NAME`` in a fresh home,
    fetch it into the serving cache once; the bundle folder."""
    import pandas as pd

    from shipyard.data.schema import infer_schema
    from shipyard.model.ref import ModelRef
    from shipyard.registry.client import MODEL, Registry
    from shipyard.settings import get_settings
    from shipyard.steps.ingest import ingest
    from shipyard.steps.register import register
    from shipyard.steps.train import train

    ingest(work / "train.parquet", work / "test.parquet", rows=rows)
    infer_schema(pd.read_parquet(work / "train.parquet"), "is_fraud").save(work / "schema.json")
    trained = train(
        work / "train.parquet",
        work / "test.parquet",
        work / "schema.json",
        work / "bundle",
        "xgboost",
        {"n_estimators": 100},
        threshold=0.5,
        pipeline_run_id="coldstart",
    )
    register(trained.model_uri, trained.bundle_dir, work / "test.parquet", model_name=NAME)
    Registry(get_settings()).fetch(ModelRef.parse(f"models:/{NAME}@champion"), MODEL)
    return Path(trained.bundle_dir)


def mlserver_command(bundle: Path, work: Path) -> tuple[list[str], str, dict[str, str]]:
    """MLServer serving the model (its own virtualenv under .bench/, created on first use)."""
    from shipyard.model.bundle import load_bundle
    from shipyard.model.export import mlserver_python, write_mlserver_sklearn

    folder = work / "mlserver"
    write_mlserver_sklearn(load_bundle(bundle), folder / NAME, NAME, "1")
    port = free_port()
    settings = {"host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
                "metrics_port": free_port(), "debug": False}  # fmt: skip
    (folder / "settings.json").write_text(json.dumps(settings))
    python = mlserver_python(BENCH_DIR / "mlserver-venv")
    env = {**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}"}
    url = f"http://127.0.0.1:{port}/v2/models/{NAME}/ready"
    return [str(python.parent / "mlserver"), "start", str(folder)], url, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts of each, median printed")
    parser.add_argument("--rows", type=int, default=5000, help="training rows")
    parser.add_argument("--no-mlserver", action="store_true", help="skip the peer")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shipyard-coldstart-"))
    os.environ["SHIPYARD_HOME"] = str(work / "home")
    bundle = registered_champion(work, args.rows)
    port = free_port()
    ours = [console_script("shipyard"), "serve", "--source", f"models:/{NAME}@champion",
            "--name", NAME, "--http-port", str(port), "--grpc-port", str(free_port())]  # fmt: skip
    contenders = {"shipyard": (ours, f"http://127.0.0.1:{port}/v2/health/ready", dict(os.environ))}
    if not args.no_mlserver:
        contenders["mlserver"] = mlserver_command(bundle, work)
    times: dict[str, list[float]] = {name: [] for name in [*contenders, "floor"]}
    load = os.getloadavg()[0]
    for run in range(args.runs):  # interleaved, so a change of load hits all of them
        for name, (command, url, env) in contenders.items():
            times[name].append(seconds_to_ready(command, url, work / f"{name}-{run}.log", env))
        times["floor"].append(seconds_to_exit([sys.executable, "-c", "import numpy, xgboost"]))
    load = max(load, os.getloadavg()[0])
    print(f"\n== cold start: process start -> ready, median of {args.runs} (load avg <= {load:.1f},"
          f" {os.cpu_count()} cores) ==")  # fmt: skip
    print(f"{'':<10} {'median s':>9} {'min s':>7} {'max s':>7} {'x floor':>8}")
    floor = statistics.median(times["floor"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<10} {median:>9.2f} {min(values):>7.2f} {max(values):>7.2f} "
              f"{median / floor:>8.2f}")  # fmt: skip
    print(
        "shipyard: `shipyard serve --source models:/NAME@champion`, version cached locally, "
        "until /v2/health/ready; mlserver: `mlserver start` until the model is ready; "
        "floor: `python -c 'import numpy, xgboost'`"
    )


if __name__ == "__main__":
    main()
