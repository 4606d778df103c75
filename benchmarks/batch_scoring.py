"""Benchmark: ``shipyard score`` of a large table (1M rows by default) against the bare
compiled model predicting the same rows in memory.

A model is trained and registered first (the plain process, ``pipeline_overhead.run_plain``,
on 20k synthetic rows); the table to score is fresh synthetic rows written as Parquet. Then:

- ``shipyard score`` end to end: the batch pipeline on kfp.local (``run_batch_pipeline``);
- its score step: the task process, and the step's own work (read, check, score, write, drift);
- in this process, on the same rows already decoded: the scoring loop the step runs
  (``score_in_chunks``) and the bare compiled model (``CompiledModel.scores``, the proven fast
  path the loop calls), both on one OpenMP thread as the step runs.

    make bench-batch            # or: python benchmarks/batch_scoring.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from pipeline_overhead import run_plain, setup

MODEL = "bench-batch"


def best_of(repeats: int, func: Any, *args: Any) -> float:
    """The fastest of ``repeats`` timed calls (the least disturbed by the shared machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def in_process(table: Path, repeats: int) -> tuple[float, float, int]:
    """(scoring loop s, bare compiled model s, rows) on the table's rows, decoded once."""
    from shipyard.data.features import canonical_inputs, model_columns
    from shipyard.data.sources import read_table
    from shipyard.serving.model_source import resolve
    from shipyard.serving.predictor import Scorer
    from shipyard.steps.score_chunks import score_in_chunks

    served = resolve(f"models:/{MODEL}/1")
    scorer = Scorer(served.model)
    if scorer.fast is None:
        raise SystemExit(f"no compiled fast path for this model: {scorer.note}")
    frame = read_table(str(table))
    columns = canonical_inputs(frame, served.model.schema)
    rows = len(frame)
    schema = served.model.schema
    loop = best_of(repeats, score_in_chunks, scorer, columns, rows, False)
    bare = best_of(repeats, lambda: scorer.fast.scores(model_columns(columns, schema)))
    return loop, bare, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to score")
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--model-types", default="xgboost")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = setup()

    from shipyard.data.synthetic import TARGET, generate_transactions
    from shipyard.kubeflow.pipeline_files import compile_pipeline
    from shipyard.local.batch import run_batch_pipeline

    run_plain({"rows": args.train_rows, "model_types": args.model_types, "n_candidates": 2},
              home, MODEL)  # fmt: skip
    table = home / "to_score.parquet"
    generate_transactions(args.rows, seed=7).drop(columns=[TARGET]).to_parquet(table)
    pipeline = compile_pipeline(Path(__file__).resolve().parents[1], "batch_scoring_pipeline",
                                home / "batch.yaml")  # fmt: skip
    load = os.getloadavg()[0]
    start = time.perf_counter()
    summary, _ = run_batch_pipeline(pipeline, str(table), MODEL, version="1")
    end_to_end = time.perf_counter() - start
    step = summary.step("score")
    loop, bare, rows = in_process(table, args.repeats)

    print(f"\n== batch scoring: {rows:,} rows, {args.model_types}; load average {load:.2f} ==")
    print(f"bare compiled model (in memory)      : {bare:8.2f} s")
    print(f"scoring loop (in memory)             : {loop:8.2f} s  {loop / bare:5.2f}x the model")
    work = step.work_seconds or 0.0
    print(f"score step's own work (read..drift)  : {work:8.2f} s  {work / bare:5.2f}x the model")
    task = step.process_seconds or 0.0
    print(f"score task (process)                 : {task:8.2f} s  {task / bare:5.2f}x the model")
    print(f"shipyard score end to end            : {end_to_end:8.2f} s  "
          f"{end_to_end / bare:5.2f}x the model")  # fmt: skip
    print(f"score task peak RSS                  : {step.metadata.get('peak_rss_mb', 0):8.0f} MB")


if __name__ == "__main__":
    main()
