"""The inference log: batched Parquet by model/version/time, one entry per row whatever the
client's id, predictions joined, bounded memory, and a storage outage that only drops (and
counts, and logs once) rows."""

import time

import pandas as pd

from shipyard.monitoring.inference_log import ROWS, InferenceLog, LogSettings
from shipyard.settings import Settings
from support import free_port


def rows(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {"amount": [float(i) for i in range(start, start + n)], "channel": ["web"] * n}
    )


def counted(outcome: str) -> float:
    return ROWS.labels(outcome)._value.get()


def test_rows_and_predictions_land_partitioned_by_model_version_and_time(tmp_path):
    log = InferenceLog(LogSettings(str(tmp_path), "fraud", "3", max_rows=1000, max_age_seconds=60))
    log.add_request("u1", "req-1", "c1", rows(2))
    log.add_request("u2", "req-2", "c2", rows(3, 10))
    assert log.add_response("req-1", ["yes", "no"])
    assert not log.add_response("never-seen", ["x"])
    log.close()  # what SIGTERM does: flush
    [written] = log.files
    assert "model=fraud/version=3/date=" in written and "/hour=" in written
    frame = pd.read_parquet(written)
    assert list(frame["request_id"]) == ["req-1"] * 2 + ["req-2"] * 3
    assert list(frame["uid"]) == ["u1"] * 2 + ["u2"] * 3
    assert list(frame["client_id"]) == ["c1"] * 2 + ["c2"] * 3
    assert list(frame["row"]) == [0, 1, 0, 1, 2]
    assert list(frame["prediction"][:2]) == ["yes", "no"] and frame["prediction"][2:].isna().all()
    assert list(frame["amount"]) == [0.0, 1.0, 10.0, 11.0, 12.0]


def test_batches_are_written_by_size_and_by_age(tmp_path):
    log = InferenceLog(LogSettings(str(tmp_path), "m", "1", max_rows=4, max_age_seconds=0.5))
    log.add_request("a", "a", "a", rows(5))  # over max_rows: written without waiting for the age
    deadline = time.monotonic() + 5
    while not log.files and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(log.files) == 1
    log.add_request("b", "b", "b", rows(1))  # under max_rows: written once it is half a second old
    deadline = time.monotonic() + 5
    while len(log.files) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(log.files) == 2
    log.close()


def test_one_shared_client_id_is_still_one_entry_per_row(tmp_path):
    log = InferenceLog(LogSettings(str(tmp_path), "m", "1", max_rows=10_000, max_age_seconds=60))
    for i in range(100):
        log.add_request(f"uid-{i}", "1", "1", rows(1, i))  # the README's curl: "id": "1"
    for i in range(100):  # responses pair with the requests of that id in order
        assert log.add_response("1", [f"p{i}"])
    log.close()
    frame = pd.read_parquet(log.files[0])
    assert len(frame) == 100 and frame["uid"].is_unique
    assert list(frame["prediction"]) == [f"p{i}" for i in range(100)]
    assert list(frame["amount"]) == [float(i) for i in range(100)]


def test_memory_is_bounded_with_room_checks_not_silent_drops(tmp_path):
    log = InferenceLog(
        LogSettings(
            str(tmp_path),
            "m",
            "1",
            max_rows=10_000,
            max_age_seconds=60,
            max_buffered_rows=10,
            max_buffered_labels=3,
        )
    )
    taken = 0
    for i in range(5):
        if log.room_for_rows():  # the sidecar answers 503 + Retry-After otherwise
            log.add_request(f"u{i}", f"r{i}", "", rows(4))
            taken += 4
    assert taken == 12 and not log.room_for_rows()  # the bound, plus at most one request
    assert log.room_for_labels(3) and not log.room_for_labels(4)
    log.close()
    assert len(pd.read_parquet(log.files[0])) == 12  # everything taken is written
    assert log.room_for_rows()


def test_storage_down_drops_and_counts_without_blocking(tmp_path, caplog):
    settings = Settings(
        s3_endpoint=f"127.0.0.1:{free_port()}",
        s3_access_key="k",
        s3_secret_key="s",
        s3_region="us-east-1",
    )
    before = counted("dropped")
    log = InferenceLog(
        LogSettings("s3://nowhere/log", "m", "1", max_rows=1000, max_age_seconds=60), settings
    )
    started = time.monotonic()
    for i in range(50):
        log.add_request(f"u{i}", f"r{i}", "", rows(2))
    # the request path never waits for storage (minio retries a refused write for seconds)
    assert time.monotonic() - started < 5.0
    log.close()
    assert counted("dropped") - before == 100 and log.files == []
    assert "inference log dropped" in caplog.text and "100 rows" in caplog.text  # one line


def test_written_to_s3(s3_settings):
    from shipyard.storage import client

    client(s3_settings).make_bucket("inference-log")
    log = InferenceLog(LogSettings("s3://inference-log/prod", "fraud", "2"), s3_settings)
    log.add_request("x", "x", "", rows(3))
    log.close()
    objects = [
        o.object_name
        for o in client(s3_settings).list_objects(
            "inference-log", prefix="prod/model=fraud/version=2/", recursive=True
        )
    ]
    assert len(objects) == 1 and objects[0].endswith(".parquet")
