"""The closed loop on one machine (``make demo-loop``): the champion serves with its drift
sidecar writing the inference log, Prometheus evaluates the manifests' alert rules on their
metrics, Alertmanager routes the alerts (``AlertmanagerConfig``) to ``shipyard trigger`` and
to chat, the trigger retrains on the logged, labelled production rows, the gate judges the
new version, the local canary rollout promotes it, and every decision is announced.

Every part is the real program as a local process on 127.0.0.1, stopped by PID; only the
rules' ``for`` durations are shortened (``hold``) so that the story takes minutes. Traffic:
reference rows, then shifted rows whose labels follow a new fraud pattern
(``new_fraud_pattern``), so both drift and decay are real.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ConfigError
from shipyard.local.inbox import Inbox
from shipyard.rollout.inference_service import DEFAULT_SERVICE
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.local.servers import LocalPredictor

DETECTOR_NAME = "drift"


@dataclass
class LoopOptions:
    pipeline_file: Path
    folder: Path
    log_root: str = ""  # inference log: a folder or s3://bucket/prefix (default: in folder)
    hold: str = "10s"  # the alert rules' `for` here (10–15 min on a cluster)
    reference_rows: int = 600
    shifted_rows: int = 3000
    batch_rows: int = 50
    timeout: float = 1200.0
    pipeline_arguments: dict[str, Any] = field(
        default_factory=lambda: {
            "model_types": "xgboost",
            "n_candidates": 2,
            "cv_folds": 2,
            "deploy": True,
            "deployment_mode": "Local",
            "canary_steps": "50,100",
            "bake_seconds": 5.0,
        }
    )
    echo: bool = False


@dataclass
class LoopReport:
    old_champion: str
    new_champion: str | None
    timeline: list[tuple[float, str]]  # (seconds after the first shifted request, event)
    decisions: list[dict]
    outcomes: dict[str, str]
    messages: list[dict]
    alerts: set[str]

    def seconds_to(self, event: str) -> float | None:
        return next((t for t, e in self.timeline if e.startswith(event)), None)

    def table(self) -> str:
        lines = ["| after the first shifted request | what happened |", "|---:|---|"]
        lines += [f"| {t:7.1f} s | {e} |" for t, e in self.timeline]
        return "\n".join(lines)


def run_loop(options: LoopOptions, settings: Settings | None = None) -> LoopReport:
    """Start every part, send the traffic, wait until the retraining run has ended (or
    ``timeout``), stop every part, and report what happened when."""
    from shipyard.loop.trigger_client import decisions as decisions_of
    from shipyard.registry.client import Registry

    settings = settings or get_settings()
    name = settings.model_name
    registry = Registry(settings)
    old = registry.champion_version(name)
    if old is None:
        raise ConfigError(f"{name} has no champion to watch", hint="run `make run` first")
    options.folder.mkdir(parents=True, exist_ok=True)
    inbox, token = Inbox(echo=options.echo), secrets.token_urlsafe(24)
    env = _loop_env(settings, options, old, inbox.url, token)
    children: list = []
    timeline: list[tuple[float, str]] = []
    try:
        parts = _start_parts(name, old, options, env, inbox.url, token, children)
        traffic = _Traffic(
            parts.predictor.base_url,
            parts.detector.base_url,
            options,
            settings,
            env["SHIPYARD_LABEL_TOKEN"],
        )
        traffic.reference()
        start = traffic.shifted()

        def note(event: str) -> None:
            timeline.append((time.monotonic() - start, event))
            if options.echo:
                print(f"{timeline[-1][0]:7.1f} s  {event}", flush=True)

        note(f"{options.shifted_rows} shifted rows sent, labels posted; champion v{old}")
        new, seen_alerts = _watch(parts, traffic, registry, name, old, token, options, note)
        time.sleep(2.0)  # the trigger's last notification
        decisions = decisions_of(parts.trigger.base_url, token)
        return LoopReport(
            old,
            new,
            timeline,
            decisions["decisions"],
            decisions["outcomes"],
            list(inbox.messages),
            seen_alerts,
        )
    finally:
        for child in reversed(children):
            child.stop()
        inbox.stop()


def _loop_env(
    settings: Settings, options: LoopOptions, old: str, inbox_url: str, token: str
) -> dict[str, str]:
    """The children's settings, given to them alone (this process's environment is
    untouched)."""
    log_root = options.log_root or str(options.folder / "inference-log")
    env = {
        "SHIPYARD_HOME": str(settings.home),
        "SHIPYARD_MODEL_NAME": settings.model_name,
        "SHIPYARD_MODEL_VERSION": old,
        "SHIPYARD_INFERENCE_LOG_URI": log_root,
        "SHIPYARD_INFERENCE_LOG_MAX_AGE_SECONDS": "2",
        "SHIPYARD_LOGGER_MODE": "all",
        "SHIPYARD_NOTIFY_WEBHOOK_URL": f"{inbox_url}/shipyard",
        "SHIPYARD_TRIGGER_TOKEN": token,
        # the predictor and its sidecar share one ingest token; labels need their own
        "SHIPYARD_INGEST_TOKEN": secrets.token_urlsafe(24),
        "SHIPYARD_LABEL_TOKEN": secrets.token_urlsafe(24),
        "SHIPYARD_TRIGGER_SOURCE": f"inference-log:{log_root}?model={{model}}&hours=24",
        "SHIPYARD_TRIGGER_ARGUMENTS": json.dumps(options.pipeline_arguments),
        "SHIPYARD_TRIGGER_COOLDOWN_SECONDS": "3600",
        # kfp.local starts each task with the first python3 on PATH: this environment's
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if settings.mlflow_tracking_uri:
        env["SHIPYARD_MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    return env


@dataclass
class _Parts:
    detector: Any
    predictor: Any
    trigger: Any
    prometheus: Any


def _start_parts(
    name: str,
    old: str,
    options: LoopOptions,
    env: dict[str, str],
    inbox_url: str,
    token: str,
    children: list,
) -> _Parts:
    """The champion with its sidecar, the trigger, Alertmanager and Prometheus, each added
    to ``children`` as soon as it runs (so a failure stops the ones already started)."""
    from shipyard.local.monitoring import (
        alert_rules,
        alertmanager_config,
        start_alertmanager,
        start_prometheus,
    )
    from shipyard.local.servers import start_detector, start_predictor
    from shipyard.model.ref import ModelRef

    folder, uri = options.folder, ModelRef.of(name, old).uri
    detector = start_detector(
        uri, DETECTOR_NAME, folder / "detector.log", window_size=200, nice=0, env=env
    )
    children.append(detector)
    predictor = start_predictor(
        uri,
        DEFAULT_SERVICE,
        folder / "predictor.log",
        model_version=old,
        logger_url=f"{detector.base_url}/v1/models/{DETECTOR_NAME}:predict",
        env=env,
    )
    children.append(predictor)
    trigger = start_trigger(options.pipeline_file, folder, env)
    children.append(trigger)
    receivers = {
        "shipyard-trigger": f"{trigger.base_url}/alertmanager",
        "shipyard-chat": f"{inbox_url}/alertmanager",
    }
    alertmanager = start_alertmanager(
        alertmanager_config(receivers, token, group_wait="1s"), folder / "alertmanager"
    )
    children.append(alertmanager)
    labels = {"model_version": old}
    prometheus = start_prometheus(
        {"predictor": (predictor.base_url, labels), "drift": (detector.base_url, labels)},
        folder / "prometheus",
        alert_rules(options.hold),
        alertmanager.url,
    )
    children.append(prometheus)
    if options.echo:
        print(
            f"predictor {predictor.base_url}, detector {detector.base_url}, trigger "
            f"{trigger.base_url}, Prometheus {prometheus.url}, Alertmanager "
            f"{alertmanager.url}; chat messages follow",
            flush=True,
        )
    return _Parts(detector, predictor, trigger, prometheus)


def _watch(
    parts: _Parts,
    traffic: _Traffic,
    registry: Any,
    name: str,
    old: str,
    token: str,
    options: LoopOptions,
    note: Any,
) -> tuple[str | None, set[str]]:
    """Keep traffic flowing and note each new alert, trigger decision and champion move
    until the retraining run has ended (or ``timeout``); the new champion and the alerts."""
    from shipyard.local.monitoring import firing
    from shipyard.loop.trigger_client import decisions as decisions_of

    seen_alerts: set[str] = set()
    seen_decisions = 0
    new = None
    deadline = time.monotonic() + options.timeout
    while time.monotonic() < deadline:
        traffic.trickle()  # production keeps flowing
        for alert in firing(parts.prometheus.url):
            alert_name = alert["labels"]["alertname"]
            if alert_name not in seen_alerts:
                seen_alerts.add(alert_name)
                note(f"Prometheus fires {alert_name}")
        decisions = decisions_of(parts.trigger.base_url, token)
        for decision in decisions["decisions"][seen_decisions:]:
            note(
                f"trigger: {decision['decision']} ({decision['source']}: {decision['reason'][:80]})"
            )
        seen_decisions = len(decisions["decisions"])
        current = registry.champion_version(name)
        if current != old and new is None:
            new = current
            note(f"champion moved to v{new} (the canary reached 100 %)")
        if name in decisions["outcomes"]:  # the run ended: its summary step is done too
            note(f"retraining run ended: {decisions['outcomes'][name][:110]}")
            break
        time.sleep(1.0)
    return new, seen_alerts


def start_trigger(
    pipeline_file: Path, folder: Path, env: dict[str, str] | None = None
) -> LocalPredictor:
    """``shipyard trigger serve`` as its own process, as on a cluster, with ``env`` added to
    its settings (``SHIPYARD_*``)."""
    from shipyard.local.servers import LocalPredictor
    from shipyard.processes import console_script, free_port, start_server

    port = free_port()
    log = folder / "trigger.log"
    command = [console_script("shipyard"), "trigger", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--pipeline-file", str(pipeline_file)]
    base_url = f"http://127.0.0.1:{port}"
    process = start_server(command, log, f"{base_url}/healthz", "trigger", 60, env)
    return LocalPredictor(process, base_url, "trigger", log)


def _post(url: str, body: dict, token: str | None = None) -> dict:
    from shipyard.http import post_json

    answer: dict = post_json(url, body, token=token, timeout=30)
    return answer


LABEL_LAG_SECONDS = 2.0  # the forwarder posts responses to the sidecar asynchronously


class _Traffic:
    """Clients of the predictor, and the people who learn the right answers a moment later
    and post them to the sidecar's labels endpoint by request id."""

    def __init__(
        self,
        predictor: str,
        detector: str,
        options: LoopOptions,
        settings: Settings,
        label_token: str,
    ) -> None:
        from shipyard.registry.client import Registry

        self.predictor, self.detector, self.options = predictor, detector, options
        self.label_token = label_token
        champion = Registry(settings).champion_schema(settings.model_name)
        if champion is None:
            raise ConfigError(
                f"{settings.model_name} has no champion to serve", hint="run `make run` first"
            )
        self.schema, _ = champion
        self.sent = 0
        self._pending: list[tuple[float, str, list]] = []  # (sent at, request id, labels)

    def _send(self, frame: pd.DataFrame, labels: list | None = None) -> None:
        from shipyard.local.servers import v2_request

        request_id = f"loop-{self.sent}"
        self.sent += 1
        _post(f"{self.predictor}/v2/models/fraud/infer", v2_request(frame, self.schema, request_id))
        if labels is not None:
            self._pending.append((time.monotonic(), request_id, labels))

    def reference(self) -> None:
        from shipyard.data.synthetic import TARGET, generate_transactions

        frame = generate_transactions(self.options.reference_rows, seed=101)
        for start in range(0, len(frame), self.options.batch_rows):
            self._send(frame.iloc[start : start + self.options.batch_rows].drop(columns=TARGET))

    def shifted(self) -> float:
        """Send the shifted rows; post their labels once the sidecar has the predictions.
        Returns when the first shifted request went out."""
        from shipyard.data.synthetic import TARGET, generate_transactions, new_fraud_pattern

        frame = generate_transactions(self.options.shifted_rows, seed=202, shift=0.7)
        frame[TARGET] = new_fraud_pattern(frame, seed=202)
        started = time.monotonic()
        for start in range(0, len(frame), self.options.batch_rows):
            part = frame.iloc[start : start + self.options.batch_rows]
            self._send(part.drop(columns=TARGET), part[TARGET].tolist())
            self._post_labels(older_than=LABEL_LAG_SECONDS)
        time.sleep(LABEL_LAG_SECONDS)
        self._post_labels(older_than=0.0)
        self._frame, self._next = frame, 0
        return started

    def _post_labels(self, older_than: float) -> None:
        """Post the labels of requests sent at least ``older_than`` seconds ago: as people
        learn answers while traffic flows, so a retrain the drift alert starts mid-traffic
        finds labels (a slow send on a busy box let the alert beat one final post)."""
        now = time.monotonic()
        ready = [p for p in self._pending if now - p[0] >= older_than]
        if not ready:
            return
        self._pending = [p for p in self._pending if now - p[0] < older_than]
        items = [
            {"id": rid, "row": i, "label": int(v)}
            for _, rid, values in ready
            for i, v in enumerate(values)
        ]
        _post(f"{self.detector}/v1/labels/{DETECTOR_NAME}", {"labels": items}, self.label_token)

    def trickle(self) -> None:
        """One more shifted request: production keeps flowing while the loop runs."""
        from shipyard.data.synthetic import TARGET

        part = self._frame.iloc[self._next : self._next + self.options.batch_rows]
        self._next = (self._next + self.options.batch_rows) % len(self._frame)
        self._send(part.drop(columns=TARGET))
