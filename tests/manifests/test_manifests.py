"""Every overlay renders with kustomize; core kinds pass kubernetes-validate --strict, the
InferenceService KServe's CRD schema; plus what no schema checks: canary bounds, DNS-1123
names, no Secret values in git, a restricted securityContext and resources on every
container, pinned images in prod; and the alerting rules pass promtool's check and tests."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shipyard.rollout.inference_service import (
    DNS_1123,
    ModelVersion,
    ServiceOptions,
    check_mode_fields,
    inference_service,
)
from support import PROJECT, inference_service_validator

MANIFESTS = PROJECT / "manifests"
OVERLAYS = ("local", "dev", "prod")
CRD_KINDS = {
    "AlertmanagerConfig",
    "InferenceService",
    "ServingRuntime",
    "PodMonitor",
    "PrometheusRule",
}
needs_kubectl = pytest.mark.skipif(
    not shutil.which("kubectl"), reason="kubectl (with kustomize) is not installed"
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl (with kustomize) is not installed")
    copy = tmp_path_factory.mktemp("manifests") / "manifests"
    shutil.copytree(MANIFESTS, copy)
    for example in (copy / "overlays" / "local").glob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))  # as a user would, values left empty
    out = {}
    for overlay in OVERLAYS:
        text = subprocess.run(
            ["kubectl", "kustomize", str(copy / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        out[overlay] = [d for d in yaml.safe_load_all(text) if d]
    return out


def containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    if doc["kind"] == "InferenceService":
        found = []
        for predictor in [spec["predictor"], *(c["predictor"] for c in spec.get("canary", []))]:
            found += [predictor["model"], *predictor.get("containers", [])]
        return found
    if doc["kind"] == "ServingRuntime":
        return spec["containers"]
    pod = spec.get("template", {}).get("spec", {})
    return pod.get("containers", []) + pod.get("initContainers", [])


def test_overlays_render_the_expected_kinds(rendered):
    for overlay, docs in rendered.items():
        kinds = {d["kind"] for d in docs}
        assert {
            "InferenceService",
            "ServingRuntime",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "NetworkPolicy",
            "PodMonitor",
            "PrometheusRule",
            "ConfigMap",
        } <= kinds, overlay
        namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
        assert len(namespaces) == 1 and None not in namespaces, overlay


def test_core_kinds_pass_strict_validation(rendered):
    import kubernetes_validate

    for docs in rendered.values():
        for doc in docs:
            if doc["kind"] not in CRD_KINDS:
                kubernetes_validate.validate(doc, "1.32", strict=True)


def test_inference_services_match_kserves_crd(rendered):
    validator = inference_service_validator()
    for overlay, docs in rendered.items():
        for doc in (d for d in docs if d["kind"] == "InferenceService"):
            problems = [
                f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(doc)
            ]
            assert problems == [], overlay
            check_mode_fields(doc)  # canary 0-100, the field the mode honours


def test_names_are_dns_1123(rendered):
    for docs in rendered.values():
        for doc in docs:
            name = doc["metadata"]["name"]
            assert len(name) <= 63 and DNS_1123.match(name), name


def test_no_secret_values_in_git():
    for path in MANIFESTS.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Secret":
                pytest.fail(f"{path} defines a Secret; reference it by name instead")
    for example in MANIFESTS.rglob("*.env.example"):
        for line in example.read_text().splitlines():
            if line and not line.startswith("#"):
                assert line.endswith("="), f"{example} carries a value: {line}"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "manifests/overlays/local/s3.env"], cwd=PROJECT
    )
    assert ignored.returncode == 0, "the local overlay's env files must be git-ignored"


def test_every_container_is_restricted_and_bounded(rendered):
    for overlay, docs in rendered.items():
        for doc in docs:
            pod_context = (
                doc.get("spec", {}).get("template", {}).get("spec", {}).get("securityContext", {})
            )
            for container in containers(doc):
                where = f"{overlay}/{doc['kind']}/{doc['metadata']['name']}/{container['name']}"
                context = {**pod_context, **container.get("securityContext", {})}
                assert context.get("runAsNonRoot") is True, where
                assert context.get("allowPrivilegeEscalation") is False, where
                assert context.get("readOnlyRootFilesystem") is True, where
                assert "ALL" in context.get("capabilities", {}).get("drop", []), where
                resources = container.get("resources", {})
                assert resources.get("requests") and resources.get("limits"), where


def test_prod_images_are_pinned_by_tag(rendered):
    for doc in rendered["prod"]:
        for container in containers(doc):
            if "image" in container:
                image = container["image"]
                tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
                assert tag and tag != "latest", f"{container['name']}: {image}"


def test_prod_sidecar_runs_the_scipy_drift_backend(rendered):
    """Production runs the licence-clean backend: the ConfigMap the sidecar reads sets it, with
    a value Settings accepts; the other overlays keep the default."""
    from shipyard.settings import Settings

    def config(overlay: str) -> dict:
        maps = [d for d in rendered[overlay] if d["kind"] == "ConfigMap"]
        return next(d for d in maps if d["metadata"]["name"].startswith("shipyard-config"))["data"]

    value = config("prod")["SHIPYARD_DRIFT_BACKEND"]
    assert Settings(drift_backend=value).drift_backend == "scipy"
    assert "SHIPYARD_DRIFT_BACKEND" not in config("dev")
    # the training pipeline's register step reads the key it maps (pipelines/training_pipeline)
    assert config("prod")["drift-backend"] == "scipy" and config("dev")["drift-backend"] == "alibi"
    isvc = next(d for d in rendered["prod"] if d["kind"] == "InferenceService")
    sidecar = next(c for c in containers(isvc) if c["name"] == "drift-detector")
    assert any(
        s.get("configMapRef", {}).get("name", "").startswith("shipyard-config")
        for s in sidecar["envFrom"]
    )


def test_base_inference_service_is_what_the_rollout_builds():
    base = yaml.safe_load((MANIFESTS / "base" / "inferenceservice.yaml").read_text())
    built = inference_service(
        ModelVersion("shipyard-fraud", "1", "s3://shipyard/models/shipyard-fraud/1/bundle"),
        ServiceOptions(),
    )
    del built["metadata"]["namespace"]
    assert base == built


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory) -> Path:
    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    rule = yaml.safe_load((MANIFESTS / "base" / "prometheusrule.yaml").read_text())
    folder = tmp_path_factory.mktemp("rules")
    (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(PROJECT / "tests" / "manifests" / "alerts_test.yaml", folder)
    return folder


def test_promtool_checks_the_rules(rules_dir):
    result = subprocess.run(
        ["promtool", "check", "rules", "rules.yaml"], cwd=rules_dir, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "11 rules found" in result.stdout


def test_promtool_unit_tests_the_alerts(rules_dir):
    result = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yaml"],
        cwd=rules_dir,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_valid_grafana_json():
    dashboard = json.loads((MANIFESTS / "base" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(dashboard["panels"]) >= 6 and all(exprs)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_key_the_pipeline_maps_exists_in_the_manifests(rendered, tmp_path):
    """kfp-kubernetes' configMapAsEnv/secretAsEnv are not optional unless marked so (only the
    notifier's webhook Secret is): a key missing from the ConfigMap or the local overlay's
    Secrets would stop every step at pod creation."""
    from training_pipeline import compile_pipeline

    platform = list(yaml.safe_load_all(compile_pipeline(tmp_path / "p.yaml").read_text()))[1]
    wanted: dict[tuple[str, str], set[str]] = {}
    for executor in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
        for item in executor.get("configMapAsEnv", []):
            wanted.setdefault(("ConfigMap", item["configMapName"]), set()).update(
                k["configMapKey"] for k in item["keyToEnv"]
            )
        for item in executor.get("secretAsEnv", []):
            if item.get("optional"):
                assert item["secretName"] == "shipyard-notify"
                continue
            wanted.setdefault(("Secret", item["secretName"]), set()).update(
                k["secretKey"] for k in item["keyToEnv"]
            )
    local = {(d["kind"], d["metadata"]["name"]): d for d in rendered["local"]}
    for (kind, name), keys in wanted.items():
        assert (kind, name) in local, f"{kind} {name} is not in the local overlay"
        have = set(local[(kind, name)].get("data", {}))
        assert keys <= have, f"{kind} {name} lacks {sorted(keys - have)}"


def test_alertmanager_sends_the_retraining_alerts_to_the_trigger():
    import re

    from shipyard.loop.trigger import RETRAIN_ALERTS

    docs = list(yaml.safe_load_all((MANIFESTS / "base" / "trigger.yaml").read_text()))
    config = next(d for d in docs if d["kind"] == "AlertmanagerConfig")
    [to_trigger] = [
        r for r in config["spec"]["route"]["routes"] if r["receiver"] == "shipyard-trigger"
    ]
    pattern = to_trigger["matchers"][0]["value"]
    rules = yaml.safe_load((MANIFESTS / "base" / "prometheusrule.yaml").read_text())
    alerts = {r["alert"] for g in rules["spec"]["groups"] for r in g["rules"]}
    assert RETRAIN_ALERTS <= alerts  # the trigger acts on alerts that exist
    assert {a for a in alerts if re.fullmatch(pattern, a)} == RETRAIN_ALERTS
    hook = next(r for r in config["spec"]["receivers"] if r["name"] == "shipyard-trigger")
    assert hook["webhookConfigs"][0]["url"].endswith(":8090/alertmanager")


def test_alertmanager_routes_each_alert_to_its_receivers(tmp_path):
    """Alertmanager's own router (amtool) on the AlertmanagerConfig as local mode converts
    it: retraining alerts reach the trigger and chat, every other Shipyard alert chat only."""
    import shutil
    import subprocess

    from shipyard.local.monitoring import alert_rules, alertmanager_config
    from shipyard.loop.trigger import RETRAIN_ALERTS

    if not shutil.which("amtool"):
        pytest.skip("amtool is not installed (apt-get install prometheus-alertmanager)")
    config = alertmanager_config(
        {
            "shipyard-trigger": "http://127.0.0.1:1/alertmanager",
            "shipyard-chat": "http://127.0.0.1:2/chat",
        },
        "token",
    )
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))
    subprocess.run(
        ["amtool", "check-config", str(tmp_path / "am.yml")], check=True, capture_output=True
    )
    alerts = {r["alert"] for g in alert_rules()["groups"] for r in g["rules"]}
    for alert in sorted(alerts) + ["SomeoneElsesAlert"]:
        routed = subprocess.run(
            [
                "amtool",
                "config",
                "routes",
                "test",
                f"--config.file={tmp_path / 'am.yml'}",
                f"alertname={alert}",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        routed = routed.strip().split(",")
        expected = (
            {"shipyard-trigger", "shipyard-chat"}
            if alert in RETRAIN_ALERTS
            else {"shipyard-chat"}
            if alert.startswith("Shipyard")
            else {"unrouted"}
        )
        assert set(routed) == expected, alert


def test_every_server_command_is_a_console_script_of_the_package(rendered):
    """The ServingRuntime, the InferenceService's sidecar and the trigger run the project
    image's console scripts; a renamed script would leave a pod crash-looping."""
    import tomllib

    scripts = set(tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"])
    commands = set()
    for docs in rendered.values():
        for doc in docs:
            spec = doc.get("spec", {})
            containers = (
                spec.get("containers", [])
                + spec.get("predictor", {}).get("containers", [])
                + spec.get("template", {}).get("spec", {}).get("containers", [])
            )
            commands |= {
                c["command"][0]
                for c in containers
                if c.get("command") and c["image"].split(":")[0].endswith("shipyard")
            }
    assert commands == {"shipyard-predictor", "shipyard-drift", "shipyard"}
    assert commands <= scripts
    detector = ServiceOptions()
    assert detector.detector_image.split(":")[0] == "shipyard"
