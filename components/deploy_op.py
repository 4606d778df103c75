"""KFP component: roll the registered winner out as a canary InferenceService."""

from kfp import dsl
from kfp.dsl import Markdown, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def deploy_op(version: str, promoted: bool, report: Output[Markdown], deploy: bool = False,
              model_name: str = "", service_name: str = "fraud", namespace: str = "shipyard",
              deployment_mode: str = "Serverless", prometheus_url: str = "",
              canary_steps: str = "10,50,100", bake_seconds: float = 300.0,
              model_format: str = "shipyard") -> str:
    """Canary steps gated on Prometheus; `champion` moves at 100 %, a failed gate rolls back
    (and fails the run). Skipped unless `deploy` and the register step's gate passed."""
    if not deploy or not promoted:
        outcome = "skipped: " + ("deploy is off" if not deploy else "the gate kept the champion")
    else:
        from shipyard.rollout.controller import RolloutPlan
        from shipyard.rollout.inference_service import ServiceOptions
        from shipyard.rollout.run import cluster_rollout
        from shipyard.settings import settings_for
        from shipyard.step_errors import record_failures

        record_failures()  # a failed rollout is one line for the caller, with its exit code
        plan = RolloutPlan(tuple(int(s) for s in canary_steps.split(",")), bake_seconds)
        options = ServiceOptions(service_name, namespace, deployment_mode,
                                 model_format=model_format)
        outcome = cluster_rollout(version, plan, options, prometheus_url,
                                  settings_for(model_name)).summary()
    with open(report.path, "w") as handle:
        handle.write(f"# Deploy\n\n{outcome}\n")
    return outcome
