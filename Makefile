# Two commands do everything on a fresh machine (each sets up what is missing first):
#   make run    the whole TFX pipeline on the bundled Chicago-taxi sample
#   make test   lint + the whole test suite (what CI runs)
PYTHON_BIN ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-fast lint bench lock help

help:  ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup:  ## Create .venv and install the locked stack (seconds when already done)
	@PYTHON=$(PYTHON_BIN) infra/setup.sh

run: setup  ## Run the pipeline on the bundled default data with embedded defaults
	$(VENV)/bin/mlops run

test: setup  ## Lint, then every test (unit, end-to-end, browser, notebooks)
	@PYTHON=$(PYTHON_BIN) infra/setup.sh --browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

test-fast: setup  ## Only the fast tests (no pipeline runs, no servers)
	$(PY) -m pytest -m "not slow"

lint: setup  ## ruff
	$(VENV)/bin/ruff check .

bench: setup  ## Benchmarks; figures go to bench/RESULTS.md by hand
	$(PY) bench/pipeline_vs_reference.py

lock: setup  ## Re-resolve infra/requirements.in into infra/requirements.lock
	$(VENV)/bin/uv pip compile infra/requirements.in --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 -o infra/requirements.lock
