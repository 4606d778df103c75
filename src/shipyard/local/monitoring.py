"""Prometheus and Alertmanager as local processes, configured from the manifests' own
``PrometheusRule`` and ``AlertmanagerConfig``: local mode's stand-in for the cluster's
monitoring stack (the same engines, rules and routes; only addresses and secrets differ).

The alert rules' ``for`` durations (10–15 minutes on a cluster) can be shortened with
``hold`` so that a demo or a test sees an alert fire in seconds; the expressions are the
manifests' own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from shipyard.errors import ConfigError, ServiceUnavailable
from shipyard.http import get_json
from shipyard.processes import free_port, start_server, stop_process_group

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests" / "base"


@dataclass
class LocalServer:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        stop_process_group(self.process)


def _manifest(kind: str, file: str, manifests: Path) -> dict:
    path = manifests / file
    if not path.is_file():
        raise ConfigError(f"no {file} in {manifests}", hint="run from a Shipyard checkout")
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == kind:
            return doc
    raise ConfigError(f"{path} holds no {kind}")


def alert_rules(hold: str | None = None, manifests: Path = MANIFESTS) -> dict:
    """The ``PrometheusRule``'s groups as a Prometheus rule file; ``hold`` replaces every
    ``for`` duration."""
    groups = _manifest("PrometheusRule", "prometheusrule.yaml", manifests)["spec"]["groups"]
    if hold is not None:
        for group in groups:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = hold
    return {"groups": groups}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def alertmanager_config(
    receivers: dict[str, str],
    token: str,
    group_wait: str | None = None,
    manifests: Path = MANIFESTS,
) -> dict:
    """The ``AlertmanagerConfig`` as an Alertmanager configuration file. ``receivers`` maps
    each receiver's name to the URL it posts to here; ``token`` is the trigger's bearer token
    (a Secret on the cluster)."""
    spec = _manifest("AlertmanagerConfig", "trigger.yaml", manifests)["spec"]

    def route(node: dict) -> dict:
        out = {"receiver": node["receiver"]}
        if "groupBy" in node:
            out["group_by"] = node["groupBy"]
        for key in ("groupWait", "groupInterval", "repeatInterval"):
            if key in node:
                out[_snake(key)] = group_wait if key == "groupWait" and group_wait else node[key]
        if "matchers" in node:
            out["matchers"] = [
                f"{m['name']}{m.get('matchType', '=')}{json.dumps(m['value'])}"
                for m in node["matchers"]
            ]
        if node.get("continue"):
            out["continue"] = True
        if "routes" in node:
            out["routes"] = [route(child) for child in node["routes"]]
        return out

    converted = []
    for receiver in spec["receivers"]:
        name = receiver["name"]
        if name not in receivers:
            raise ConfigError(f"no local URL for the receiver {name!r}")
        out: dict = {"name": name}
        for webhook in receiver.get("webhookConfigs", []):
            entry = {"url": receivers[name], "send_resolved": webhook.get("sendResolved", True)}
            if "authorization" in webhook.get("httpConfig", {}):
                entry["http_config"] = {"authorization": {"credentials": token}}
            out.setdefault("webhook_configs", []).append(entry)
        for slack in receiver.get("slackConfigs", []):
            out.setdefault("slack_configs", []).append(
                {
                    "api_url": receivers[name],
                    "send_resolved": slack.get("sendResolved", False),
                    "title": slack.get("title", ""),
                    "text": slack.get("text", ""),
                }
            )
        converted.append(out)
    # The operator hangs the AlertmanagerConfig's route under the global root route (adding
    # a namespace matcher); here the root is a receiver that drops what nothing matched.
    return {
        "route": {"receiver": "unrouted", "routes": [route(spec["route"])]},
        "receivers": [{"name": "unrouted"}, *converted],
    }


def _binary(*names: str) -> str:
    for name in names:
        if shutil.which(name):
            return name
    raise ServiceUnavailable(f"{names[0]} is not installed", hint=f"apt-get install {names[-1]}")


def _start(
    command: list[str], url: str, ready: str, folder: Path, what: str, timeout: float = 60.0
) -> LocalServer:
    log = folder / f"{what}.log"
    return LocalServer(start_server(command, log, url + ready, what, timeout), url, log)


def start_alertmanager(config: dict, folder: Path) -> LocalServer:
    """Alertmanager on a free 127.0.0.1 port, without its cluster gossip port."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    command = [
        _binary("alertmanager", "prometheus-alertmanager"),
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    return _start(command, f"http://127.0.0.1:{port}", "/-/ready", folder, "alertmanager")


def start_prometheus(
    targets: dict[str, tuple[str, dict[str, str]]],
    folder: Path,
    rules: dict | None = None,
    alertmanager: str | None = None,
    interval: str = "1s",
    wait_for_targets: bool = True,
) -> LocalServer:
    """Prometheus on a free 127.0.0.1 port scraping ``{job: (base URL, labels)}`` every
    ``interval`` (the labels are what the PodMonitor's relabeling attaches on a cluster),
    evaluating ``rules`` and sending alerts to ``alertmanager``. Returns once every target
    has been scraped."""
    folder.mkdir(parents=True, exist_ok=True)
    config: dict = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [{"targets": [url.removeprefix("http://")], "labels": labels}],
            }
            for job, (url, labels) in targets.items()
        ],
    }
    if rules is not None:
        (folder / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        config["rule_files"] = [str(folder / "rules.yml")]
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}]}
            ]
        }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    command = [
        _binary("prometheus"),
        f"--config.file={folder / 'prometheus.yml'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={folder / 'prometheus-data'}",
    ]
    server = _start(command, f"http://127.0.0.1:{port}", "/-/ready", folder, "prometheus")
    if wait_for_targets:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            scraped = get_json(f"{server.url}/api/v1/targets", timeout=5, what="Prometheus")
            active = scraped["data"]["activeTargets"]
            if active and all(t["health"] == "up" for t in active):
                return server
            time.sleep(0.5)
        server.stop()
        raise ServiceUnavailable(
            "Prometheus did not scrape every target within 60 s", hint=f"see {folder}"
        )
    return server


def firing(prometheus: str) -> list[dict]:
    """The alerts Prometheus has firing now."""
    alerts = get_json(f"{prometheus}/api/v1/alerts", timeout=5, what="Prometheus")["data"]["alerts"]
    return [a for a in alerts if a.get("state") == "firing"]
