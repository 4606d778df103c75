"""The local stand-in for a KServe canary: the champion (stable) and a new version (canary)
as local predictors behind the local router, rolled out by the same controller and gates as
on a cluster (``shipyard.rollout``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import ConfigError, ServiceUnavailable
from shipyard.model.ref import ModelRef
from shipyard.rollout.controller import RolloutPlan, RolloutReport
from shipyard.rollout.inference_service import DEFAULT_SERVICE
from shipyard.rollout.run import promoting_rollout, version_ref
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    import threading

    from shipyard.local.servers import LocalPredictor
    from shipyard.registry.client import Registry

LOCAL = "Local"  # deployment_mode: no cluster, local predictors behind the local router


def local_deploy(
    model_uri: str, plan: RolloutPlan, settings: Settings | None = None
) -> RolloutReport:
    """The deploy step with ``deployment_mode=Local``: the register step's ``model_uri`` out
    against the champion, with sample traffic flowing meanwhile."""
    return local_rollout(version_ref(model_uri), plan, settings, demo_traffic=True)


def local_rollout(
    ref: ModelRef,
    plan: RolloutPlan,
    settings: Settings | None = None,
    router_port: int | None = None,
    demo_traffic: bool = True,
) -> RolloutReport:
    """Serve the champion (stable) and the version ``ref`` names (canary) as local predictors
    behind the local router and roll out between them. With ``demo_traffic``, sample requests flow
    through the router meanwhile (otherwise send your own to the printed URL)."""
    import threading

    from shipyard.local.router import LocalTraffic, start_router
    from shipyard.local.servers import start_predictor
    from shipyard.registry.client import Registry
    from shipyard.rollout.health import ScrapedHealth

    registry = Registry(settings or get_settings())
    settings, name, version = registry.settings, ref.name, ref.number
    stable = _stable_version(registry, ref)
    logs = settings.home / "rollout"
    logs.mkdir(parents=True, exist_ok=True)
    servers = {}
    stop = threading.Event()
    try:
        for v in (stable, version):
            servers[v] = start_predictor(
                ModelRef.of(name, v).uri,
                DEFAULT_SERVICE,
                logs / f"v{v}.log",
                model_version=v,
                role="stable" if v == stable else "canary",
            )
        router = start_router(
            stable, servers[stable].base_url, logs / "router.log", port=router_port
        )
        servers["router"] = router
        print(
            f"router on {router.base_url} (v2: {router.base_url}/v2/models/fraud/infer); "
            f"stable v{stable}, canary v{version}"
        )
        if demo_traffic:
            _start_demo_load(registry, ref, router, stop)
        traffic = LocalTraffic(
            router.base_url,
            DEFAULT_SERVICE,
            {v: s.base_url for v, s in servers.items() if v != "router"},
        )
        health = ScrapedHealth(
            DEFAULT_SERVICE, {v: (servers[v].base_url, None) for v in (stable, version)}
        )
        return promoting_rollout(ref, traffic, health, plan, registry)
    finally:
        stop.set()
        for server in servers.values():
            server.stop()


def _stable_version(registry: Registry, ref: ModelRef) -> str:
    """The champion the canary is compared with (there must be one, and not ``ref``)."""
    stable = registry.champion_version(ref.name)
    if stable is None:
        raise ConfigError(
            f"{ref.name} has no champion to compare with",
            hint="run the pipeline first (make run)",
        )
    if stable == ref.number:
        raise ConfigError(f"version {ref.number} is already the champion")
    return stable


def _start_demo_load(
    registry: Registry, ref: ModelRef, router: LocalPredictor, stop: threading.Event
) -> None:
    """Requests through the router until ``stop``: a holdout row the canary stored at
    training, so any dataset has one."""
    import threading

    from shipyard.local.servers import LocalPredictor, v2_request

    canary = registry.load(ref)
    probes = canary.probes()
    if probes is None:
        raise ConfigError(
            f"{ref.name} v{ref.number} stored no probe rows to send",
            hint="send your own requests (demo_traffic off)",
        )
    body = v2_request(probes[0].head(1), canary.schema)
    client = LocalPredictor(router.process, router.base_url, DEFAULT_SERVICE, router.log)
    threading.Thread(target=_demo_load, args=(client, body, stop), daemon=True).start()


def _demo_load(client: LocalPredictor, body: dict, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            client.infer(body)
        except (OSError, ServiceUnavailable):
            pass
        stop.wait(0.02)
