"""Entrypoint of the predictor image: kserve's own arguments plus Shipyard's.

    python kserve/predictor_server.py --model_name fraud \
        --model_source models:/shipyard-fraud@champion --http_port 8080
"""

import argparse
import os

from kserve import model_server

from shipyard.serving.server import serve_predictor
from shipyard.settings import get_settings

DEFAULT_SOURCE = os.environ.get("SHIPYARD_MODEL_SOURCE", "/mnt/models")


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve",
                                     description="Shipyard KServe v2 predictor")
    parser.add_argument("--model_source", default=DEFAULT_SOURCE,
                        help="models:/name@alias, models:/name/N, or a bundle folder "
                             "(KServe mounts storageUri at /mnt/models)")
    parser.add_argument("--host", default=settings.serve_host,
                        help="address to listen on (0.0.0.0 in a pod)")
    args, _ = parser.parse_known_args()
    serve_predictor(args.model_source, args.model_name, args.host, args.http_port,
                    args.grpc_port, enable_grpc=args.enable_grpc, workers=1,
                    max_threads=args.max_threads)


if __name__ == "__main__":
    main()
