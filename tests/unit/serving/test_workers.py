"""How many serving workers, and their shared metrics folder: prepared once per server, never
inherited by a server started from it, left alone where the environment names one."""

import os
import subprocess
import sys

from shipyard.processes import child_environment
from shipyard.serving import workers


def test_the_setting_wins_else_the_usable_cpus():
    assert workers.count(3) == 3
    assert 1 <= workers.count(None) == workers.usable_cpus() <= (os.cpu_count() or 1)


def run(code: str, **env: str) -> str:
    """``code`` in a fresh interpreter (metrics mode is fixed when prometheus_client loads)."""
    clean = {k: v for k, v in os.environ.items() if k != workers.MULTIPROC_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_several_workers_share_a_fresh_folder_that_children_do_not_inherit():
    code = (
        "import os\n"
        "from shipyard.serving import workers\n"
        "from shipyard.processes import child_environment\n"
        "workers.prepare(2)\n"
        "import prometheus_client\n"
        "child = child_environment()\n"
        "print(workers.shared_metrics(), os.path.isdir(os.environ[workers.MULTIPROC_ENV]),\n"
        "      workers.MULTIPROC_ENV in child, workers.METRICS_OWNER_ENV in child)\n"
    )
    assert run(code) == "True True False False"


def test_one_worker_needs_no_folder_and_a_named_one_is_kept(tmp_path):
    code = (
        "import os\n"
        "from shipyard.serving import workers\n"
        "workers.prepare(1)\n"
        "print(workers.shared_metrics())\n"
    )
    assert run(code) == "False"
    named = "from shipyard.serving import workers; import os; workers.prepare(2); "
    named += "print(os.environ[workers.MULTIPROC_ENV])"
    assert run(named, PROMETHEUS_MULTIPROC_DIR=str(tmp_path)) == str(tmp_path)


def test_a_folder_named_from_outside_is_passed_on():
    env = {workers.MULTIPROC_ENV: "/somewhere"}
    assert child_environment(env)[workers.MULTIPROC_ENV] == "/somewhere"
