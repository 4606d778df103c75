"""``shipyard trigger``: start a training run when told to, one run per model at a time.

Told by: an Alertmanager webhook (a drift or decay alert; the alert's ``model`` label picks the
model), an MLflow registry webhook (an alias in ``trigger_mlflow_aliases`` set on a version,
HMAC-signed by MLflow ≥ 3.3), a schedule, or a person (``shipyard trigger run MODEL``). It
submits the compiled pipeline through ``shipyard.kubeflow.submit`` (Kubeflow, or kfp.local
without an endpoint), de-duplicates repeated alerts (fingerprint + cooldown), refuses
unauthenticated requests (a bearer token; MLflow's HMAC signature), and records every decision —
triggered, or skipped and why — in a JSON-lines log, as a metric and as one notification, queued
and sent in the background (``shipyard.loop.notify.NotificationQueue``): a notifier that hangs
never holds up a decision. One Alertmanager payload is one decision per model, however many
alerts it holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections import Counter as Tally
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from shipyard.errors import ConfigError
from shipyard.settings import Settings, get_settings

logger = logging.getLogger(__name__)
DECISIONS = Counter(
    "shipyard_trigger_decisions", "Retraining decisions", ("model", "source", "decision")
)  # triggered | skipped
RETRAIN_ALERTS = frozenset(
    {"ShipyardDriftDetected", "ShipyardModelDecay", "ShipyardModelDecayError"}
)
# A registry-safe model name (what ``settings.model_name_for`` makes of a file name): it goes
# into the registry, the inference log's query (``?model=…``), run names and Kubernetes names.
MODEL_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
MAX_REASON = 500
MAX_MODELS = 1000  # outcomes and fingerprints are kept for at most this many models / alerts
Runner = Callable[[str, str], str]  # (model, why) -> outcome said in words
# mlflow.webhooks.constants' names (a test checks they agree), here so that the server's
# event loop never waits for MLflow's import
WEBHOOK_SIGNATURE_HEADER = "X-MLflow-Signature"
WEBHOOK_TIMESTAMP_HEADER = "X-MLflow-Timestamp"
WEBHOOK_DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"


def check_model_name(name: object, where: str = "model") -> str:
    """``name`` if it is a registry-safe model name, else a ``ConfigError`` naming ``where``."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        shown = repr(name)[:80]
        raise ConfigError(
            f"{where}: {shown} is not a model name (lower-case letters, digits and '-', "
            "at most 63, starting and ending with a letter or digit)"
        )
    return name


