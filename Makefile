# Summit — the two commands: `make run` (the whole platform on local defaults) and `make test`.
# Both first make sure PostgreSQL, RabbitMQ and Redis answer on loopback (starting or
# installing them from Debian's packages where needed).

SHELL := /bin/bash
CARGO ?= cargo
# The superuser role deploy/local/servers.sh creates; tests create a database each from it.
# Test-only: `make run` gives each service its own database and role (deploy/local/run.sh).
TEST_DATABASE_URL ?= postgres://summit:summit@127.0.0.1:5432/postgres

.PHONY: run test servers databases build fmt lint ci bench bench-bus bench-herd bench-search

run: servers databases build
	@bash deploy/local/run.sh

test: export DATABASE_URL ?= $(TEST_DATABASE_URL)
test: servers
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

ci: lint test

bench: bench-bus bench-herd bench-search

bench-bus: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-bus: servers
	$(CARGO) bench -p bus --bench bus

bench-herd:
	$(CARGO) bench -p resilience --bench herd

bench-search: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench-search: servers
	$(CARGO) bench -p catalog --bench search
