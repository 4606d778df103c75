"""Canary rollout of a model version as a KServe InferenceService, promoted or rolled back on
measured health; the same gates drive a local router when there is no cluster."""
