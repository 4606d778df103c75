"""Shipyard: from raw tabular data to a safely rolled-out, monitored KServe endpoint."""

__version__ = "0.1.0"
