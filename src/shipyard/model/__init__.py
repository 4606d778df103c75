"""A trained model and its contract: families, bundle, task, metrics, parity, pyfunc."""
