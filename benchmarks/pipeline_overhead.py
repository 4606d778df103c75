"""Benchmark: the local pipeline (kfp.local, one process per step) against the same work in
one plain Python process, on a 100k-row dataset. Prints wall times, each step's own work
time and the orchestration overhead per step.

    make bench            # or: python benchmarks/pipeline_overhead.py --rows 100000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def plain_run(rows: int, n_candidates: int, model_types: str, folder: Path) -> dict[str, float]:
    """ingest → validate → train → tune → register in this process, timed per step."""
    timings: dict[str, float] = {}

    def step(name, func, *args, **kwargs):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        timings[name] = time.perf_counter() - start
        return result

    from shipyard.registry import client as registry
    from shipyard.settings import settings_for
    from shipyard.steps import ingest
    from shipyard.steps import train as training
    from shipyard.steps import tune as tuning
    from shipyard.steps import validate as validation

    settings = settings_for("bench-plain")
    paths = {
        k: str(folder / f"{k}") for k in ("train", "test", "schema", "report", "model", "tuned")
    }
    data = step("ingest", ingest.ingest, paths["train"], paths["test"], rows=rows)
    step(
        "validate",
        validation.validate,
        paths["train"],
        paths["test"],
        "is_fraud",
        paths["schema"],
        paths["report"],
        settings=settings,
    )
    base = step(
        "train",
        training.train,
        paths["train"],
        paths["test"],
        paths["schema"],
        paths["model"],
        pipeline_run_id="bench-plain",
    )
    best = step(
        "tune",
        tuning.tune,
        paths["train"],
        paths["test"],
        paths["schema"],
        base.bundle_dir,
        paths["tuned"],
        base.model_uri,
        base.run_id,
        model_types,
        n_candidates,
        pipeline_run_id="bench-plain",
    )
    step(
        "register",
        registry.register,
        best.model_uri,
        best.bundle_dir,
        paths["test"],
        "bench-plain",
        data.content_hash,
        settings=settings,
    )
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--n-candidates", type=int, default=4)
    parser.add_argument("--model-types", default="xgboost,logistic_regression")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="shipyard-bench-"))
    os.environ["SHIPYARD_HOME"] = str(home)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    sys.path[:0] = [str(PROJECT / "components"), str(PROJECT / "pipelines")]
    from shipyard.local.pipeline import run_local
    from training_pipeline import compile_pipeline

    pipeline_file = compile_pipeline(home / "training_pipeline.yaml")
    params = {
        "rows": args.rows,
        "n_candidates": args.n_candidates,
        "model_types": args.model_types,
        "model_name": "bench-pipeline",
    }
    summary = run_local(pipeline_file, params)

    start = time.perf_counter()
    folder = home / "plain"
    folder.mkdir()
    plain = plain_run(args.rows, args.n_candidates, args.model_types, folder)
    plain_wall = time.perf_counter() - start

    print(
        f"\n== pipeline benchmark: {args.rows} rows, families {args.model_types}, "
        f"{args.n_candidates} candidates each =="
    )
    print(f"{'step':<10} {'pipeline task s':>16} {'its own work s':>15} {'plain process s':>16}")
    for step in summary.steps:
        print(
            f"{step.name:<10} {step.process_seconds or 0:>16.2f} {step.work_seconds or 0:>15.2f} "
            f"{plain.get(step.name, 0):>16.2f}"
        )
    print(f"pipeline wall time (kfp.local)  : {summary.wall_seconds:8.2f} s")
    print(f"steps' own work (sum)           : {summary.work_seconds:8.2f} s")
    print(f"orchestration overhead per step : {summary.overhead_per_step:8.2f} s (goal <= 1.5)")
    print(f"plain single process            : {plain_wall:8.2f} s")
    print(f"ratio pipeline / plain          : {summary.wall_seconds / plain_wall:8.2f} x")


if __name__ == "__main__":
    main()
