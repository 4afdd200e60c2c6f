# ecrctl: `make demo` and `make test` do every set-up step on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Offline terraform provider mirror (a directory holding registry.terraform.io/hashicorp/aws).
ECRCTL_PROVIDER_MIRROR ?= $(shell scripts/find-provider-mirror)
export ECRCTL_PROVIDER_MIRROR

.PHONY: install test lint unit e2e demo demo-down bench clean
# Backstage's own entity validator (@backstage/catalog-model), used by the tests.
NODE_VALIDATOR := tests/backstage/node_modules/.installed

$(BIN)/ecrctl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/ecrctl

$(NODE_VALIDATOR): tests/backstage/package.json tests/backstage/package-lock.json
	npm ci --prefix tests/backstage --no-audit --no-fund
	touch $@

lint: install
	$(BIN)/ruff check orchestrator tests
	$(BIN)/ruff format --check orchestrator tests
	$(BIN)/mypy

test: install lint $(NODE_VALIDATOR)
	$(BIN)/pytest -q

unit: install $(NODE_VALIDATOR)
	$(BIN)/pytest -q -m "not e2e"

e2e: install $(NODE_VALIDATOR)
	$(BIN)/pytest -q -m e2e

# The realistic (mixed) fleet at 10, 100 and 1000; e.g. make bench BENCH_ARGS="--sizes 10,100".
BENCH_ARGS ?= --sizes 10,100,1000 --repeats 3
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

demo: install
	scripts/demo.sh

demo-down: install
	ECRCTL_ROOT=$(CURDIR)/.ecrctl/demo $(BIN)/ecrctl local down

clean:
	rm -rf .ecrctl .pytest_cache .mypy_cache .ruff_cache
