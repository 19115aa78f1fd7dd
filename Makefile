# streak-erp-sync: every set-up step lives here so a fresh machine needs only `make run` / `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := unixodbc unixodbc-dev odbc-postgresql libsqliteodbc docker-compose
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export PYTHONPATH := $(CURDIR):$(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export GX_ANALYTICS_ENABLED := false

.PHONY: install apt run up down test lint format bench chaos clean

install: $(VENV)/.installed

# System packages for ODBC (SYSPRO / GP / Sage 50 connectors). Installed only when running as root
# and only when missing; otherwise a note says what to install.
apt:
	@if odbcinst -q -d 2>/dev/null | grep -q SQLite3 && odbcinst -q -d | grep -q "PostgreSQL Unicode" && command -v docker-compose >/dev/null; then \
		echo "apt packages present"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	else \
		echo "NOTE: install these system packages for ODBC: $(APT_PACKAGES)"; \
	fi

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(MAKE) --no-print-directory apt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@touch $@

## The main job end to end on the embedded default (SQLite + local sandboxes).
run: install
	$(BIN)/python -m sandbox.demo run

## Airflow UI on 127.0.0.1:8080 with the sandboxes (Ctrl-C or `make down` stops everything).
up: install
	$(BIN)/python -m sandbox.demo up

down:
	-@$(BIN)/python -m sandbox.demo down

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.run_bench

## Chaos run: the sync DAGs again and again under random sandbox faults; fails unless duplicates = 0,
## lost = 0 and the ERP state equals a clean run's. Knobs: CHAOS_RUNS (12), CHAOS_RATE (0.15),
## CHAOS_SEED, CHAOS_NEW_BOXES, CHAOS_BOXES, CHAOS_CLIENT_ATTEMPTS, CHAOS_TASK_RETRIES.
chaos: install
	AIRFLOW_HOME=$(CURDIR)/.airflow-chaos $(BIN)/python -m tests.chaos.runner

clean:
	rm -rf $(AIRFLOW_HOME) .airflow-test .airflow-chaos bench/out
