import json

import pytest
from kfp import components

from shipyard.errors import ConfigError
from shipyard.local.outputs import RunSummary, format_summary, read_steps
from shipyard.local.pipeline import coerce_arguments, failed_step, pipeline_steps


def test_failed_step_from_kfp_local_messages():
    inner = (
        "Pipeline \x1b[95m'shipyard-training'\x1b[0m finished with status \x1b[91mFAILURE"
        "\x1b[0m. Inner task failed: \x1b[96m'validate-op'\x1b[0m."
    )
    assert failed_step(inner) == "validate"
    assert failed_step("Task \x1b[96m'ingest-op'\x1b[0m finished with status FAILURE") == "ingest"
    assert failed_step("something else") == "unknown"


def test_read_steps_and_summary_table(tmp_path):
    for name, metadata, params in (
        (
            "ingest",
            {"train_rows": 80, "test_rows": 20, "work_seconds": 1.0, "process_seconds": 1.2},
            {},
        ),
        (
            "register",
            {
                "version": "3",
                "promoted": True,
                "champion_version": "3",
                "work_seconds": 2.0,
                "process_seconds": 2.5,
            },
            {"reason": "x"},
        ),
    ):
        (tmp_path / f"{name}-op").mkdir()
        (tmp_path / f"{name}-op" / "executor_output.json").write_text(
            json.dumps(
                {
                    "parameterValues": params,
                    "artifacts": {"a": {"artifacts": [{"name": "a", "metadata": metadata}]}},
                }
            )
        )
    steps = read_steps(tmp_path)
    assert [s.name for s in steps] == ["ingest", "register"]
    assert steps[0].work_seconds == 1.0 and steps[0].metrics["train_rows"] == 80
    summary = RunSummary(tmp_path, 5.0, steps, {})
    assert summary.overhead_per_step == pytest.approx(1.0)
    table = format_summary(summary)
    assert "`champion` -> v3" in table and "train_rows=80" in table


def test_read_steps_finds_any_step_in_pipeline_order_with_all_its_metadata(tmp_path):
    for name, metadata in (
        ("score", {"rows_scored": 7, "drift_verdict": "no drift", "work_seconds": 1.5}),
        ("custom", {"rows_scored": 1}),
        ("ingest", {"train_rows": 5}),
    ):
        (tmp_path / f"{name}-op").mkdir()
        (tmp_path / f"{name}-op" / "executor_output.json").write_text(
            json.dumps({"artifacts": {"a": {"artifacts": [{"name": "a", "metadata": metadata}]}}})
        )
    steps = read_steps(tmp_path)
    assert [s.name for s in steps] == ["ingest", "score", "custom"]
    score = steps[1]
    assert score.work_seconds == 1.5 and score.metrics == {"rows_scored": 7}
    assert score.metadata["drift_verdict"] == "no drift"


def test_coerce_arguments_uses_the_declared_types(tmp_path):
    from training_pipeline import compile_pipeline

    pipeline = components.load_component_from_file(str(compile_pipeline(tmp_path / "p.yaml")))
    args = coerce_arguments(pipeline, {"rows": "500", "margin": "0.01", "source": "a.csv"})
    assert args == {"rows": 500, "margin": 0.01, "source": "a.csv"}
    with pytest.raises(ConfigError, match="no parameter 'colour'"):
        coerce_arguments(pipeline, {"colour": "red"})
    with pytest.raises(ConfigError, match="'rows' takes a Integer"):
        coerce_arguments(pipeline, {"rows": "many"})


def test_skipped_steps_in_pipeline_order_and_the_registered_model_from_register(tmp_path):
    for name, metadata, params in (
        (
            "register",
            {"version": "3", "promoted": False, "champion_version": "2"},
            {"model_uri": "models:/fraud/3", "promoted": False},
        ),
        (
            "summary",
            {
                "state": "SUCCEEDED",
                "outcome": "models:/fraud/3 not promoted",
                "decision": "v3 kept as challenger",
            },
            {},
        ),
    ):
        (tmp_path / f"{name}-op").mkdir()
        (tmp_path / f"{name}-op" / "executor_output.json").write_text(
            json.dumps(
                {
                    "parameterValues": params,
                    "artifacts": {"a": {"artifacts": [{"name": "a", "metadata": metadata}]}},
                }
            )
        )
    (tmp_path / "summary-op" / "summary").write_text("# Pipeline finished\n")
    (tmp_path / "register-op" / "log.txt").write_text(
        "    lib.py:3: UserWarning: The y_prob values do not sum to one.\n      warnings.warn(\n"
        "    2026/12/06 02:10:10 WARNING mlflow.utils.environment: no pip version\n"
        "    checked 3 warnings=0 (not a library warning)\n"
    )
    summary = RunSummary(tmp_path, 5.0, read_steps(tmp_path), {}, skipped=["deploy"])
    assert summary.model_uri == "models:/fraud/3"
    assert summary.summary_markdown == tmp_path / "summary-op" / "summary"
    assert summary.step("summary").metrics == {
        "state": "SUCCEEDED",
        "outcome": "models:/fraud/3 not promoted",
    }
    table = format_summary(summary).splitlines()
    names = [line.split()[0] for line in table[2:5]]
    assert names == ["register", "deploy", "summary"]
    assert "skipped: its condition was false" in table[3]
    assert table[2].endswith("; 2 library warning(s) in its log")
    assert "library warning" not in table[4]
    assert "registered model: models:/fraud/3" in table
    assert f"run summary (Markdown): {tmp_path / 'summary-op' / 'summary'}" in table


