"""KFP component: roll the registered winner out as a canary InferenceService."""

from kfp import dsl
from kfp.dsl import Markdown, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def deploy_op(
    model_uri: str,
    report: Output[Markdown],
    service_name: str = "fraud",
    namespace: str = "shipyard",
    deployment_mode: str = "Serverless",
    prometheus_url: str = "",
    canary_steps: str = "10,50,100",
    bake_seconds: float = 300.0,
    model_format: str = "shipyard",
) -> str:
    """Canary steps gated on measured health for the registered version `model_uri`
    (models:/name/N); `champion` moves at 100 %, a failed gate rolls back (and fails the run).
    The pipeline runs this step only under `deploy` and the register step's gate."""
    from shipyard.local.rollout import LOCAL, local_deploy
    from shipyard.rollout.controller import RolloutPlan
    from shipyard.rollout.run import rollout_step
    from shipyard.steps.failure import record_failures

    record_failures()  # a failed rollout is one line for the caller, with its exit code
    plan = RolloutPlan(tuple(int(s) for s in canary_steps.split(",")), bake_seconds)
    if deployment_mode == LOCAL:  # the one-machine stand-in: the same controller and gates
        rolled = local_deploy(model_uri, plan)
    else:
        rolled = rollout_step(
            model_uri, plan, deployment_mode, service_name, namespace, model_format, prometheus_url
        )
    outcome = rolled.summary()
    with open(report.path, "w") as handle:
        handle.write(f"# Deploy\n\n{outcome}\n")
    return outcome
