import time

from shipyard.timing import process_age, timed


def test_timed_measures_the_block_and_the_process():
    with timed() as timer:
        time.sleep(0.05)
    assert 0.05 <= timer.work_seconds < 1.0
    assert timer.process_seconds is not None and timer.process_seconds >= timer.work_seconds
    assert set(timer.as_metadata()) == {"work_seconds", "process_seconds"}


def test_process_age_grows():
    first = process_age()
    time.sleep(0.05)
    assert process_age() > first
