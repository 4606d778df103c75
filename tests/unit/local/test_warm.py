"""Warm task processes: kfp.local's executor runs in a child forked from a parent that has
already imported the heavy libraries, with the task's own stdio, environment, directory and
exit status; anything else runs the real interpreter."""

import json
import os
import subprocess
import sys
import time

from shipyard.local.warm import warm_tasks

PROBE = """\
import os, sys
def probe():
    print("pid:", os.getpid(), os.environ.get("PROBE_VALUE"), os.getcwd())
def fail():
    raise ValueError("the step broke")
"""


def _executor(tmp_path, function):
    module = tmp_path / "component.py"
    module.write_text(PROBE)
    executor_input = {"inputs": {}, "outputs": {"outputFile": str(tmp_path / "out.json")}}
    with subprocess.Popen(
        [sys.executable, "-m", "kfp.dsl.executor_main", "--component_module_path", str(module),
         "--function_to_execute", function, "--executor_input", json.dumps(executor_input)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PROBE_VALUE": "42"},
    ) as process:  # fmt: skip
        out, err = process.communicate(timeout=120)
    return process.pid, process.returncode, out, err


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
        shim, code, out, err = _executor(tmp_path, "probe")
        assert code == 0, err
        # a process of its own, forked by the warm parent (exec would have kept the shim's pid)
        assert f" 42 {tmp_path}" in out and f"pid: {shim} " not in out
        _, code, _, err = _executor(tmp_path, "fail")
        assert code == 1 and "ValueError: the step broke" in err
        other = subprocess.run([sys.executable, "-c", "import sys; print(sys.executable)"],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert other.stdout.strip() == real  # anything else: the real interpreter
    assert sys.executable == real and not folder.exists()


def test_disabled_changes_nothing():
    real = sys.executable
    with warm_tasks(False) as folder:
        assert folder is None and sys.executable == real
