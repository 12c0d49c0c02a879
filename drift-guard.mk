# drift-guard.mk: the migration workflow as make targets. Include it from a project's Makefile:
#
#     include node_modules/drift-guard/drift-guard.mk
#
# `make help` lists the targets and variables. Every target calls the drift-guard CLI, which reads
# .drift-guard.yml; URLs come from the environment, never from make's command line (where `ps`
# would show their passwords). GNU make 4 or newer.
#
# The default goal stays the including Makefile's: its first target, or the .DEFAULT_GOAL it sets
# (a Makefile that holds only this include should add `.DEFAULT_GOAL := help`). The variables
# below (the ##@ lines) are the only ones defined without a prefix, each with ?= so a value set
# before the include or on make's command line wins; the fragment's own helpers start with _dg_.

ifeq ($(filter 4.% 5.%,$(MAKE_VERSION)),)
$(error drift-guard.mk needs GNU make 4 or newer (this is $(MAKE_VERSION)))
endif

# Remember the includer's default goal: this fragment's first rule must not take it (restored at the end).
_dg_default_goal := $(.DEFAULT_GOAL)

##@ DRIFT_GUARD        how to run drift-guard (default: npx --no-install drift-guard)
DRIFT_GUARD ?= npx --no-install drift-guard
##@ NAME               migrate: the new migration's name, e.g. NAME=add_orders
NAME ?=
##@ TO                 migrate-apply, migrate-rollback, migrate-script, baseline: a migration to stop at (rollback: 0 = all)
TO ?=
##@ FROM               migrate-script: start after this migration
FROM ?=
##@ STEPS              migrate-rollback: how many migrations to roll back (default 1)
STEPS ?=
##@ FILE               restore-db: the backup (.dump) to restore
FILE ?=
##@ PROD               restore-db, baseline: PROD=1 works on production instead of DATABASE_URL
PROD ?=
##@ CONFIRM            migrate-prod, restore-db, baseline: CONFIRM=YES answers the confirmation (automation)
CONFIRM ?=
##@ BACKUP_DIR         migrate-prod, backup-prod-db: where backups go (default: production.backup-dir)
BACKUP_DIR ?=
##@ KEEP               migrate-prod, backup-prod-db: backups to keep (default: production.keep)
KEEP ?=
##@ HEALTH_URL         migrate-prod: HTTP endpoints that must answer 2xx afterwards (space-separated)
HEALTH_URL ?=
##@ ALLOW_DRIFT        migrate-prod: ALLOW_DRIFT=1 deploys even when production has drifted
ALLOW_DRIFT ?=
##@ ROLLBACK_ON_FAILURE migrate-prod: ROLLBACK_ON_FAILURE=1 rolls back when a step after the apply fails
ROLLBACK_ON_FAILURE ?=
##@ FORCE              db-reset: FORCE=1 resets a database that is not on this machine
FORCE ?=
##@ DATABASE_URL       (environment) the development database
##@ PROD_DATABASE_URL  (environment) production (the variable production.url-env names)

# Values reach the recipes as data: exported as environment variables ($(value ...): make does not
# expand what they contain either) and used as "$$_DG_X" in the shell, which never parses them as
# commands. NAME="x'; touch /tmp/p; echo '" is a name like any other; an apostrophe just works.
export _DG_NAME = $(value NAME)
export _DG_TO = $(value TO)
export _DG_FROM = $(value FROM)
export _DG_STEPS = $(value STEPS)
export _DG_FILE = $(value FILE)
export _DG_BACKUP_DIR = $(value BACKUP_DIR)
export _DG_KEEP = $(value KEEP)
export _DG_HEALTH_URL = $(value HEALTH_URL)
# Not exported themselves: exporting expands them (a $(shell ...) in one would run).
unexport NAME TO FROM STEPS FILE BACKUP_DIR KEEP HEALTH_URL

