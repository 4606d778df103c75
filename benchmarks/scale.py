"""Benchmark: the default training pipeline on kfp.local at growing sizes of the synthetic
data (100k, 1M, 5M rows by default), with each step's time and peak memory, so the curve
shows what grows faster than the rows.

Each step is its own process on kfp.local; its peak RSS is that process's high-water mark
(``ru_maxrss``, recorded by the step itself: ``shipyard.steps.timing``). ``--plain`` also runs
each size in one plain process (``pipeline_overhead.plain_run``), the floor without
orchestration; it doubles the run time.

    make bench-scale                              # 100k 1M 5M
    python benchmarks/scale.py 100000 1000000     # sizes are arguments
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from pipeline_overhead import run_pipeline, run_plain, setup

STEPS = ("ingest", "validate", "train", "tune", "register", "summary")


def one_size(rows: int, plain: bool, home: Any) -> dict[str, Any]:
    """One pipeline run at ``rows`` (and the plain process, if asked): per step (task s,
    work s, peak MB), the wall time, the plain wall time (or None) and the load average."""
    load = os.getloadavg()[0]
    summary = run_pipeline({"rows": rows, "model_name": f"scale-{rows}"}, home)
    steps = {
        s.name: (s.process_seconds or 0.0, s.work_seconds or 0.0, s.metadata.get("peak_rss_mb"))
        for s in summary.steps
    }
    plain_wall = None
    if plain:
        _, plain_wall = run_plain({"rows": rows}, home, f"scale-plain-{rows}")
    return {"rows": rows, "steps": steps, "wall": summary.wall_seconds, "plain": plain_wall,
            "load": load}  # fmt: skip


def print_table(results: list[dict[str, Any]]) -> None:
    """One row per step and size: task seconds, peak RSS, and seconds per 100k rows (flat
    where time grows with the rows, rising where it grows faster)."""
    print("\n| rows | step | task s | s per 100k rows | peak RSS MB |")
    print("|---:|---|---:|---:|---:|")
    for r in results:
        per = 100_000 / r["rows"]
        for name in STEPS:
            if name in r["steps"]:
                task, _, peak = r["steps"][name]
                print(
                    f"| {r['rows']:,} | {name} | {task:.1f} | {task * per:.2f} | {peak or 0:.0f} |"
                )
        plain = f"{r['plain']:.1f} s" if r["plain"] else "not run"
        print(
            f"| {r['rows']:,} | **wall** | **{r['wall']:.1f}** | {r['wall'] * per:.2f} | "
            f"max {max((s[2] or 0) for s in r['steps'].values()):.0f} |"
        )
        print(f"<!-- {r['rows']:,} rows: plain process {plain}; load average {r['load']:.2f} -->")
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = (last["wall"] / first["wall"]) / (last["rows"] / first["rows"])
        print(f"\nwall time grew {growth:.2f}x as fast as the rows ({first['rows']:,} -> "
              f"{last['rows']:,}; <= 1 is the goal)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="*", type=int, default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--plain", action="store_true", help="also run one plain process")
    args = parser.parse_args()
    home = setup()
    results = []
    for rows in args.rows:
        started = time.perf_counter()
        results.append(one_size(rows, args.plain, home))
        print(f"{rows:,} rows done in {time.perf_counter() - started:.0f} s", flush=True)
    print_table(results)


if __name__ == "__main__":
    main()
