# Shipyard's drift detector sidecar (receives KServe logger CloudEvents). Build from the root:
#   docker build -f kserve/drift.Dockerfile -t shipyard-drift:0.1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/shipyard \
    PATH=/opt/shipyard/bin:$PATH \
    SHIPYARD_HOME=/tmp/shipyard \
    SHIPYARD_SERVE_HOST=0.0.0.0

RUN pip install --no-cache-dir uv==0.13.9 \
    && groupadd --gid 1000 shipyard && useradd --uid 1000 --gid 1000 --create-home shipyard

WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev
COPY kserve/drift_server.py /app/drift_server.py

USER 1000:1000
EXPOSE 8082
ENTRYPOINT ["python", "/app/drift_server.py"]
