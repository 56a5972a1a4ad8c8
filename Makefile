# aidot's developer commands. `make help` lists them; CI runs `make lint` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.DEFAULT_GOAL := help
.PHONY: help install dev demo lint test test-deep bench bench-env compare all

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: ## Build and install aidot into the current Python
	$(PIP) install .

dev: ## Editable install with every development tool (tests, benchmarks, linters)
	$(PIP) install -e '.[dev]'

demo: install ## Install, then run the main job
	aidot demo

lint: ## Formatting, lints and type checks for Rust and Python
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	! cargo tree -p aidot-core --edges normal | grep -q pyo3  # the core stays pure Rust
	$(PYTHON) -m ruff check python tests benches examples
	$(PYTHON) -m ruff format --check python tests benches examples
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest aidot._core  # the hand-written stubs match the built module

test: ## Install with test extras, then run every Rust and Python test
	$(PIP) install -e '.[test]'
	cargo test --workspace --exclude aidot-python
	$(PYTHON) -m pytest

test-deep: ## The model-based tests of every store with many more random sequences (minutes)
	AIDOT_HYPOTHESIS_PROFILE=deep $(PYTHON) -m pytest -k model_based

BENCH_VENV ?= .bench-venv

bench-env: ## Install the peers compared with (dvc, mlflow, wandb, safetensors, FastAPI, LitServe, BentoML, Optuna; wrk, nginx) apart from aidot
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q dvc mlflow wandb safetensors numpy fastapi uvicorn litserve bentoml
	# Optuna with what its GPSampler needs (torch) and uses to batch its L-BFGS-B (greenlet).
	$(BENCH_VENV)/bin/pip install -q optuna scipy cmaes greenlet torch
	command -v wrk >/dev/null && command -v nginx >/dev/null || apt-get install -y -qq wrk nginx-light

bench: ## Run the benchmarks with their baselines (slow; see docs/benchmarks.md)
	$(PIP) install -e '.[bench]'
	cargo bench -p aidot-core
	AIDOT_BENCH_DVC=$${AIDOT_BENCH_DVC:-$(wildcard $(BENCH_VENV)/bin/dvc)} \
	AIDOT_BENCH_PEERS_PYTHON=$${AIDOT_BENCH_PEERS_PYTHON:-$(wildcard $(BENCH_VENV)/bin/python)} \
		$(PYTHON) -m pytest benches -s

compare: ## Install the peers, rerun every side-by-side benchmark, write docs/comparison.md (ONLY=ui,tuning K=expr QUICK=1)
	$(PIP) install -e '.[bench]'
	$(PYTHON) -m benches.compare $(if $(ONLY),--only $(ONLY)) $(if $(K),-k '$(K)') $(if $(QUICK),--quick)

all: lint test ## Lint, then test
