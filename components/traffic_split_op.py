"""KFP component: Vertex AI's canary, the traffic split for ModelDeployOp."""

from kfp import dsl

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def traffic_split_op(stable_deployed_model_id: str, canary_percent: int) -> dict:
    """``{"0": canary, stable: rest}``: "0" is the model being deployed (Vertex's own
    convention); the split must add up to 100. With no stable model, all traffic to the new."""
    from shipyard.rollout.inference_service import check_percent

    check_percent(canary_percent)
    if not stable_deployed_model_id:
        return {"0": "100"}
    return {"0": str(canary_percent), stable_deployed_model_id: str(100 - canary_percent)}
