# One entry point for people and CI. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := $(shell cat .python-version)
UV_VERSION := 0.13.8
# uv from PATH when it is there, else a private copy installed from PyPI into .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON_VERSION)
RUN := $(UV) run --frozen
SAM := $(UV) tool run --from aws-sam-cli==1.170.0 sam

.PHONY: help dev run test lint format typecheck template unit integration e2e soak bench build deps clean

help:
	@echo "make run    - run the relay locally (moto + Northca emulator) with a demo config"
	@echo "make test   - lint, types, template checks and the whole test suite"
	@echo "make bench  - benchmarks, each next to its baseline"
	@echo "make build  - sam build (arm64, no Docker)"

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

dev: .venv/.synced

run: dev
	$(RUN) relay local --config relay.toml --secrets relay.secrets.toml

lint: dev
	$(RUN) ruff format --check .
	$(RUN) ruff check .

format: dev
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: dev
	$(RUN) mypy

template: dev
	$(RUN) cfn-lint template.yaml
	AWS_DEFAULT_REGION=eu-west-1 $(SAM) validate --lint

unit: dev
	$(RUN) pytest tests/unit

integration: dev
	$(RUN) pytest tests/integration

e2e: dev
	$(RUN) pytest tests/e2e

test: lint typecheck template
	$(RUN) pytest

soak: dev
	$(RUN) pytest tests/integration/test_soak.py --soak-full -s

bench: dev
	$(RUN) python -m relay_devtools.bench

# Lambda layer requirements come from the lock file (boto3 is in the Lambda runtime).
deps: dev
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --no-header --no-annotate > layers/deps/requirements.txt

build: deps
	$(SAM) build --parallel

clean:
	rm -rf .venv .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
