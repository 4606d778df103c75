"""The InferenceService builder, checked against KServe's own CRD schema."""

import pytest

from shipyard.errors import ConfigError
from shipyard.rollout.inference_service import (
    ModelVersion,
    ServiceOptions,
    check_mode_fields,
    inference_service,
)
from support import inference_service_validator

V1 = ModelVersion("shipyard-fraud", "1", "s3://shipyard/models/1/bundle")
V2 = ModelVersion("shipyard-fraud", "2", "s3://shipyard/models/2/bundle")


@pytest.fixture(scope="module")
def validator():
    return inference_service_validator()


def errors(validator, body) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)
    ]


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
@pytest.mark.parametrize("canary", [None, V2])
def test_every_shape_passes_the_crd(validator, mode, canary):
    body = inference_service(V1, ServiceOptions(mode=mode), canary, 10)
    assert errors(validator, body) == []
    predictor = body["spec"]["predictor"]
    assert predictor["model"]["protocolVersion"] == "v2"
    assert predictor["logger"]["url"].startswith("http://localhost:8082/")
    assert [c["name"] for c in predictor["containers"]] == ["drift-detector"]
    for container in (predictor["model"], *predictor["containers"]):
        context = container["securityContext"]
        assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
        assert context["allowPrivilegeEscalation"] is False
        assert container["resources"]["limits"]


def test_the_validator_catches_unknown_fields_and_bad_quantities(validator):
    body = inference_service(V1, ServiceOptions())
    body["spec"]["predictor"]["model"]["storageURI"] = "s3://typo"
    body["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] = "one"
    found = errors(validator, body)
    assert any("storageURI" in e for e in found) and any("cpu" in e for e in found)


def test_serverless_canary_uses_canary_traffic_percent():
    body = inference_service(V1, ServiceOptions(mode="Serverless"), V2, 10)
    predictor = body["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == V2.storage_uri
    assert "canary" not in body["spec"]


def test_raw_deployment_canary_uses_spec_canary():
    body = inference_service(V1, ServiceOptions(mode="RawDeployment"), V2, 50)
    assert body["spec"]["predictor"]["model"]["storageUri"] == V1.storage_uri
    assert "canaryTrafficPercent" not in body["spec"]["predictor"]
    assert body["spec"]["canary"][0]["trafficPercent"] == 50
    assert body["spec"]["canary"][0]["predictor"]["model"]["storageUri"] == V2.storage_uri


def test_the_field_the_mode_would_ignore_is_refused():
    raw = inference_service(V1, ServiceOptions(mode="RawDeployment"))
    raw["spec"]["predictor"]["canaryTrafficPercent"] = 10
    with pytest.raises(ConfigError, match="ignored in RawDeployment"):
        check_mode_fields(raw)
    serverless = inference_service(V1, ServiceOptions(mode="Serverless"))
    serverless["spec"]["canary"] = [{"predictor": {}, "trafficPercent": 10}]
    with pytest.raises(ConfigError, match="RawDeployment mode only"):
        check_mode_fields(serverless)


@pytest.mark.parametrize("percent", [-1, 101, 12.5])
def test_canary_percent_outside_0_100_is_refused(percent):
    with pytest.raises(ConfigError, match="integer percent in 0-100"):
        inference_service(V1, ServiceOptions(), V2, percent)


@pytest.mark.parametrize("name", ["Fraud", "fraud_model", "-fraud", "f" * 64])
def test_names_must_be_dns_1123_labels(name):
    with pytest.raises(ConfigError, match="DNS-1123"):
        ServiceOptions(name=name)


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
def test_kserves_stock_runtime_where_asked(validator, mode):
    """modelFormat sklearn, no runtime named (KServe picks kserve-mlserver), the detector
    sidecar off MLServer's metrics port 8082."""
    options = ServiceOptions(mode=mode, model_format="sklearn")
    body = inference_service(V1, options, V2, 10)
    assert errors(validator, body) == []
    predictors = [
        body["spec"]["predictor"],
        *(c["predictor"] for c in body["spec"].get("canary", [])),
    ]
    for predictor in predictors:
        model = predictor["model"]
        assert model["modelFormat"] == {"name": "sklearn"} and "runtime" not in model
        assert model["protocolVersion"] == "v2" and "args" not in model
        assert predictor["containers"][0]["ports"][0]["containerPort"] == 8083
        assert ":8083/" in predictor["logger"]["url"]
    with pytest.raises(ConfigError, match="MLServer's metrics port"):
        ServiceOptions(model_format="sklearn", detector_port=8082)
    with pytest.raises(ConfigError, match="model format 'onnx'"):
        ServiceOptions(model_format="onnx")


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
def test_the_sdk_derived_schema_checks_as_strictly(mode):
    """Without KServe's CRD file (a fresh clone), the check falls back to the kserve SDK's
    model classes: the same shapes pass, the same mistakes are caught."""
    from support import SdkValidator

    validator = SdkValidator()
    assert errors(validator, inference_service(V1, ServiceOptions(mode=mode), V2, 10)) == []
    body = inference_service(V1, ServiceOptions(mode=mode))
    body["spec"]["predictor"]["model"]["storageURI"] = "s3://typo"
    body["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] = "one"
    body["spec"]["predictor"]["minReplicas"] = "two"
    found = errors(validator, body)
    assert any("storageURI" in e for e in found) and any("cpu" in e for e in found)
    assert any("minReplicas" in e for e in found)


def test_one_serving_worker_per_core_of_the_cpu_limit():
    from shipyard.rollout.inference_service import cores

    assert cores({"limits": {"cpu": "2"}}) == 2
    assert cores({"limits": {"cpu": "1500m"}, "requests": {"cpu": "500m"}}) == 2
    assert cores({"requests": {"cpu": "250m"}}) == 1 and cores({}) == 1
    options = ServiceOptions(resources={"limits": {"cpu": "3"}})
    model = inference_service(ModelVersion("shipyard-fraud", "1", "s3://b/m"), options)["spec"][
        "predictor"
    ]["model"]
    assert {"name": "SHIPYARD_SERVING_WORKERS", "value": "3"} in model["env"]
    assert {"name": "predictor-tmp", "mountPath": "/tmp"} in model["volumeMounts"]
