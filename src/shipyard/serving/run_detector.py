"""``python -m shipyard.serving.run_detector``: the drift detector server.

A module of its own so that the detector's metrics are defined once (running ``detector.py``
as ``__main__`` would import it a second time under its package name).
"""

from shipyard.serving.server import drift_main

if __name__ == "__main__":
    drift_main()
