"""One typed settings object for the whole project.

Values come from (highest first) explicit arguments, ``SHIPYARD_*`` environment variables,
a ``shipyard.toml`` config file named by ``SHIPYARD_CONFIG``, then the defaults below. Every
process of a local pipeline run (each kfp.local task is a fresh process) rebuilds the same
object from the same environment, which is why paths are made absolute here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Shipyard's settings; env prefix ``SHIPYARD_``."""

    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", extra="ignore")

    home: Path = Field(Path(".shipyard"), description="Project-local folder for local state.")
    warm_tasks: bool = Field(
        True,
        description="kfp.local runs fork each task from a parent that has already imported "
        "pandas, scikit-learn, XGBoost and MLflow (`shipyard.local.warm`), instead of starting "
        "a new interpreter that imports them again; false: every task a fresh interpreter.",
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default a SQLite file under `home`."
    )
    mlflow_artifact_location: str | None = Field(
        None,
        description="Artifact root for a new experiment; default a folder under `home` "
        "with the local store, the server's own with a tracking server.",
    )
    mlflow_artifacts_destination: str | None = Field(
        None,
        description="The MLflow server's `--artifacts-destination` (e.g. "
        "s3://shipyard/mlflow): turns its mlflow-artifacts:/ URIs into the "
        "s3:// storageUri KServe reads.",
    )
    experiment: str = Field("shipyard", description="MLflow experiment every run logs to.")
    model_name: str = Field(
        "shipyard-fraud",
        description="Registered model name; when set it wins over the name derived from the "
        "source file (`penguins.csv` → `penguins`). The synthetic default table keeps this one.",
    )

    s3_endpoint: str | None = Field(None, description="host:port of MinIO/S3 for s3:// URIs.")
    s3_access_key: str | None = Field(None, description="S3 access key (a Secret on a cluster).")
    s3_secret_key: SecretStr | None = Field(
        None, description="S3 secret key (a Secret on a cluster; never logged)."
    )
    s3_secure: bool = Field(False, description="Use TLS to reach the S3 endpoint.")
    s3_region: str | None = Field(None, description="S3 region, where the endpoint wants one.")
    s3_connect_timeout_seconds: float = Field(
        5.0, gt=0, description="Seconds to wait for the S3 endpoint to accept a connection."
    )
    s3_read_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Seconds to wait for the S3 endpoint to answer (each read): "
        "an endpoint that accepts and stays silent fails after this.",
    )
    s3_retries: int = Field(
        1,
        ge=0,
        description="Retries of a failed or unanswered S3 request (the minio "
        "client's default is 5 with 5-minute timeouts, boto3's 4).",
    )

    role: Literal["stable", "canary"] = Field(
        "stable", description="stable or canary: labels the predictor's metrics."
    )
    model_source: str = Field(
        "/mnt/models",
        description="What the predictor serves: a model "
        "reference (models:/name@alias, models:/name/N) or a bundle folder "
        "(KServe mounts storageUri at /mnt/models).",
    )
    logger_url: str | None = Field(
        None,
        description="Local mode: the predictor posts each "
        "request/response there as CloudEvents, as the "
        "InferenceService logger does on a cluster.",
    )
    logger_mode: Literal["all", "request", "response"] = Field(
        "request", description="Which events the predictor forwards (logger.mode)."
    )
    detector_source: str = Field(
        "/mnt/detector",
        description="What the drift detector loads: "
        "a model reference (its stored detector) or a detector folder.",
    )
    drift_backend: Literal["alibi", "scipy"] = Field(
        "alibi",
        description="Drift detector fitted at register: alibi (alibi-detect's TabularDrift; "
        "BSL 1.1 from 0.11.5, production use needs Seldon's licence) or scipy (the same "
        "p-values and verdicts from scipy alone). In the sidecar, scipy runs any stored "
        "detector without alibi-detect.",
    )
    drift_window_size: int = Field(500, gt=0, description="Rows per drift window.")
    drift_max_age_seconds: float = Field(
        60.0, gt=0, description="A window older than this is scored with the rows it has."
    )
    drift_max_buffered_rows: int = Field(
        20_000,
        gt=0,
        description="Rows the detector buffers at most; the oldest are dropped (and counted).",
    )
    outlier_metric_rows: int = Field(
        32,
        ge=0,
        description="Rows of each request whose outlier score the predictor puts in "
        "shipyard_predictor_outlier_score (the first ones; 0: none). Bounded so a large "
        "request costs what a small one does; a request naming outlier_score gets every row.",
    )
    estimate_window_size: int = Field(
        1000,
        gt=0,
        description="Served rows per label-free performance estimate (CBPE) of a classifier "
        "in the drift sidecar (needs response events: logger mode all or response).",
    )
    attribution_window_size: int = Field(
        1000,
        gt=0,
        description="Request rows per attribution-drift window in the drift sidecar (the "
        "window's mean |contribution| shares against training's).",
    )
    attribution_rows: int = Field(
        200,
        gt=0,
        description="Rows of each attribution window explained (a seeded sample: bounds the "
        "sidecar's cost, about 13 ms per 200 rows for XGBoost here).",
    )
    inference_log_uri: str | None = Field(
        None,
        description="Where the detector sidecar keeps production rows (a folder or "
        "s3://bucket/prefix, Parquet partitioned by model/version/time); "
        "unset: not kept.",
    )
    inference_log_max_rows: int = Field(1000, gt=0, description="Rows per inference-log file.")
    inference_log_max_age_seconds: float = Field(
        30.0, gt=0, description="A file is written at least this often while rows arrive."
    )
    inference_log_max_buffered_rows: int = Field(
        50_000,
        gt=0,
        description="Rows held at most "
        "while storage is slow; the oldest are dropped "
        "(and counted).",
    )
    label_token: SecretStr | None = Field(
        None,
        description="Bearer token a caller needs to post ground truth to the drift sidecar's "
        "/v1/labels/<name> (from a Secret on a cluster); unset, that route is off (404).",
    )
    ingest_token: SecretStr | None = Field(
        None,
        description="Bearer token the predictor sends with each event it forwards to the drift "
        "sidecar, which takes rows only with it (or from loopback when "
        "`ingest_trust_loopback`); `shipyard serve --with-drift` and the demo make one.",
    )
    ingest_trust_loopback: bool = Field(
        False,
        description="The sidecar also takes rows without the token from 127.0.0.1/::1: on a "
        "cluster, KServe's logger agent in the same pod (it cannot send a token). Keep false "
        "on a shared machine.",
    )
    labels_max_request_bytes: int = Field(
        2 << 20, gt=0, description="Largest label post the sidecar reads (413 beyond it)."
    )
    labels_max_per_request: int = Field(
        10_000, gt=0, description="Labels per post at most (413 beyond it)."
    )
    labels_max_tracked_rows: int = Field(
        200_000,
        gt=0,
        description="Served rows the sidecar remembers to check labels against (a label for "
        "an older row is refused as unknown).",
    )
    labels_max_buffered: int = Field(
        50_000,
        gt=0,
        description="Accepted labels waiting to be written at most; beyond it a post is 503 "
        "with Retry-After.",
    )
    trigger_token: SecretStr | None = Field(
        None,
        description="Bearer token that Alertmanager "
        "and people send to `shipyard trigger` (required).",
    )
    trigger_mlflow_secret: SecretStr | None = Field(
        None, description="The MLflow webhook's secret: its HMAC signature is checked."
    )
    trigger_mlflow_aliases: list[str] = Field(
        ["retrain"],
        description="Setting one of these aliases on a version in MLflow asks for a run.",
    )
    trigger_cooldown_seconds: float = Field(
        3600.0, ge=0, description="A repeated alert (same fingerprint) within this is skipped."
    )
    trigger_schedule_hours: float | None = Field(
        None, gt=0, description="Also retrain `model_name` on this period."
    )
    trigger_source: str = Field(
        "",
        description="Pipeline source for a triggered run; "
        "{model} is replaced, e.g. inference-log:s3://shipyard/"
        "inference-log?model={model}&hours=168. Empty: the pipeline's "
        "default.",
    )
    trigger_arguments: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="More pipeline parameters for triggered runs."
    )
    trigger_max_body_bytes: int = Field(
        1 << 20,
        gt=0,
        description="Largest request body `shipyard trigger` reads (413 above it; the "
        "token or signature headers are checked first).",
    )
    trigger_read_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A connection to `shipyard trigger` must deliver a whole request "
        "(headers and body) within this, from opening or from its previous answer; "
        "else it is closed.",
    )
    trigger_backlog: int = Field(
        1024, gt=0, description="Listen backlog of `shipyard trigger` (capped by somaxconn)."
    )
    trigger_max_connections: int = Field(
        1000,
        gt=0,
        description="Open connections `shipyard trigger` serves at once; more are answered 503.",
    )
    mlflow_http_timeout_seconds: int = Field(
        30, gt=0, description="MLflow client request timeout (MLFLOW_HTTP_REQUEST_TIMEOUT)."
    )
    mlflow_http_retries: int = Field(
        1,
        ge=0,
        description="MLflow client retries; its default retries unreachable servers for minutes.",
    )
    model_version: str | None = Field(
        None,
        description="Registry version of a model served "
        "from a folder (KServe's /mnt/models): the metrics' "
        "version label, which rollout gates select on.",
    )
    model_sha256: str | None = Field(
        None,
        description="Manifest SHA-256 recorded at "
        "registration; a model served from a folder (KServe's "
        "/mnt/models) must match it.",
    )
    serve_host: str = Field("127.0.0.1", description="Address the predictor listens on.")
    serving_workers: int | None = Field(
        None,
        ge=1,
        description="Predictor processes sharing the HTTP port, each answering requests on its "
        "own core (gRPC is served by the first); unset: the CPUs this process may use (its "
        "affinity, capped by the cgroup CPU limit); 1 while the model-repository extension "
        "is on. The InferenceService sets it from the predictor's CPU limit.",
    )
    serving_prove_at_start: bool = Field(
        False,
        description="Prove the compiled fast path on the stored probe rows at every predictor "
        "start (seconds of imports); off, the arrays proven at training and at registration "
        "are trusted through the checksum recorded with the version.",
    )
    drop_unusable_columns: bool = Field(
        True,
        description="Drop columns that cannot be features (an ID per row, all nulls, too "
        "many distinct texts) with a line in the validate report; false makes "
        "each of them an error.",
    )
    max_request_bytes: int = Field(
        64 << 20,
        gt=0,
        description="Largest request body the predictor reads (REST: 413 "
        "beyond it; gRPC: the max receive message size).",
    )
    model_repository_token: SecretStr | None = Field(
        None,
        description="Bearer token that turns on the v2 model-repository extension "
        "(load/unload over REST and gRPC); unset, those endpoints answer "
        "404 / UNIMPLEMENTED.",
    )
    notify_webhook_url: SecretStr | None = Field(
        None,
        description="Incoming-webhook URL (Slack, Mattermost) that gets every decision; "
        "a secret: set it from a Secret, never in git.",
    )
    smtp_host: str | None = Field(None, description="SMTP server for email notifications.")
    smtp_port: int = Field(587, description="SMTP port (587: submission with STARTTLS).")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_user: str | None = Field(None, description="SMTP login, if the server asks for one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (from a Secret).")
    notify_email_from: str = Field("shipyard@localhost", description="Sender of emails.")
    notify_email_to: str | None = Field(
        None, description="Comma-separated recipients; email is off without them."
    )
    notify_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="Per-notification timeout: a notifier that hangs never holds up a decision.",
    )
    git_commit: str | None = Field(None, description="Commit of the code, tagged on models.")
    image: str = Field(
        "shipyard:0.1.0", description="Project image the KFP components run in (compile time)."
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings]
        config = os.environ.get("SHIPYARD_CONFIG")
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str | None:
        """None with a tracking server: the server picks (and proxies) the artifact store."""
        if self.mlflow_artifact_location or self.tracking_uri.startswith(("http://", "https://")):
            return self.mlflow_artifact_location
        return (self.home / "mlartifacts").as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (built once; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()


def run_model_name(model_name: str = "", source: str = "") -> str:
    """The registered model a pipeline run works on: its ``model_name`` parameter, else
    SHIPYARD_MODEL_NAME where set, else the table's own name (``penguins.csv`` ->
    ``penguins``), so two tables never share a registered model and a second table is never
    gated against the first one's champion. Steps take this name as an argument."""
    settings = get_settings()
    if not model_name and source and "model_name" not in settings.model_fields_set:
        model_name = model_name_for(source)
    return model_name or settings.model_name


def settings_for(model_name: str = "", source: str = "") -> Settings:
    """Settings whose default model is ``run_model_name(model_name, source)``: for tests and
    scripts that want a separate default model; Shipyard's steps take the name itself."""
    return get_settings().model_copy(update={"model_name": run_model_name(model_name, source)})


def model_name_for(source: str) -> str:
    """A registry-safe model name from a table's URI (its file stem); "" for no file
    (synthetic data, the inference log: their callers name the model)."""
    import re
    from pathlib import PurePosixPath
    from urllib.parse import urlparse

    if not source or source.startswith("inference-log:"):
        return ""
    stem = PurePosixPath(urlparse(source).path or source).name.split(".")[0]
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:63].strip("-")
    return name or "shipyard-model"


def component_image() -> str:
    """The image KFP components run in: ``SHIPYARD_IMAGE`` at compile time, or the default."""
    return get_settings().image
