"""Serving: the KServe v2 predictor and (later) the drift detector."""