@dataclass
class Decision:
    model: str
    source: str  # alertmanager | mlflow | schedule | manual
    decision: str  # triggered | skipped
    reason: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class Trigger:
    """The decisions; runs go to ``runner`` on a thread of their own, notifications to a
    background queue."""

    def __init__(
        self, runner: Runner, settings: Settings | None = None, notifications: Any = None
    ) -> None:
        from shipyard.loop.notify import NotificationQueue

        self.runner, self.settings = runner, settings or get_settings()
        self.notifications = notifications or NotificationQueue(self.settings)
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        # alert fingerprint -> when last acted on; older than the cooldown are forgotten
        self._seen: OrderedDict[str, float] = OrderedDict()
        self.decisions: deque[Decision] = deque(maxlen=500)
        self.outcomes: OrderedDict[str, str] = OrderedDict()

    def request(
        self, model: str, source: str, why: str, fingerprints: Iterable[str] = ()
    ) -> Decision:
        """Start a run for ``model`` unless one is under way or every alert behind the request
        (``fingerprints``) was acted on within the cooldown."""
        check_model_name(model)
        why = why[:MAX_REASON]
        prints = [f for f in fingerprints if f]
        now = time.monotonic()
        with self._lock:
            cooldown = self.settings.trigger_cooldown_seconds
            self._forget(now - cooldown)
            fresh = [f for f in prints if f not in self._seen]
            running = self._running.get(model)
            if running is not None and running.is_alive():
                decision = Decision(
                    model, source, "skipped", f"a run for {model} is under way ({why})"
                )
            elif prints and not fresh:
                first = min(self._seen[f] for f in prints)
                decision = Decision(
                    model,
                    source,
                    "skipped",
                    f"repeat of an alert acted on {now - first:.0f} s ago "
                    f"(cooldown {cooldown:.0f} s): {why}",
                )
            else:
                for fingerprint in fresh:
                    self._seen[fingerprint] = now
                while len(self._seen) > MAX_MODELS * 10:  # bounded; the oldest go first
                    self._seen.popitem(last=False)
                decision = Decision(model, source, "triggered", why)
                thread = threading.Thread(
                    target=self._run, args=(model, why), daemon=True, name=f"retrain-{model}"
                )
                self._running = {m: t for m, t in self._running.items() if t.is_alive()}
                self._running[model] = thread
                thread.start()
        self._record(decision)
        return decision

    def _forget(self, before: float) -> None:
        while self._seen and next(iter(self._seen.values())) < before:
            self._seen.popitem(last=False)

    def wait(self, model: str, timeout: float | None = None) -> None:
        thread = self._running.get(model)
        if thread is not None:
            thread.join(timeout)

    def _run(self, model: str, why: str) -> None:
        try:
            outcome = self.runner(model, why)
        except Exception as exc:  # the run failed; the trigger keeps serving
            outcome = f"failed: {str(exc)[:500]}"
            logger.warning("retraining %s failed: %s", model, exc)
        with self._lock:
            self.outcomes.pop(model, None)
            self.outcomes[model] = outcome
            while len(self.outcomes) > MAX_MODELS:
                self.outcomes.popitem(last=False)
        self.notifications.put(
            "retrain", f"Retraining {model}: {outcome.split(':')[0][:60]}", outcome
        )

    def _record(self, decision: Decision) -> None:
        self.decisions.append(decision)
        DECISIONS.labels(decision.model, decision.source, decision.decision).inc()
        log = self.settings.home / "trigger-decisions.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as handle:
            handle.write(json.dumps(asdict(decision)) + "\n")
        logger.info(
            "retrain %s for %s (%s): %s",
            decision.decision,
            decision.model,
            decision.source,
            decision.reason,
        )
        self.notifications.put(
            "retrain",
            f"Retrain {decision.decision} for {decision.model}",
            f"{decision.source}: {decision.reason}",
        )

    # --- what the server hands over (payloads already checked by ``shipyard.loop.trigger_server``)

    def from_alertmanager(self, payload: dict) -> list[Decision]:
        """Alertmanager's webhook body: the firing retraining alerts, one decision per model
        however many alerts name it (the reason counts them)."""
        by_model: dict[str, list[dict]] = {}
        for alert in payload.get("alerts") or []:
            labels = alert.get("labels") or {}
            if alert.get("status") != "firing" or labels.get("alertname") not in RETRAIN_ALERTS:
                continue
            model = labels.get("model") or self.settings.model_name
            by_model.setdefault(model, []).append(alert)
        decisions = []
        for model, alerts in by_model.items():
            fingerprints = [
                alert.get("fingerprint")
                or hashlib.sha256(
                    json.dumps(alert.get("labels") or {}, sort_keys=True).encode()
                ).hexdigest()
                for alert in alerts
            ]
            first = alerts[0]["labels"]
            why = f"{first['alertname']} " + ", ".join(
                f"{k}={v}" for k, v in sorted(first.items()) if k != "alertname"
            )
            if len(alerts) > 1:
                names = Tally(a["labels"]["alertname"] for a in alerts)
                why = (
                    f"{len(alerts)} alerts ("
                    + ", ".join(f"{n} ×{c}" for n, c in sorted(names.items()))
                    + f"); first: {why}"
                )
            decisions.append(self.request(model, "alertmanager", why, fingerprints))
        return decisions

    def from_mlflow(self, payload: dict) -> list[Decision]:
        """An MLflow registry event: an alias in ``trigger_mlflow_aliases`` set on a version."""
        data = payload.get("data") or {}
        if (payload.get("entity"), payload.get("action")) != ("model_version_alias", "created"):
            return []
        if data.get("alias") not in self.settings.trigger_mlflow_aliases:
            return []
        model = data.get("name") or self.settings.model_name
        why = f"alias {data.get('alias')!r} set on {model} v{data.get('version')} in MLflow"
        return [self.request(model, "mlflow", why)]