def test_pipeline_steps_reach_into_conditions_and_the_exit_handler(tmp_path):
    from training_pipeline import compile_pipeline

    pipeline = components.load_component_from_file(str(compile_pipeline(tmp_path / "p.yaml")))
    assert sorted(pipeline_steps(pipeline.pipeline_spec)) == [
        "deploy",
        "ingest",
        "register",
        "summary",
        "train",
        "tune",
        "validate",
    ]


def test_step_logs_split_what_kfp_local_prints_by_task(tmp_path, capsys):
    import sys

    from shipyard.local.pipeline import LOG_FILE, StepLogs, step_failed

    run_dir = tmp_path / "run"
    for task in ("ingest-op", "validate-op"):
        (run_dir / task).mkdir(parents=True)
    with StepLogs(tmp_path / "scratch") as logs:
        (tmp_path / "scratch").mkdir()
        print("12:00:00.000 - INFO - Executing task \x1b[96m'ingest-op'\x1b[0m")
        print("    read 100 rows")
        sys.stdout.write("12:00:01.000 - INFO - Executing task 'validate-op'\n    checking")
        print("\n    Traceback (most recent call last):\n    ValueError: bad column")
        print("12:00:02.000 - ERROR - Task 'validate-op' finished with status FAILURE")
    logs.move_into(run_dir)
    assert "read 100 rows" in capsys.readouterr().out  # the terminal still gets everything
    ingest = (run_dir / "ingest-op" / LOG_FILE).read_text()
    assert "\x1b" not in ingest and "read 100 rows" in ingest and "checking" not in ingest
    assert "ValueError: bad column" in (run_dir / "validate-op" / LOG_FILE).read_text()
    assert not (tmp_path / "scratch").exists()

    failed = step_failed("validate", run_dir)  # no record: the log's last line of its own
    assert failed.exit_code == 1 and failed.log == run_dir / "validate-op" / LOG_FILE
    assert "step 'validate' failed: ValueError: bad column" in str(failed)


def test_a_failed_step_points_at_the_runs_summary(tmp_path):
    from shipyard.local.pipeline import step_failed

    run_dir = tmp_path / "run"
    (run_dir / "validate-op").mkdir(parents=True)
    assert step_failed("validate", run_dir).summary is None  # no exit task in this pipeline
    (run_dir / "summary-op").mkdir()
    (run_dir / "summary-op" / "summary").write_text("# Pipeline failed: fraud\n")
    failed = step_failed("validate", run_dir)
    assert failed.summary == run_dir / "summary-op" / "summary"
    assert "summary" not in str(failed)  # the one line stays the step's error and its log


RUN_ONE = """
import json, sys
from shipyard.local.pipeline import run_local
from shipyard.settings import Settings
from pathlib import Path
summary = run_local(sys.argv[1], {"model_name": sys.argv[2], "seconds": 1.0},
                    Settings(home=Path(sys.argv[3])))
print(json.dumps({"run_dir": str(summary.run_dir),
                  "said": summary.step("echo").metadata.get("Output")}))
"""


def test_two_concurrent_runs_in_one_home_report_their_own_results(tmp_path, monkeypatch):
    """Two `run_local`s at once in one home — two processes (two `shipyard run`s) and two
    threads (the trigger's) — each get their own run folder and read only their own step."""
    import subprocess
    import sys
    import threading

    from shipyard.local.pipeline import run_local
    from shipyard.settings import Settings
    from tiny_pipeline import compile_tiny, venv_path

    pipeline = compile_tiny(tmp_path)
    home = tmp_path / "home"
    monkeypatch.setenv("PATH", venv_path())
    monkeypatch.setenv("SHIPYARD_HOME", str(home))  # run_local exports it; restored after
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_ONE, str(pipeline), name, str(home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        for name in ("alpha", "beta")
    ]
    results = {}
    for name, process in zip(("alpha", "beta"), processes, strict=True):
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        results[name] = json.loads(out.strip().splitlines()[-1])
    assert results["alpha"]["said"] == "alpha" and results["beta"]["said"] == "beta"
    assert results["alpha"]["run_dir"] != results["beta"]["run_dir"]

    summaries: dict = {}

    def run(name: str) -> None:
        summaries[name] = run_local(
            pipeline, {"model_name": name, "seconds": 0.5}, Settings(home=home)
        )

    threads = [threading.Thread(target=run, args=(n,)) for n in ("gamma", "delta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for name in ("gamma", "delta"):
        assert summaries[name].step("echo").metadata["Output"] == name
        assert summaries[name].run_dir.parent.parent == home / "local_outputs"
    assert summaries["gamma"].run_dir != summaries["delta"].run_dir
