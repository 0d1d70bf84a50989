# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test venv dev-venv lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed
dev-venv: $(VENV)/.installed-dev

## run: install, migrate, then indexer + API in one process on the embedded defaults
run: venv
	$(BIN)/orbitpay up

## test: install with the dev extras and run the whole test suite
test: dev-venv
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: dev-venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: dev-venv
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: dev-venv
	$(BIN)/python bench/devnet.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
