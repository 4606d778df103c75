"""Benchmark: the local pipeline (kfp.local, one process per step) against the same work in
one plain Python process, on a 100k-row dataset. Prints wall times, each step's own work
time, each step's peak memory and the orchestration overhead per step.

The plain half calls each KFP component's own Python function (``<op>.python_func``) in
order, wired as ``pipelines/training_steps.py`` wires the tasks, so it does exactly what the
tasks do, minus one process per step.

    make bench-pipeline   # or: python benchmarks/pipeline_overhead.py --rows 100000
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]


def setup(home: Path | None = None) -> Path:
    """A fresh Shipyard home for the run; the project's components and pipelines importable."""
    home = home or Path(tempfile.mkdtemp(prefix="shipyard-bench-"))
    os.environ["SHIPYARD_HOME"] = str(home)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    sys.path[:0] = [str(PROJECT / "components"), str(PROJECT / "pipelines")]
    return home


def pipeline_defaults() -> dict[str, Any]:
    """The training pipeline's parameters with their defaults (the plain half uses them)."""
    from training_pipeline import training_pipeline

    signature = inspect.signature(training_pipeline.pipeline_func)
    return {name: p.default for name, p in signature.parameters.items()}


def reset_peak_rss() -> None:
    """Start this process's peak-RSS count again (Linux: ``5`` into clear_refs resets VmHWM),
    so each in-process step gets a peak of its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_since_reset() -> float:
    """VmHWM in MB: the peak since the last :func:`reset_peak_rss`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def plain_run(params: dict[str, Any], folder: Path) -> dict[str, tuple[float, float]]:
    """ingest → validate → train → tune → register → summary in this process, each step by
    its component's own function; per step (seconds, peak RSS MB)."""
    from kfp import dsl

    from deploy_op import deploy_op  # noqa: F401  (skipped: deploy=False, as in the run)
    from ingest_op import ingest_op
    from register_op import register_op
    from summary_op import summary_op
    from train_op import train_op
    from tune_op import tune_op
    from validate_op import validate_op

    def art(kind: type, name: str) -> Any:
        return kind(uri=str(folder / name), metadata={})

    timings: dict[str, tuple[float, float]] = {}

    def step(name: str, op: Any, **kwargs: Any) -> Any:
        reset_peak_rss()
        start = time.perf_counter()
        result = op.python_func(**kwargs)
        timings[name] = (time.perf_counter() - start, peak_rss_since_reset())
        return result

    p, run_id = params, "bench-plain"
    train, test = art(dsl.Dataset, "train"), art(dsl.Dataset, "test")
    data = {"train_data": train, "test_data": test}
    step("ingest", ingest_op, **data, source=p["source"], target=p["target"], rows=p["rows"],
         seed=p["seed"], shift=p["shift"], split=p["split"], test_fraction=p["test_fraction"],
         task=p["task"], group_column=p["group_column"])  # fmt: skip
    schema = art(dsl.Artifact, "schema")
    step("validate", validate_op, **data, schema=schema, report=art(dsl.Markdown, "report"),
         metrics=art(dsl.Metrics, "vmetrics"), target=p["target"], schema_uri=p["schema_uri"],
         model_name=p["model_name"], source=p["source"], skew_action=p["skew_action"],
         task=p["task"], positive_class=p["positive_class"],
         ignore_columns=p["ignore_columns"], cv_folds=p["cv_folds"])  # fmt: skip
    baseline = art(dsl.Model, "baseline")
    step("train", train_op, **data, schema=schema, model=baseline,
         metrics=art(dsl.Metrics, "tmetrics"),
         classification=art(dsl.ClassificationMetrics, "tclass"), model_type=p["model_type"],
         threshold=p["threshold"], seed=p["seed"], pipeline_run_id=run_id)  # fmt: skip
    tuned = art(dsl.Model, "tuned")
    step("tune", tune_op, **data, schema=schema, baseline=baseline, model=tuned,
         metrics=art(dsl.Metrics, "umetrics"),
         classification=art(dsl.ClassificationMetrics, "uclass"),
         model_types=p["model_types"], n_candidates=p["n_candidates"], cv_folds=p["cv_folds"],
         threshold=p["threshold"], seed=p["seed"], pipeline_run_id=run_id,
         metric=p["tune_metric"])  # fmt: skip
    step("register", register_op, model=tuned, **data, decision=art(dsl.Artifact, "decision"),
         report=art(dsl.Markdown, "rreport"), card=art(dsl.HTML, "card"), floors=p["floors"],
         margin=p["margin"], model_name=p["model_name"], source=p["source"],
         pipeline_run_id=run_id, deploy=p["deploy"])  # fmt: skip
    status = dsl.PipelineTaskFinalStatus(
        state="SUCCEEDED", pipeline_job_resource_name=run_id, pipeline_task_name="training",
        error_code=None, error_message=None,
    )  # fmt: skip
    step("summary", summary_op, status=status, summary=art(dsl.Markdown, "summary"),
         report=art(dsl.HTML, "sreport"), pipeline_run_id=run_id, model_name=p["model_name"],
         source=p["source"], deploy=p["deploy"])  # fmt: skip
    return timings


