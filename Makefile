# One entry point for people and CI. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := $(shell cat .python-version)
UV_VERSION := 0.13.8
# uv from PATH when it is there, else a private copy installed from PyPI into .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
# Python 3.13 (Lambda's python3.13): an installed one, else one uv fetches where it can.
export UV_PYTHON ?= $(PYTHON_VERSION)
export UV_PYTHON_DOWNLOADS ?= automatic
RUN := $(UV) run --frozen
SAM := $(UV) tool run --from aws-sam-cli==1.170.0 sam
# A security scanner over template.yaml, installed on first use like SAM (not in uv.lock's dev group:
# it pins its own dependency tree). Every skip is in the template, next to its resource, with its
# reason; --skip-download keeps it off the network (it would fetch Prisma Cloud's guideline links).
CHECKOV := $(UV) tool run --from checkov==3.3.30 checkov
# The config that ships in the build and is deployed (`make deploy CONFIG=community.toml`).
CONFIG ?= relay.toml

ifeq ($(filter $(PYTHON_VERSION) $(PYTHON_VERSION).% python$(PYTHON_VERSION) cpython-$(PYTHON_VERSION)%,$(UV_PYTHON)),)
$(error UV_PYTHON=$(UV_PYTHON): northca-relay runs on Python $(PYTHON_VERSION) only (Lambda's python$(PYTHON_VERSION)); unset UV_PYTHON)
endif

.PHONY: help dev run test lint format typecheck template unit integration e2e soak bench build deps \
	check-config deploy clean gamenight

help:
	@echo "make run    - run the relay locally (moto + Northca emulator) with a demo config (ARGS=\"--port 3100\")"
	@echo "make test   - lint, types, template checks and the whole test suite"
	@echo "make bench  - benchmarks, each next to its baseline"
	@echo "make gamenight - a simulated game night through relay local, measured against what a dispatcher should see"
	@echo "make build  - check \$$(CONFIG) (relay doctor --offline), sam build (arm64, no Docker), ship it with bytecode"
	@echo "make deploy - credentials and checks first, then make build and sam deploy (GUIDED=1 the first time)"

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	@$(UV) sync --frozen || { echo; \
	  echo "make: could not set up .venv with Python $(PYTHON_VERSION). Get Python $(PYTHON_VERSION) with one of:"; \
	  echo "  $(UV) python install $(PYTHON_VERSION)      (where uv can download it)"; \
	  echo "  apt-get install python$(PYTHON_VERSION)     (Debian/Ubuntu, if your release has it)"; \
	  echo "  brew install python@$(PYTHON_VERSION) | pyenv install $(PYTHON_VERSION) | https://www.python.org/downloads/"; \
	  echo "then run make again."; exit 1; }
	@touch $@

dev: .venv/.synced

# ARGS go to relay local as they are: make run ARGS="--port 3100 --emulator-port 4110" (`relay local --help`).
run: dev
	$(RUN) relay local --config $(CONFIG) --secrets relay.secrets.toml $(ARGS)

lint: dev
	$(RUN) ruff format --check .
	$(RUN) ruff check .

format: dev
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: dev
	$(RUN) mypy

# `sam validate --lint` runs cfn-lint only; plain `sam validate` runs SAM's transform (offline).
template: dev
	$(RUN) cfn-lint template.yaml
	AWS_DEFAULT_REGION=eu-west-1 $(SAM) validate --lint
	AWS_DEFAULT_REGION=eu-west-1 AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline $(SAM) validate
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download

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

# A simulated game night (docs/gamenight.md): a few minutes against relay local, a report at the end.
# GAMENIGHT_ARGS="--tree ../other-checkout --json --out night.json" measures another checkout the same way.
gamenight: dev
	$(RUN) python -m relay_devtools.gamenight $(GAMENIGHT_ARGS)

# Lambda layer requirements come from the lock file (boto3 is in the Lambda runtime).
deps: dev
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --no-header --no-annotate > layers/deps/requirements.txt

# The offline checks of relay doctor: a config that would fail at the first request is never built.
check-config: dev
	$(RUN) relay doctor --config $(CONFIG) --offline

build: deps check-config
	$(SAM) build --parallel
	@echo "(sam's 'requirements.txt file not found' is expected: the functions' dependencies are in the layer, layers/deps/;"
	@echo " its 'Deploy: sam deploy --guided' hint is not the way here: make deploy GUIDED=1 asks the relay's questions)"
	$(RUN) relay ship-config --config $(CONFIG)
	$(RUN) relay bytecode

# relay deploy checks the credentials, asks GUIDED=1's questions and runs the pre-flight before it runs
# the build, then sam deploy (SAM through uv as for build; PartnerKeySecretName from $(CONFIG): relay
# deploy --dry-run shows it). DEPLOY_ARGS="--alarm-email me@example.org" and the like go to relay deploy.
# (`make`, not $(MAKE): a line naming $(MAKE) runs even under make -n.)
deploy: dev
	$(RUN) relay deploy --config $(CONFIG) --sam "$(SAM)" --build "make --no-print-directory build CONFIG=$(CONFIG)" $(if $(GUIDED),--guided) $(DEPLOY_ARGS)

clean:
	rm -rf .venv .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
