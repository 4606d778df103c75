import time

from shipyard.steps.timing import process_age, timed


def test_timed_measures_the_block_and_the_process():
    with timed() as timer:
        time.sleep(0.05)
    assert 0.05 <= timer.work_seconds < 1.0
    assert timer.process_seconds is not None and timer.process_seconds >= timer.work_seconds
    assert set(timer.as_metadata()) == {"work_seconds", "process_seconds", "peak_rss_mb"}


def test_process_age_grows():
    first = process_age()
    time.sleep(0.05)
    assert process_age() > first


def _run_as_executor(tmp_path, body: str):
    """A child process whose argv[0] looks like KFP's executor_main, running ``body``."""
    import subprocess
    import sys

    script = tmp_path / "executor_main.py"
    script.write_text("from shipyard.steps.timing import timed\nwith timed():\n    pass\n" + body)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)


def test_task_process_exits_zero_after_success_and_flushes(tmp_path):
    done = _run_as_executor(tmp_path, "print('written', end='')\n")
    assert done.returncode == 0 and done.stdout == "written"


def test_task_process_keeps_its_failure_exit_code(tmp_path):
    failed = _run_as_executor(tmp_path, "raise RuntimeError('step failed')\n")
    assert failed.returncode == 1 and "step failed" in failed.stderr


def test_not_armed_outside_kfp_tasks():
    from shipyard.steps.timing import in_kfp_task

    assert not in_kfp_task()  # pytest's own exit code must never be touched
