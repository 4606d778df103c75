"""Benchmark: is the pipeline's effort sized to the data? (issue 17)

Times ``shipyard run --no-serve`` end to end on (a) a small real table (scikit-learn's breast
cancer set, 569 rows, exported to CSV) and (b) the default 20k-row synthetic run, each with a
fresh ``SHIPYARD_HOME`` (no champion). Prints the wall time, the run's step table, the
chosen model's test metric and, as the peer, a plain default ``HistGradientBoosting`` fitted on
the same train split and judged on the same test split (the issue's quality floor).

    make bench-effort
    python benchmarks/effort.py --project /path/to/other/checkout   # e.g. a "before" build
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
STEP_LINE = re.compile(r"^(\w+)\s+([\d.]+|-)\s+([\d.]+|-)\s+(.*)$")
METRIC_OF = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}


def small_table(folder: Path) -> Path:
    """The breast cancer table as CSV (column names without spaces), 569 rows."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    path = folder / "breast_cancer.csv"
    frame.to_csv(path, index=False)
    return path


def run_pipeline(project: Path, home: Path, sets: list[str]) -> tuple[float, str]:
    """``shipyard run --no-serve`` of ``project``'s compiled pipeline; (wall seconds, stdout)."""
    venv_bin = project / ".venv" / "bin"
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(home),
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": ":".join(str(project / p) for p in ("components", "pipelines", "kserve")),
    }
    command = [str(venv_bin / "shipyard"), "run", "--no-serve"]
    command += ["--pipeline-file", str(project / "build" / "training_pipeline.yaml")]
    for item in sets:
        command += ["--set", item]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall, done.stdout


def step_table(stdout: str) -> dict[str, tuple[str, str]]:
    """step -> (task seconds, key results) from the run's printed table."""
    steps: dict[str, tuple[str, str]] = {}
    for line in stdout.splitlines():
        match = STEP_LINE.match(line)
        if match and match.group(1) in ("ingest", "validate", "train", "tune", "register"):
            steps[match.group(1)] = (match.group(2), match.group(4))
    return steps


def outputs_dir(stdout: str) -> Path:
    for line in stdout.splitlines():
        if line.startswith("outputs: "):
            return Path(line.removeprefix("outputs: ").strip())
    raise SystemExit("the run printed no outputs folder")


def peer(outputs: Path) -> dict[str, float | str]:
    """A default HistGradientBoosting on the run's own split (categoricals native)."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import f1_score, mean_squared_error, roc_auc_score

    from shipyard.data.schema import Schema
    from shipyard.steps.train import load_split

    split = load_split(
        outputs / "ingest-op" / "train_data",
        outputs / "ingest-op" / "test_data",
        Schema.load(outputs / "validate-op" / "schema"),
    )
    task = split.schema.task or "binary"
    x_train, x_test = split.x_train.copy(), split.x_test.copy()
    for name in split.schema.categorical:
        kind = x_train[name].astype("category").dtype
        x_train[name], x_test[name] = x_train[name].astype(kind), x_test[name].astype(kind)
    start = time.perf_counter()
    if task == "regression":
        model = HistGradientBoostingRegressor(random_state=42).fit(x_train, split.y_train)
        value = float(np.sqrt(mean_squared_error(split.y_test, model.predict(x_test))))
    else:
        model = HistGradientBoostingClassifier(random_state=42).fit(x_train, split.y_train)
        proba = model.predict_proba(x_test)
        if task == "binary":
            value = float(roc_auc_score(split.y_test, proba[:, 1]))
        else:
            value = float(f1_score(split.y_test, proba.argmax(axis=1), average="macro"))
    return {"metric": METRIC_OF[task], "value": value, "fit_s": time.perf_counter() - start}


def chosen_metric(outputs: Path, metric: str) -> tuple[float | None, str]:
    """The tune step's model (the one registered): its test metric and family."""
    data = json.loads((outputs / "tune-op" / "executor_output.json").read_text())
    meta: dict = {}
    for artifact in data.get("artifacts", {}).values():
        for item in artifact.get("artifacts", []):
            meta.update(item.get("metadata", {}))
    value = meta.get(metric)
    return (None if value is None else float(value)), str(meta.get("model_type", "?"))


def bench(name: str, project: Path, sets: list[str], task: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="shipyard-effort-") as home:
        wall, stdout = run_pipeline(project, Path(home), sets)
        steps = step_table(stdout)
        outputs = outputs_dir(stdout)
        metric = METRIC_OF[task]
        value, model_type = chosen_metric(outputs, metric)
        hgb = peer(outputs)
    print(f"\n== {name}: wall {wall:.1f} s (shipyard run --no-serve, end to end)")
    for step, (seconds, results) in steps.items():
        print(f"   {step:<9} {seconds:>7} s  {results[:110]}")
    pipeline_line = next((ln for ln in stdout.splitlines() if "pipeline wall time" in ln), "")
    print(f"   {pipeline_line}")
    print(f"   chosen: {model_type} test {metric} {value}")
    print(f"   peer (default HistGradientBoosting, same split): {metric} {hgb['value']:.4f}")
    return {"case": name, "wall_s": wall, "metric": value, "peer": hgb["value"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=PROJECT, help="checkout to run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case")
    parser.add_argument("--cases", default="small,default", help="small, default or both")
    args = parser.parse_args()
    project = args.project.resolve()
    subprocess.run(
        [str(project / ".venv/bin/shipyard"), "--project", str(project), "compile"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as folder:
        csv = small_table(Path(folder))
        cases = {
            "small": (f"breast cancer, 569 rows ({project.name})", [f"source={csv}"], "binary"),
            "default": (f"default synthetic, 20k rows ({project.name})", [], "binary"),
        }
        cases["small"][1].append("target=target")
        for key in args.cases.split(","):
            name, sets, task = cases[key.strip()]
            for _ in range(args.repeat):
                results.append(bench(name, project, sets, task))
    print("\ncase | wall s | test metric | default HGB peer")
    for r in results:
        print(f"{r['case']} | {r['wall_s']:.1f} | {r['metric']} | {r['peer']:.4f}")


if __name__ == "__main__":
    main()
