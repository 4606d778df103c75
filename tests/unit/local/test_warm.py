"""Warm task processes: kfp.local's executor runs in a child forked from a parent that has
already imported the heavy libraries, with the task's own stdio, environment, directory and
exit status; anything else runs the real interpreter."""

import json
import subprocess
import sys
import time

from shipyard.local.warm import warm_tasks

PROBE = """\
import os, sys
def probe():
    print("preloaded:", "xgboost" in sys.modules, os.environ.get("PROBE_VALUE"), os.getcwd())
def fail():
    raise ValueError("the step broke")
"""


def _executor(tmp_path, function):
    module = tmp_path / "component.py"
    module.write_text(PROBE)
    executor_input = {"inputs": {}, "outputs": {"outputFile": str(tmp_path / "out.json")}}
    return subprocess.run(
        [sys.executable, "-m", "kfp.dsl.executor_main", "--component_module_path", str(module),
         "--function_to_execute", function, "--executor_input", json.dumps(executor_input)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**__import__("os").environ, "PROBE_VALUE": "42"},
    )  # fmt: skip


def _wait_until_warm(folder):
    deadline = time.monotonic() + 120
    while not (folder / "socket").exists():
        assert time.monotonic() < deadline, "the warm parent never listened"
        time.sleep(0.2)


def test_the_executor_runs_warm_with_the_tasks_own_stdio_env_cwd_and_status(tmp_path):
    real = sys.executable
    with warm_tasks() as folder:
        assert sys.executable != real
        _wait_until_warm(folder)
        done = _executor(tmp_path, "probe")
        assert done.returncode == 0, done.stderr
        assert f"preloaded: True 42 {tmp_path}" in done.stdout
        failed = _executor(tmp_path, "fail")
        assert failed.returncode == 1 and "ValueError: the step broke" in failed.stderr
        other = subprocess.run([sys.executable, "-c", "import sys; print(sys.executable)"],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert other.stdout.strip() == real  # anything else: the real interpreter
    assert sys.executable == real and not folder.exists()


def test_disabled_changes_nothing():
    real = sys.executable
    with warm_tasks(False) as folder:
        assert folder is None and sys.executable == real
