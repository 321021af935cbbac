# Summit — the two commands: `make run` (the whole platform on local defaults) and `make test`.
# Both first make sure PostgreSQL, RabbitMQ and Redis answer on loopback (starting or
# installing them from Debian's packages where needed).

SHELL := /bin/bash
CARGO ?= cargo
VENV ?= .venv
MANIFEST_TOOLS := yamllint==1.38.0 kubernetes-validate==1.37.0
# The API fuzzer the platform tests run against every service's /openapi.json
# (tests/platform/tests/it/api_fuzzing.rs finds it at $(VENV)/bin/schemathesis).
API_FUZZER := schemathesis==4.32.5
# The superuser role deploy/local/servers.sh creates; tests create a database each from it.
# Test-only: `make run` gives each service its own database and role (deploy/local/run.sh).
TEST_DATABASE_URL ?= postgres://summit:summit@127.0.0.1:5432/postgres

.PHONY: run test servers databases build fmt lint lint-manifests ci bench bench-bus bench-outbox bench-herd bench-search bench-payments bench-checkout bench-notifications bench-orders bench-web

run: servers databases build
	@bash deploy/local/run.sh

test: export DATABASE_URL ?= $(TEST_DATABASE_URL)
test: servers $(VENV)/.api-fuzzer
	@# Service binaries first: the platform tests start them as processes.
	$(CARGO) build --workspace --bins
	@if command -v cargo-nextest >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

servers:
	@bash deploy/local/servers.sh

databases: servers
	@bash deploy/local/databases.sh

build:
	$(CARGO) build --workspace --bins

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# deploy/: yamllint on every YAML file (.yamllint), and the core Kubernetes kinds checked
# against the API's schemas, unknown fields failing (--strict). The operators' kinds
# (RabbitmqCluster, Exchange, Queue, Binding, Policy; CloudNativePG Cluster, Pooler,
# ScheduledBackup) have no schema there: --no-warn skips them instead of warning.
lint-manifests: $(VENV)/.manifest-tools
	$(VENV)/bin/yamllint --strict deploy
	$(VENV)/bin/kubernetes-validate --strict --no-warn --quiet deploy/k8s/*.yaml

# The Python tools live in a virtualenv under the repository (gitignored), from PyPI. A fresh
# Debian 12 has python3 but not always python3-venv (venv without ensurepip): install it first.
$(VENV)/bin/pip:
	@if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then \
		echo "venv: installing python3-venv"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null; \
	fi
	python3 -m venv $(VENV)

$(VENV)/.manifest-tools: $(VENV)/bin/pip
	$(VENV)/bin/pip install -q --disable-pip-version-check $(MANIFEST_TOOLS)
	@touch $@

# The marker names the pinned version: changing API_FUZZER reinstalls.
$(VENV)/.api-fuzzer: $(VENV)/bin/pip Makefile
	$(VENV)/bin/pip install -q --disable-pip-version-check $(API_FUZZER)
	$(VENV)/bin/schemathesis --version
	@touch $@

ci: lint lint-manifests test

bench: bench-bus bench-outbox bench-herd bench-search bench-payments bench-checkout bench-notifications bench-orders bench-web

bench-bus: servers
	$(CARGO) bench -p bus --bench bus

bench-outbox: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-outbox: servers
	$(CARGO) bench -p outbox --bench outbox

bench-herd:
	$(CARGO) bench -p resilience --bench herd

bench-search: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-search: servers
	$(CARGO) bench -p catalog --bench search

bench-payments: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-payments: servers
	$(CARGO) bench -p payments --bench payments

# pgbench (Debian's postgresql-client, installed with PostgreSQL) measures the ceiling.
bench-checkout: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-checkout: servers
	$(CARGO) bench -p checkout --bench checkout

# From event published to delivery recorded, email (the local maildev) and webhook.
bench-notifications: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-notifications: servers
	$(CARGO) bench -p notifications --bench notifications

# The whole platform as release processes (the bench finds them beside itself in
# target/release); pgbench measures the ceiling.
bench-orders: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-orders: servers
	$(CARGO) build --release --workspace --bins
	$(CARGO) bench -p platform-tests --bench orders

# The web edge's cost per page (home, search, product, status) over calling catalog and
# checkout directly: the release binaries the bench starts, built first.
bench-web: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-web: servers
	$(CARGO) build --release -p catalog -p checkout -p storefront --bins
	$(CARGO) bench -p storefront --bench web
