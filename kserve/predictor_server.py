"""Entrypoint of the predictor image (kserve's arguments plus --model_source and --host).

    python kserve/predictor_server.py --model_name fraud \
        --model_source models:/shipyard-fraud@champion --http_port 8080
"""

from shipyard.serving.server import main

if __name__ == "__main__":
    main()
