"""The MLflow registry and tracking: which version a name means, what is stored with it."""
