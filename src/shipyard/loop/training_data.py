"""Training data from production: the rows the detector sidecar logged for a model
(``serving.inference_log``), joined with the labels that arrived for them.

A source ``inference-log:<folder or s3://bucket/prefix>?model=NAME&hours=168`` reads the log's
Parquet files of every version of ``NAME`` written in the last ``hours``, joins them with the
labels by the row's server-side key (``uid``, ``row``; files written before it had one join
by request id and row), and leaves out (and counts) rows that have no label yet. A row's
first label counts unless a later one was sent as a correction (then the latest correction). When a
row was served becomes the pipeline's time column.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pandas as pd

from shipyard.errors import DataSourceError
from shipyard.monitoring.inference_log import (
    CLIENT_ID,
    CORRECTION,
    ID,
    LABELS_PREFIX,
    PREDICTION,
    ROW,
    TIME,
    UID,
)
from shipyard.settings import Settings

SCHEME = "inference-log:"


@dataclass
class LogSource:
    root: str  # folder or s3://bucket/prefix
    model: str
    hours: float

    @classmethod
    def parse(cls, source: str) -> LogSource:
        body = source.removeprefix(SCHEME)
        root, _, query = body.partition("?")
        params = parse_qs(query)
        if not root or "model" not in params:
            raise DataSourceError(
                f"not an inference-log source: {source!r}",
                hint="use inference-log:<folder or s3://…>?model=NAME&hours=168",
            )
        try:
            hours = float(params.get("hours", ["168"])[0])
        except ValueError:
            raise DataSourceError(f"hours in {source!r} is not a number") from None
        return cls(root, params["model"][0], hours)


@dataclass
class LoggedData:
    frame: pd.DataFrame  # features + the target column
    logged_rows: int
    unlabelled_rows: int


def is_log_source(source: str) -> bool:
    return source.startswith(SCHEME)


def read_logged(
    source: str, target: str, settings: Settings | None = None, time_column: str = ""
) -> LoggedData:
    """The labelled production rows of ``source``'s model in its time window; with
    ``time_column``, when each row was served becomes that column (the time a split by time
    orders on, and the column a schema with a timestamp expects)."""
    spec = LogSource.parse(source)
    since = datetime.now(UTC) - timedelta(hours=spec.hours)
    rows = _read_parts(spec, "", since, settings)
    labels = _read_parts(spec, LABELS_PREFIX, since, settings)
    if rows.empty:
        raise DataSourceError(
            f"no logged rows for model {spec.model!r} under {spec.root} in "
            f"the last {spec.hours:g} h",
            hint="is the detector sidecar's SHIPYARD_INFERENCE_LOG_URI set?",
        )
    if labels.empty:
        raise DataSourceError(
            f"{len(rows)} logged rows for {spec.model!r} but no labels yet",
            hint="post ground truth to the sidecar's /v1/labels/<name>",
        )
    joined = _join(rows, labels)
    if time_column and time_column not in joined.columns:
        joined = joined.rename(columns={TIME: time_column})
    frame = joined.drop(
        columns=[ID, ROW, TIME, PREDICTION, UID, CLIENT_ID, "version"], errors="ignore"
    )
    frame = frame.rename(columns={"label": target})
    frame[target] = _typed(frame[target])
    return LoggedData(frame.reset_index(drop=True), len(rows), len(rows) - len(joined))


def _join(rows: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Each row with its label: by (uid, row) where both sides have a uid, else by (request
    id, row); per row the first label, or the latest correction when there is one."""
    if CORRECTION not in labels.columns:
        labels = labels.assign(**{CORRECTION: False})
    labels = labels.assign(**{CORRECTION: labels[CORRECTION].fillna(False).astype(bool)})
    if TIME in labels.columns:
        labels = labels.sort_values(TIME, kind="stable")
    has_uid = labels[UID].notna() if UID in labels.columns else pd.Series(False, index=labels.index)
    row_uid = rows[UID].notna() if UID in rows.columns else pd.Series(False, index=rows.index)
    parts = []
    for key, picked_rows, picked_labels in (
        ([UID, ROW], rows[row_uid], labels[has_uid]),
        ([ID, ROW], rows[~row_uid], labels[~has_uid]),
    ):
        if picked_rows.empty or picked_labels.empty:
            continue
        first = picked_labels[~picked_labels[CORRECTION]].drop_duplicates(key, keep="first")
        fixes = picked_labels[picked_labels[CORRECTION]].drop_duplicates(key, keep="last")
        chosen = pd.concat([first, fixes]).drop_duplicates(key, keep="last")[[*key, "label"]]
        parts.append(picked_rows.merge(chosen, on=key, how="inner"))
    return pd.concat(parts, ignore_index=True) if parts else rows.iloc[:0].assign(label=None)


def _typed(labels: pd.Series) -> pd.Series:
    """Labels are kept as text; numbers and bools come back as themselves."""
    lowered = labels.str.lower()
    if lowered.isin(["true", "false"]).all():
        return lowered == "true"
    numbers = pd.to_numeric(labels, errors="coerce")
    if numbers.notna().all():
        return numbers.astype("int64") if (numbers % 1 == 0).all() else numbers
    return labels


def _read_parts(
    spec: LogSource, prefix: str, since: datetime, settings: Settings | None
) -> pd.DataFrame:
    base = f"{spec.root.rstrip('/')}/{prefix}model={spec.model}/"
    frames = [pd.read_parquet(path) for path in _files(base, since, settings)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _files(base: str, since: datetime, settings: Settings | None) -> Iterator[Path]:
    """Parquet files under ``base`` whose date/hour partition is within the window."""

    def recent(key: str) -> bool:
        parts = dict(p.split("=", 1) for p in key.split("/") if "=" in p)
        try:
            hour = datetime.strptime(f"{parts['date']} {parts['hour']}", "%Y-%m-%d %H")
        except (KeyError, ValueError):
            return False
        return hour.replace(tzinfo=UTC) >= since.replace(minute=0, second=0, microsecond=0)

    if base.startswith("s3://"):
        from shipyard import storage

        bucket, prefix = storage.parse_s3_uri(base)
        tmp = Path(tempfile.mkdtemp(prefix="shipyard-log-"))
        with storage.translated(base, settings):  # one line naming the endpoint, bounded
            names = [
                item.object_name
                for item in storage.client(settings).list_objects(
                    bucket, prefix=prefix, recursive=True
                )
            ]
        for name in names:
            if name.endswith(".parquet") and recent(name):
                yield storage.download(
                    f"s3://{bucket}/{name}", tmp / name.replace("/", "_"), settings
                )
        return
    root = Path(base.removeprefix("file://"))
    for path in sorted(root.rglob("*.parquet")) if root.is_dir() else []:
        if recent(path.relative_to(root).as_posix()):
            yield path
