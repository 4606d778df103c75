"""Entrypoint of the drift detector image: receives KServe logger CloudEvents.

    python kserve/drift_server.py --model_name drift \
        --detector_source models:/shipyard-fraud@champion --http_port 8082
"""

from shipyard.serving.server import drift_main

if __name__ == "__main__":
    drift_main()
