"""Kubeflow Pipelines: compiled pipeline files and submitting runs to a KFP server."""