# Flags built from the variables above; empty variables add nothing (${X:+...} in the shell).
_dg_yes = $(if $(filter YES,$(value CONFIRM)),--yes)
_dg_prod = $(if $(filter 1 yes true,$(value PROD)),--production)
_dg_backup = $${_DG_BACKUP_DIR:+--backup-dir "$$_DG_BACKUP_DIR"} $${_DG_KEEP:+--keep "$$_DG_KEEP"}
_dg_to = $${_DG_TO:+--to "$$_DG_TO"}

.PHONY: help migrate migrate-apply migrate-status migrate-script migrate-rollback db-reset \
	migrate-prod migrate-prod-status backup-prod-db restore-db drift-check baseline

help: ## List the targets and the variables they read
	@awk 'BEGIN { FS = ":.*## " } \
	  /^[a-zA-Z0-9_-]+:.*## / { printf "  make %-22s %s\n", $$1, $$2; next } \
	  /^##@ / { sub(/^##@ /, ""); vars = vars "  " $$0 "\n" } \
	  END { printf "\nvariables:\n%s", vars }' $(MAKEFILE_LIST)

migrate: ## Create the next migration (NAME=...) and apply it to DATABASE_URL
	@test -n "$$_DG_NAME" || { echo 'make migrate needs NAME, e.g. make migrate NAME=add_orders' >&2; exit 2; }
	$(DRIFT_GUARD) new "$$_DG_NAME"
	$(DRIFT_GUARD) migrate

migrate-apply: ## Apply pending migrations to DATABASE_URL (TO=... stops there)
	$(DRIFT_GUARD) migrate $(_dg_to)

migrate-status: ## Show applied and pending migrations of DATABASE_URL
	$(DRIFT_GUARD) status

migrate-script: ## Print the SQL of the migrations for review (FROM=..., TO=...)
	$(DRIFT_GUARD) script $${_DG_FROM:+--from "$$_DG_FROM"} $(_dg_to)

migrate-rollback: ## Roll back DATABASE_URL: the newest migration, STEPS=n of them, or TO=...
	$(DRIFT_GUARD) rollback $(if $(value TO),$(_dg_to),$${_DG_STEPS:+--steps "$$_DG_STEPS"})

db-reset: ## Development: empty DATABASE_URL and apply every migration (FORCE=1 for a non-local host)
	$(DRIFT_GUARD) reset $(if $(filter 1 yes true,$(value FORCE)),--force)

migrate-prod: ## Deploy to production: confirm, lock, drift check, verified backup, apply, verify, health check
	set -f; set --; for url in $$_DG_HEALTH_URL; do set -- "$$@" --health-url "$$url"; done; \
	  $(DRIFT_GUARD) deploy $(_dg_yes) $(_dg_backup) $(if $(filter 1 yes true,$(value ALLOW_DRIFT)),--allow-drift) \
	  $(if $(filter 1 yes true,$(value ROLLBACK_ON_FAILURE)),--rollback-on-failure) "$$@"

migrate-prod-status: ## Show applied and pending migrations of production
	$(DRIFT_GUARD) status --production

backup-prod-db: ## A verified pg_dump backup of production (BACKUP_DIR, KEEP)
	$(DRIFT_GUARD) backup $(_dg_backup)

restore-db: ## Restore FILE=... into DATABASE_URL (PROD=1: production), in one transaction
	@test -n "$$_DG_FILE" || { echo 'make restore-db needs FILE, e.g. make restore-db FILE=backups/shop-20260101T000000.000Z.dump' >&2; exit 2; }
	$(DRIFT_GUARD) restore "$$_DG_FILE" $(_dg_prod) $(_dg_yes)

drift-check: ## Model vs migrations, repo vs production history, production schema vs expected
	$(DRIFT_GUARD) drift

baseline: ## Record the migrations (up to TO=...) in a database that has their schema but no history
	$(DRIFT_GUARD) baseline $(_dg_to) $(_dg_prod) $(_dg_yes)

# The includer's default goal again; empty when the include comes before its first rule, so that rule becomes it.
.DEFAULT_GOAL := $(_dg_default_goal)
