"""``shipyard trigger``: start a training run when told to, one run per model at a time.

Told by: an Alertmanager webhook (a drift or decay alert; the alert's ``model`` label picks
the model), an MLflow registry webhook (an alias in ``trigger_mlflow_aliases`` set on a version,
HMAC-signed by MLflow ≥ 3.3), a schedule, or a person (``shipyard trigger run MODEL``). It
submits the compiled pipeline through ``shipyard.submit`` (Kubeflow, or kfp.local without an
endpoint), de-duplicates repeated alerts (fingerprint + cooldown), refuses unauthenticated
requests (a bearer token; MLflow's HMAC signature), and records every decision — triggered,
or skipped and why — in a JSON-lines log, as a metric and as a notification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter

from shipyard.settings import Settings, get_settings

logger = logging.getLogger(__name__)
DECISIONS = Counter(
    "shipyard_trigger_decisions", "Retraining decisions", ("model", "source", "decision")
)  # triggered | skipped
RETRAIN_ALERTS = frozenset(
    {"ShipyardDriftDetected", "ShipyardModelDecay", "ShipyardModelDecayError"}
)
Runner = Callable[[str, str], str]  # (model, why) -> outcome said in words


@dataclass
class Decision:
    model: str
    source: str  # alertmanager | mlflow | schedule | manual
    decision: str  # triggered | skipped
    reason: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class Trigger:
    """The decisions; runs go to ``runner`` on a thread of their own."""

    def __init__(self, runner: Runner, settings: Settings | None = None) -> None:
        self.runner, self.settings = runner, settings or get_settings()
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        self._seen: dict[str, float] = {}  # alert fingerprint -> when first acted on
        self.decisions: deque[Decision] = deque(maxlen=500)
        self.outcomes: dict[str, str] = {}

    def request(self, model: str, source: str, why: str, fingerprint: str = "") -> Decision:
        """Start a run for ``model`` unless one is under way or the alert is a repeat."""
        now = time.monotonic()
        with self._lock:
            cooldown = self.settings.trigger_cooldown_seconds
            seen = self._seen.get(fingerprint) if fingerprint else None
            if model in self._running and self._running[model].is_alive():
                decision = Decision(
                    model, source, "skipped", f"a run for {model} is under way ({why})"
                )
            elif seen is not None and now - seen < cooldown:
                decision = Decision(
                    model,
                    source,
                    "skipped",
                    f"repeat of an alert acted on {now - seen:.0f} s ago "
                    f"(cooldown {cooldown:.0f} s): {why}",
                )
            else:
                if fingerprint:
                    self._seen[fingerprint] = now
                decision = Decision(model, source, "triggered", why)
                thread = threading.Thread(
                    target=self._run, args=(model, why), daemon=True, name=f"retrain-{model}"
                )
                self._running[model] = thread
                thread.start()
        self._record(decision)
        return decision

    def wait(self, model: str, timeout: float | None = None) -> None:
        thread = self._running.get(model)
        if thread is not None:
            thread.join(timeout)

    def _run(self, model: str, why: str) -> None:
        from shipyard.notify import notify

        try:
            outcome = self.runner(model, why)
        except Exception as exc:  # the run failed; the trigger keeps serving
            outcome = f"failed: {str(exc)[:500]}"
            logger.warning("retraining %s failed: %s", model, exc)
        self.outcomes[model] = outcome
        notify(
            "retrain", f"Retraining {model}: {outcome.split(':')[0][:60]}", outcome, self.settings
        )

    def _record(self, decision: Decision) -> None:
        from shipyard.notify import notify

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
        notify(
            "retrain",
            f"Retrain {decision.decision} for {decision.model}",
            f"{decision.source}: {decision.reason}",
            self.settings,
        )

    # --- what the server hands over -------------------------------------------------------

    def from_alertmanager(self, payload: dict) -> list[Decision]:
        """Alertmanager's webhook body: each firing retraining alert is a request."""
        decisions = []
        for alert in payload.get("alerts") or []:
            labels = alert.get("labels") or {}
            if alert.get("status") != "firing" or labels.get("alertname") not in RETRAIN_ALERTS:
                continue
            model = labels.get("model") or self.settings.model_name
            fingerprint = (
                alert.get("fingerprint")
                or hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()
            )
            why = f"{labels['alertname']} " + ", ".join(
                f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname"
            )
            decisions.append(self.request(model, "alertmanager", why, fingerprint))
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


def mlflow_signature_ok(
    secret: str, headers: dict[str, str], body: bytes, max_age_seconds: float = 300.0
) -> bool:
    """MLflow's webhook HMAC: ``v1,base64(HMAC-SHA256(secret, id.timestamp.body))``, and a
    timestamp recent enough that a captured request cannot be replayed later."""
    from mlflow.webhooks.constants import (
        WEBHOOK_DELIVERY_ID_HEADER,
        WEBHOOK_SIGNATURE_HEADER,
        WEBHOOK_TIMESTAMP_HEADER,
    )

    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get(WEBHOOK_SIGNATURE_HEADER.lower(), "")
    delivery = lowered.get(WEBHOOK_DELIVERY_ID_HEADER.lower(), "")
    stamp = lowered.get(WEBHOOK_TIMESTAMP_HEADER.lower(), "")
    try:
        if abs(time.time() - int(stamp)) > max_age_seconds:
            return False
    except ValueError:
        return False
    digest = hmac.new(
        secret.encode(), f"{delivery}.{stamp}.".encode() + body, hashlib.sha256
    ).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    return hmac.compare_digest(expected, signature)


def pipeline_runner(pipeline_file: str, settings: Settings) -> Runner:
    """Runs the compiled training pipeline for a model (Kubeflow, else kfp.local) on the
    configured source — by default the model's logged production data."""
    from shipyard.submit import submit

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
        return outcome

    return run
