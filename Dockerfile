# The project image, one for everything: every KFP component runs in it (base_image of each
# *_op.py), the InferenceService's predictor (`shipyard-predictor`, the ServingRuntime's
# command) and drift sidecar (`shipyard-drift`), and `shipyard trigger`. Runtime dependencies
# only (`--no-dev`: no test or lint tools, no Vertex extra). Build from the repository root:
#   docker build -t <registry>/shipyard:0.1.0 .
# then compile with SHIPYARD_IMAGE=<registry>/shipyard:0.1.0 make compile.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/shipyard \
    PATH=/opt/shipyard/bin:$PATH \
    SHIPYARD_HOME=/tmp/shipyard

RUN pip install --no-cache-dir uv==0.13.9 \
    && groupadd --gid 1000 shipyard && useradd --uid 1000 --gid 1000 --create-home shipyard

WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev
# The compiled training pipeline, for `shipyard trigger` (it submits it on alerts).
COPY components ./components
COPY pipelines ./pipelines
RUN mkdir -p /opt/shipyard/pipelines \
    && shipyard --project /src compile --output /opt/shipyard/pipelines/training_pipeline.yaml

ARG GIT_COMMIT=unknown
ENV SHIPYARD_GIT_COMMIT=$GIT_COMMIT
USER 1000:1000
WORKDIR /home/shipyard
# predictor HTTP + gRPC, drift sidecar, trigger
EXPOSE 8080 8081 8082 8090
