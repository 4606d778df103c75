"""A step's failure, recorded by its task process and read back by the caller."""

import json
import subprocess
import sys

from shipyard.steps.failure import ERROR_FILE, StepFailure, task_output_dir


def executor_argv(folder) -> list[str]:
    executor_input = {"outputs": {"outputFile": str(folder / "executor_output.json")}}
    return [
        "executor_main.py",
        "--executor_input",
        json.dumps(executor_input),
        "--function_to_execute",
        "ingest_op",
    ]


def test_task_output_dir_from_the_executor_input(tmp_path):
    assert task_output_dir(executor_argv(tmp_path)) == tmp_path
    assert task_output_dir(["pytest"]) is None
    assert task_output_dir(["x", "--executor_input", "{not json"]) is None


def run_task(tmp_path, raising: str) -> subprocess.CompletedProcess:
    """A process that looks like a KFP task (its argv) and fails inside the step."""
    script = tmp_path / "executor_main.py"
    script.write_text(
        "from shipyard.steps.timing import timed\n"
        "from shipyard.errors import ServiceUnavailable\n"
        f"with timed():\n    raise {raising}\n"
    )
    argv = executor_argv(tmp_path / "ingest-op")[1:]
    return subprocess.run(
        [sys.executable, str(script), *argv], capture_output=True, text=True, timeout=60
    )


def test_a_shipyard_error_is_one_line_and_recorded_with_its_exit_code(tmp_path):
    done = run_task(
        tmp_path, "ServiceUnavailable('cannot reach S3 endpoint e:1', hint='is MinIO running?')"
    )
    assert done.returncode == 1  # kfp only needs "failed"; the code travels in the record
    assert done.stderr.strip() == (
        "shipyard: error: cannot reach S3 endpoint e:1 (is MinIO running?)"
    )
    failure = StepFailure.read(tmp_path / "ingest-op")
    assert failure.exit_code == 3 and failure.kind == "shipyard.errors.ServiceUnavailable"
    record = json.loads((tmp_path / "ingest-op" / ERROR_FILE).read_text())
    assert "Traceback" in record["traceback"]


def test_any_other_error_keeps_its_traceback(tmp_path):
    done = run_task(tmp_path, "KeyError('amount')")
    assert "Traceback" in done.stderr and "KeyError: 'amount'" in done.stderr
    failure = StepFailure.read(tmp_path / "ingest-op")
    assert failure.exit_code == 1 and failure.message == "KeyError: 'amount'"


def test_no_record_reads_as_none(tmp_path):
    assert StepFailure.read(tmp_path) is None