def mlflow_headers(
    headers: dict[str, str], max_age_seconds: float = 300.0
) -> tuple[str, str, str] | None:
    """MLflow's delivery id, timestamp and signature headers when all are there and the
    timestamp is recent enough that a captured request cannot be replayed later (checked
    before the body is read); None otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get(WEBHOOK_SIGNATURE_HEADER.lower(), "")
    delivery = lowered.get(WEBHOOK_DELIVERY_ID_HEADER.lower(), "")
    stamp = lowered.get(WEBHOOK_TIMESTAMP_HEADER.lower(), "")
    if not signature.startswith("v1,") or not delivery or len(delivery) > 200:
        return None
    try:
        if abs(time.time() - int(stamp)) > max_age_seconds:
            return None
    except ValueError:
        return None
    return delivery, stamp, signature


def mlflow_signature_ok(
    secret: str, headers: dict[str, str], body: bytes, max_age_seconds: float = 300.0
) -> bool:
    """MLflow's webhook HMAC: ``v1,base64(HMAC-SHA256(secret, id.timestamp.body))``, and a
    timestamp recent enough that a captured request cannot be replayed later."""
    found = mlflow_headers(headers, max_age_seconds)
    if found is None:
        return False
    delivery, stamp, signature = found
    digest = hmac.new(
        secret.encode(), f"{delivery}.{stamp}.".encode() + body, hashlib.sha256
    ).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    return hmac.compare_digest(expected.encode(), signature.encode(errors="replace"))


class Deliveries:
    """MLflow delivery ids seen within the signature's age limit: a replayed or retried
    delivery (same id) is answered without a second run. Bounded: ids older than the age
    limit are forgotten (their timestamp would be refused anyway), and at most ``limit``."""

    def __init__(self, max_age_seconds: float = 300.0, limit: int = 10_000) -> None:
        self.max_age, self.limit = max_age_seconds, limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, delivery: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - 2 * self.max_age:
                self._seen.popitem(last=False)
            if delivery in self._seen:
                return False
            self._seen[delivery] = now
            if len(self._seen) > self.limit:
                self._seen.popitem(last=False)
                logger.warning("more than %d MLflow deliveries in %.0f s", self.limit, self.max_age)
            return True


def pipeline_runner(pipeline_file: str, settings: Settings) -> Runner:
    """Runs the compiled training pipeline for a model (Kubeflow, else kfp.local) on the
    configured source — by default the model's logged production data."""
    from shipyard.kubeflow.submit import submit

    def run(model: str, why: str) -> str:
        arguments: dict[str, str | int | float | bool] = {"model_name": model}
        if settings.trigger_source:
            arguments["source"] = settings.trigger_source.format(model=model)
        arguments.update(settings.trigger_arguments)
        submission = submit(
            pipeline_file, arguments, wait=True, run_name=f"retrain-{model}-{int(time.time())}"
        )
        outcome = f"run finished: {submission.summary()}"
        steps = {step.name: step for step in submission.local.steps} if submission.local else {}
        if "register" in steps:  # what the gate decided, where the run's record has it
            outcome += f"; {steps['register'].metadata.get('reason', '')}"
        if submission.local:  # this run's own folder (kfp.local), never another's
            outcome += f"; run folder {submission.local.run_dir}"
        return outcome

    return run
