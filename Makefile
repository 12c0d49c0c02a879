# Developer tasks for drift-guard itself, plus drift-guard.mk (the fragment projects include) run
# against the bundled examples: `make migrate-status`, `make migrate NAME=x EXAMPLE=examples/sql`.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

##@ EXAMPLE            the example project the drift-guard.mk targets work on (default examples/sql)
EXAMPLE ?= examples/sql
DRIFT_GUARD := node $(CURDIR)/dist/cli.js --config $(CURDIR)/$(EXAMPLE)/.drift-guard.yml
include drift-guard.mk
# A plain `make` lists the targets (drift-guard.mk leaves the default goal to the including Makefile).
.DEFAULT_GOAL := help

.PHONY: install build typecheck test bench ci demo

install: ## Install dependencies (npm ci)
	npm ci

build: ## Bundle dist/ and regenerate schema/drift-guard.schema.json
	npm run build

typecheck: ## tsc --noEmit
	npm run typecheck

test: ## Build, then run the test suite against real PostgreSQL
	npm test

demo: ## The PR gate on the bundled SQL example, with embedded PostgreSQL
	npm run demo

bench: ## Benchmarks: scratch start-up, applying 300 migrations, schema diff, the gate (ratios in the same run)
	npm run bench:startup
	npm run bench:sql
	npm run bench:diff
	npm run bench:check

ci: ## What CI runs (.ci/run)
	bash .ci/run
