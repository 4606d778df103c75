"""Moves an InferenceService's traffic with the ``kubernetes`` client (CustomObjectsApi).

Needs only what ``manifests/base/rbac.yaml`` grants the deploy step: get, create, patch on
``inferenceservices`` in its namespace. Every write can be a server-side dry run.
Serverless: the predictor becomes the canary's spec with ``canaryTrafficPercent``; rollback is
``canaryTrafficPercent: 0`` then the previous spec back (KServe's documented rollback).
RawDeployment: ``spec.canary`` carries the new version; rollback removes it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from shipyard.errors import ConfigError, RolloutFailed, ServiceUnavailable
from shipyard.rollout.inference_service import (
    GROUP,
    PLURAL,
    VERSION,
    ModelVersion,
    ServiceOptions,
    check_mode_fields,
    check_percent,
    inference_service,
    served_version,
)

STABLE_ANNOTATION = "shipyard.io/stable-version"  # Serverless: the version the rest goes to


class KServeTraffic:
    def __init__(
        self,
        api: Any,
        options: ServiceOptions,
        versions: dict[str, ModelVersion],
        dry_run: bool = False,
        poll_seconds: float = 5.0,
    ) -> None:
        """``api``: a ``kubernetes.client.CustomObjectsApi``; ``versions``: the model versions
        this rollout may route to, by version number."""
        self.api, self.options, self.versions = api, options, versions
        self.dry_run, self.poll_seconds = dry_run, poll_seconds
        self._previous_predictor: dict | None = None

    # reading -------------------------------------------------------------------------------
    def current(self) -> dict | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.options.namespace, PLURAL, self.options.name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise ServiceUnavailable(
                f"cannot read InferenceService {self.options.namespace}/"
                f"{self.options.name}: {exc.status} {exc.reason}"
            ) from exc

    def stable_version(self) -> str | None:
        body = self.current()
        if body is None:
            return None
        spec = body["spec"]
        if self.options.mode == "Serverless" and "canaryTrafficPercent" in spec["predictor"]:
            return self._stable_from_status(body)
        return served_version(spec["predictor"])

    def _stable_from_status(self, body: dict) -> str | None:
        if self._previous_predictor is not None:
            return served_version(self._previous_predictor)
        annotations = body.get("metadata", {}).get("annotations", {})
        return annotations.get(STABLE_ANNOTATION)

    # writing -------------------------------------------------------------------------------
    def route(self, canary: str, percent: int) -> None:
        check_percent(percent)
        body = self.current()
        new = self._version(canary)
        if body is None:
            self._create(inference_service(new, self.options))
            return
        stable = self.stable_version()
        if stable is None:
            raise ConfigError(f"cannot tell the stable version of {self.options.name}")
        if self._previous_predictor is None and served_version(body["spec"]["predictor"]) == stable:
            self._previous_predictor = copy.deepcopy(body["spec"]["predictor"])
        wanted = inference_service(self._version(stable), self.options, new, percent)
        if self.options.mode == "Serverless":
            wanted["metadata"]["annotations"][STABLE_ANNOTATION] = stable
        self._replace(body, wanted)

    def promote(self, canary: str) -> None:
        body = self.current()
        if body is None:
            raise ServiceUnavailable(
                f"InferenceService {self.options.namespace}/"
                f"{self.options.name} is gone: cannot promote version "
                f"{canary}"
            )
        wanted = inference_service(self._version(canary), self.options)
        self._replace(body, wanted)
        self._previous_predictor = None

    def rollback(self, canary: str) -> None:
        body = self.current()
        if body is None:
            return
        if self.options.mode == "Serverless":
            rolled = copy.deepcopy(body)
            rolled["spec"]["predictor"]["canaryTrafficPercent"] = 0
            self._replace(body, rolled)  # traffic back at once, to the running revision
            if self._previous_predictor is not None:
                restored = copy.deepcopy(rolled)
                restored["spec"]["predictor"] = copy.deepcopy(self._previous_predictor)
                latest = self.current()
                if latest is not None:  # deleted meanwhile: nothing left to restore
                    self._replace(latest, restored)
        else:
            rolled = copy.deepcopy(body)
            rolled["spec"].pop("canary", None)
            self._replace(body, rolled)
        self._previous_predictor = None

    def wait_ready(self, canary: str, timeout: float) -> None:
        """Ready means: the object's generation observed, condition Ready True, and in
        Serverless mode the latest created revision also the latest ready one — traffic
        steps wait for it (KServe sent 503s to not-ready canaries, kserve#5983)."""
        deadline = time.monotonic() + timeout
        reason: str | None = "no status yet"
        while time.monotonic() < deadline:
            body = self.current() or {}
            reason = self._not_ready(body)
            if reason is None:
                return
            time.sleep(self.poll_seconds)
        raise RolloutFailed(
            f"version {canary} of {self.options.name} was not ready within "
            f"{timeout:.0f} s: {reason}"
        )

    @staticmethod
    def _not_ready(body: dict) -> str | None:
        status = body.get("status") or {}
        generation = body.get("metadata", {}).get("generation")
        if generation is not None and status.get("observedGeneration") != generation:
            return f"generation {generation} not observed yet"
        ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
        if not ready or ready.get("status") != "True":
            return (ready or {}).get("message") or "condition Ready is not True"
        predictor = (status.get("components") or {}).get("predictor") or {}
        if predictor.get("latestCreatedRevision") not in (
            None,
            predictor.get("latestReadyRevision"),
        ):
            return (
                f"revision {predictor['latestCreatedRevision']} not ready (ready: "
                f"{predictor.get('latestReadyRevision')})"
            )
        return None

    # plumbing ------------------------------------------------------------------------------
    def _version(self, version: str) -> ModelVersion:
        if version not in self.versions:
            raise ConfigError(f"version {version} has no storage URI in this rollout")
        return self.versions[version]

    def _kwargs(self) -> dict:
        return {"dry_run": "All"} if self.dry_run else {}

    def _create(self, body: dict) -> None:
        check_mode_fields(body)
        self._call(
            self.api.create_namespaced_custom_object,
            GROUP,
            VERSION,
            self.options.namespace,
            PLURAL,
            body,
            **self._kwargs(),
        )

    def _replace(self, current: dict, wanted: dict) -> None:
        check_mode_fields(wanted)
        body = copy.deepcopy(wanted)
        body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
        self._call(
            self.api.replace_namespaced_custom_object,
            GROUP,
            VERSION,
            self.options.namespace,
            PLURAL,
            self.options.name,
            body,
            **self._kwargs(),
        )

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            method(*args, **kwargs)
        except ApiException as exc:
            raise ServiceUnavailable(
                f"the Kubernetes API refused {method.__name__} on "
                f"{self.options.namespace}/{self.options.name}: "
                f"{exc.status} {exc.reason}",
                hint="check the deploy step's RBAC (get, create, update on inferenceservices)",
            ) from exc
