# Developer tasks for drift-guard itself. (The Makefile fragment for projects that use drift-guard,
# drift-guard.mk, arrives with the Makefile-toolkit issue.)
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

.PHONY: help install build typecheck test bench ci

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-10s %s\n", $$1, $$2 }'

install: ## install dependencies (npm ci)
	npm ci

build: ## bundle dist/cli.js and regenerate schema/drift-guard.schema.json
	npm run build

typecheck: ## tsc --noEmit
	npm run typecheck

test: ## build, then run the test suite against real PostgreSQL
	npm test

bench: ## benchmarks: scratch start-up, and applying 300 migrations (ratios in the same run)
	npm run bench:startup
	npm run bench:sql

ci: ## what CI runs (.ci/run)
	bash .ci/run
