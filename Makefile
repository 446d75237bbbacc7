# attls-portal. A newcomer needs two targets: `make demo` and `make test`.
# Each installs what is missing first (scripts/bootstrap.sh), so they work on a
# fresh Debian machine; with everything present that check takes seconds.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: demo
demo: bootstrap ## run the portal with worker, beat and Redis on http://127.0.0.1:8000
	@scripts/demo.sh

# pytest-xdist: one test process per core; --dist loadscope keeps each module (and so its
# module-scoped lparsim) on one process. TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= auto

.PHONY: test
test: lint ## every check CI runs: lint, then pytest
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope

.PHONY: lint
lint: bootstrap ## ruff (lint + format check), mypy, import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: bench
bench: bootstrap ## run every bench/*_bench.py; fails when any benchmark misses its target
	@status=0; found=0; \
	for bench in bench/*_bench.py; do \
		[[ -e $$bench ]] || continue; found=1; \
		echo "==> $$bench"; \
		$(BIN)/python "$$bench" || { echo "FAILED: $$bench"; status=1; }; \
	done; \
	(( found )) || echo "no bench/*_bench.py found"; \
	exit $$status

.PHONY: format
format: bootstrap ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: bootstrap
bootstrap: ## install missing Debian packages, the venv and Python dependencies
	@scripts/bootstrap.sh

.PHONY: redis
redis: ## start our own Redis when nothing answers at CELERY_BROKER_URL
	@scripts/ensure_redis.sh start

.PHONY: redis-stop
redis-stop: ## stop the Redis that `make redis` or `make demo` started (by its PID)
	@scripts/ensure_redis.sh stop

.PHONY: migrate
migrate: bootstrap ## apply database migrations
	$(BIN)/python manage.py migrate

.PHONY: serve
serve: bootstrap ## the web tier with production settings: gunicorn + WhiteNoise on https://127.0.0.1:8443
	@scripts/serve.sh

.PHONY: lock
lock: ## regenerate requirements.lock (pinned, with hashes) from pyproject.toml
	@scripts/lock.sh
