# Two commands for a fresh machine:
#   make demo   install, then generate the demo data, load it and build everything (Dagster)
#   make test   install, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_PROFILES_DIR := $(CURDIR)/dbt_project

.PHONY: demo test test-spark install lint dev live clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cible demo

test: $(STAMP)
	$(BIN)/pytest -q

# The warehouse models on Spark (pyspark, Java 17+) against DuckDB; CI runs it beside `test`.
test-spark: $(STAMP)
	$(BIN)/pytest -q -n 0 -m spark

# SQL layout (dbt_project/.sqlfluff); the dbt templater compiles against an empty scratch warehouse.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && CIBLE_WAREHOUSE="$$(mktemp -d)/lint.duckdb" ../$(BIN)/sqlfluff lint models tests

dev: $(STAMP)
	$(BIN)/cible dev

# Live segments on the demo warehouse (after `make demo`): a private RabbitMQ and Redis, the
# collector, look-up API and workers, demo events replayed at RATE per second (docs/live.md).
RATE ?= 200
SECONDS ?= 60
live: $(STAMP)
	$(BIN)/cible live demo --rate $(RATE) --seconds $(SECONDS)

clean:
	rm -rf data .dagster dbt_project/target dbt_project/logs
