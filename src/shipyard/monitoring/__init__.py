"""Watching a served model: drift, the detector sidecar, the inference log, live metrics."""
