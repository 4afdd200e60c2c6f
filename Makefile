# ecrctl: `make demo` and `make test` do every set-up step on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Offline terraform provider mirror (a directory holding registry.terraform.io/hashicorp/aws).
ECRCTL_PROVIDER_MIRROR ?= $(shell scripts/find-provider-mirror)
export ECRCTL_PROVIDER_MIRROR

.PHONY: install lock test lint unit integration e2e workflows demo demo-down bench clean
# Backstage's own entity validator (@backstage/catalog-model), used by the tests.
NODE_VALIDATOR := tests/backstage/node_modules/.installed
# Backstage's own catalog backend (tests/backstage-backend/), started by the e2e tests. Its
# better-sqlite3 builds from source: node-gyp gets the installed node headers, not a download.
NODE_BACKEND := tests/backstage-backend/node_modules/.installed
NODE_HEADERS ?= $(if $(wildcard /usr/include/node/node.h),/usr,)

# Every Python package at the version and hash of the lock (requirements/test.txt), ecrctl itself
# with the locked setuptools (no build isolation, so nothing unpinned is fetched for the build).
$(BIN)/ecrctl: pyproject.toml requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements/test.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
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

# The lock files, from pyproject.toml: requirements/test.txt (ecrctl, its tests, the build backend)
# and requirements/ci.txt (what the workflows install), the same versions in both, every file's
# sha256. `make lock` keeps the pins that still satisfy pyproject.toml; to move to the newest
# versions: make lock LOCK_ARGS=--upgrade (or --upgrade-package NAME). Needs PyPI.
PIP_TOOLS := pip-tools==7.6.2
LOCK_ARGS ?=
COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile -q --generate-hashes --allow-unsafe \
  --all-build-deps --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock: install
	$(BIN)/pip install -q '$(PIP_TOOLS)'
	$(COMPILE) --extra test -o requirements/test.txt pyproject.toml
	$(COMPILE) -c requirements/test.txt -o requirements/ci.txt pyproject.toml

# A test's kind is its directory (tests/unit, tests/integration, tests/e2e, tests/workflows);
# see README.
unit: install
	$(BIN)/pytest -q tests/unit

integration: install $(NODE_VALIDATOR)
	$(BIN)/pytest -q tests/integration

e2e: install $(NODE_VALIDATOR) $(NODE_BACKEND)
	$(BIN)/pytest -q tests/e2e

# Every workflow file run by act, offline, against the emulator (docs/CI.md).
workflows: install
	$(BIN)/pytest -q tests/workflows

# The realistic (mixed) fleet at 10, 100, 1000 and 2000, each on one state and on shards of ~64
# (N=2000 on shards only: one state there adds about an hour); about 2 hours, bench/README.md.
# e.g. make bench BENCH_ARGS="--sizes 10,100".
BENCH_ARGS ?= --sizes 10,100,1000,2000 --repeats 3 --one-state-max 1000
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
