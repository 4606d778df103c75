"""KServeTraffic's calls to the Kubernetes API. No API server can run here, so the
CustomObjectsApi is FAKED: an in-memory store that validates every body against KServe's CRD
schema, honours dry runs, bumps generations, and plays the KServe controller by marking the
object Ready (or not) — the client calls and bodies are what is under test."""

import copy

import pytest
from kubernetes.client.exceptions import ApiException

from shipyard.errors import RolloutFailed
from shipyard.rollout.controller import RolloutPlan, run_rollout
from shipyard.rollout.gates import Health
from shipyard.rollout.inference_service import ModelVersion, ServiceOptions
from shipyard.rollout.kserve_traffic import KServeTraffic
from support import inference_service_validator

VERSIONS = {
    v: ModelVersion("shipyard-fraud", v, f"s3://shipyard/models/{v}/bundle") for v in ("1", "2")
}


class FakeCustomObjects:
    def __init__(self, validator, becomes_ready=True):
        self.validator, self.becomes_ready = validator, becomes_ready
        self.objects, self.writes = {}, []

    def _store(self, body, dry_run):
        problems = [e.message for e in self.validator.iter_errors(body)]
        assert problems == [], problems
        self.writes.append((copy.deepcopy(body), dry_run))
        if dry_run:
            return body
        name = body["metadata"]["name"]
        generation = self.objects.get(name, {}).get("metadata", {}).get("generation", 0) + 1
        stored = copy.deepcopy(body)
        stored["metadata"].update(generation=generation, resourceVersion=str(generation))
        ready = "True" if self.becomes_ready else "False"
        stored["status"] = {
            "observedGeneration": generation,
            "conditions": [{"type": "Ready", "status": ready, "message": "RevisionMissing"}],
        }
        self.objects[name] = stored
        return stored

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        assert (group, version, plural) == ("serving.kserve.io", "v1beta1", "inferenceservices")
        if name not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.objects[name])

    def create_namespaced_custom_object(
        self, group, version, namespace, plural, body, dry_run=None
    ):
        return self._store(body, dry_run)

    def replace_namespaced_custom_object(
        self, group, version, namespace, plural, name, body, dry_run=None
    ):
        assert (
            body["metadata"]["resourceVersion"] == self.objects[name]["metadata"]["resourceVersion"]
        )
        return self._store(body, dry_run)


class Healthy:
    def begin(self):
        pass

    def health(self, version):
        return Health(500, 0.0, 0.01, False) if version == "2" else Health(5000, 0, 0.01, False)


class Erroring(Healthy):
    def health(self, version):
        return Health(500, 0.5, 0.01, False) if version == "2" else Health(5000, 0, 0.01, False)


PLAN = RolloutPlan(steps=(10, 50, 100), bake_seconds=1, poll_seconds=1)


@pytest.fixture(scope="module")
def validator():
    return inference_service_validator()


@pytest.fixture
def api(validator):
    return FakeCustomObjects(validator)


def deployed(api, mode):
    traffic = KServeTraffic(api, ServiceOptions(mode=mode), VERSIONS, poll_seconds=0.01)
    run_rollout("1", traffic, Healthy(), PLAN, sleep=lambda s: None, log=lambda m: None)
    return traffic


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
def test_canary_steps_then_promotion(api, mode):
    traffic = deployed(api, mode)
    run_rollout("2", traffic, Healthy(), PLAN, sleep=lambda s: None, log=lambda m: None)
    steps = [w[0]["spec"] for w in api.writes[2:]]  # after create + promote of v1
    if mode == "Serverless":
        assert [s["predictor"].get("canaryTrafficPercent") for s in steps] == [10, 50, 100, None]
    else:
        assert [c[0]["trafficPercent"] for c in (s.get("canary") for s in steps) if c] == [
            10,
            50,
            100,
        ]
    final = api.objects["fraud"]["spec"]
    assert final["predictor"]["model"]["storageUri"] == VERSIONS["2"].storage_uri
    assert "canary" not in final and "canaryTrafficPercent" not in final["predictor"]


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
def test_a_failing_canary_is_rolled_back_to_the_previous_spec(api, mode):
    traffic = deployed(api, mode)
    with pytest.raises(RolloutFailed, match="error rate"):
        run_rollout("2", traffic, Erroring(), PLAN, sleep=lambda s: None, log=lambda m: None)
    final = api.objects["fraud"]["spec"]
    assert final["predictor"]["model"]["storageUri"] == VERSIONS["1"].storage_uri
    assert "canary" not in final and not final["predictor"].get("canaryTrafficPercent")
    if mode == "Serverless":  # traffic went back first (0 %), then the old spec
        assert api.writes[-2][0]["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert traffic.stable_version() == "1"


def test_a_canary_that_never_becomes_ready_is_rolled_back(api):
    traffic = deployed(api, "Serverless")
    api.becomes_ready = False
    plan = RolloutPlan(steps=(10, 100), bake_seconds=1, poll_seconds=1, ready_timeout=0.05)
    with pytest.raises(RolloutFailed, match="not ready within"):
        run_rollout("2", traffic, Healthy(), plan, sleep=lambda s: None, log=lambda m: None)


def test_dry_run_writes_nothing(api):
    traffic = KServeTraffic(api, ServiceOptions(), VERSIONS, dry_run=True)
    traffic.route("1", 100)
    assert api.objects == {} and api.writes[-1][1] == "All"