def run_pipeline(params: dict[str, Any], home: Path) -> Any:
    """The compiled training pipeline on kfp.local with ``params``; its RunSummary."""
    from shipyard.local.pipeline import run_local
    from training_pipeline import compile_pipeline

    pipeline_file = compile_pipeline(home / "training_pipeline.yaml")
    return run_local(pipeline_file, params)


def run_plain(params: dict[str, Any], home: Path, model_name: str) -> tuple[dict, float]:
    """The plain half with the pipeline's defaults and ``params``; (per step, wall seconds)."""
    folder = Path(tempfile.mkdtemp(prefix="plain-", dir=home))
    start = time.perf_counter()
    plain = plain_run({**pipeline_defaults(), **params, "model_name": model_name}, folder)
    return plain, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--n-candidates", type=int, default=4)
    parser.add_argument("--model-types", default="xgboost,linear")
    args = parser.parse_args()

    home = setup()
    params = {"rows": args.rows, "n_candidates": args.n_candidates,
              "model_types": args.model_types}  # fmt: skip
    summary = run_pipeline({**params, "model_name": "bench-pipeline"}, home)
    plain, plain_wall = run_plain(params, home, "bench-plain")

    print(
        f"\n== pipeline benchmark: {args.rows} rows, families {args.model_types}, "
        f"{args.n_candidates} candidates each; load average {os.getloadavg()[0]:.2f} =="
    )
    print(
        f"{'step':<10} {'task s':>8} {'its work s':>11} {'fixed s':>8} {'task MB':>8} "
        f"{'plain s':>8} {'plain MB':>9}"
    )
    for s in summary.steps:
        own, peak = plain.get(s.name, (0.0, 0.0))
        task, work = s.process_seconds or 0.0, s.work_seconds or 0.0
        print(
            f"{s.name:<10} {task:>8.2f} {work:>11.2f} {task - own:>8.2f} "
            f"{s.metadata.get('peak_rss_mb', 0):>8.0f} {own:>8.2f} {peak:>9.0f}"
        )
    print(f"pipeline wall time (kfp.local)  : {summary.wall_seconds:8.2f} s")
    print(f"steps' own work (sum)           : {summary.work_seconds:8.2f} s")
    print(f"orchestration overhead per step : {summary.overhead_per_step:8.2f} s")
    print(
        "fixed s = task s - plain s: what a step costs more as a process of its own (goal <= 1.5)"
    )
    print(f"plain single process            : {plain_wall:8.2f} s")
    ratio = summary.wall_seconds / plain_wall
    print(f"ratio pipeline / plain          : {ratio:8.2f} x (goal <= 1.2)")


if __name__ == "__main__":
    main()
