# ecrctl: `make demo` and `make test` do every set-up step on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Offline terraform provider mirror (a directory holding registry.terraform.io/hashicorp/aws).
ECRCTL_PROVIDER_MIRROR ?= $(shell scripts/find-provider-mirror)
export ECRCTL_PROVIDER_MIRROR

.PHONY: install test lint unit integration e2e demo demo-down bench clean
# Backstage's own entity validator (@backstage/catalog-model), used by the tests.
NODE_VALIDATOR := tests/backstage/node_modules/.installed
# Backstage's own catalog backend (tests/backstage-backend/), started by the e2e tests. Its
# better-sqlite3 builds from source: node-gyp gets the installed node headers, not a download.
NODE_BACKEND := tests/backstage-backend/node_modules/.installed
NODE_HEADERS ?= $(if $(wildcard /usr/include/node/node.h),/usr,)

$(BIN)/ecrctl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/ecrctl

$(NODE_VALIDATOR): tests/backstage/package.json tests/backstage/package-lock.json
	npm ci --prefix tests/backstage --no-audit --no-fund
	touch $@

$(NODE_BACKEND): tests/backstage-backend/package.json tests/backstage-backend/package-lock.json
	$(if $(NODE_HEADERS),npm_config_nodedir=$(NODE_HEADERS)) \
	  npm ci --prefix tests/backstage-backend --no-audit --no-fund
	touch $@

lint: install
	$(BIN)/ruff check orchestrator tests
	$(BIN)/ruff format --check orchestrator tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: install lint $(NODE_VALIDATOR) $(NODE_BACKEND)
	$(BIN)/pytest -q

# A test's kind is its directory (tests/unit, tests/integration, tests/e2e); see README.
unit: install
	$(BIN)/pytest -q tests/unit

integration: install $(NODE_VALIDATOR)
	$(BIN)/pytest -q tests/integration

e2e: install $(NODE_VALIDATOR) $(NODE_BACKEND)
	$(BIN)/pytest -q tests/e2e

# The realistic (mixed) fleet at 10, 100 and 1000; e.g. make bench BENCH_ARGS="--sizes 10,100".
BENCH_ARGS ?= --sizes 10,100,1000 --repeats 3
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/adopt.py --sizes 100,500

demo: install
	scripts/demo.sh

demo-down: install
	ECRCTL_ROOT=$(CURDIR)/.ecrctl/demo $(BIN)/ecrctl local down

# Stop the demo emulator first: deleting its pid file would leave moto listening on its port.
clean:
	if [ -x $(BIN)/ecrctl ] && [ -d .ecrctl/demo ]; then ECRCTL_ROOT=$(CURDIR)/.ecrctl/demo $(BIN)/ecrctl local down; fi
	rm -rf .ecrctl .pytest_cache .mypy_cache .ruff_cache
